// Timer: one-shot, repeating, stop, destruction inside the callback, and a
// loop that always ends empty.
#include "net/timer.h"

#include <doctest/doctest.h>

#include <memory>

#include "net/net_loop.h"
#include "tests/unit/net/net_test_support.h"

namespace xd::net {
namespace {

using test::run_until;

TEST_SUITE("net.timer") {
  TEST_CASE("a one-shot timer fires once") {
    NetLoop loop;
    int fired = 0;
    {
      Timer t(loop, [&] { ++fired; });
      CHECK_FALSE(t.active());
      t.start(1);
      CHECK(t.active());
      loop.run();  // returns when the timer is done: nothing else is alive
      CHECK(fired == 1);
      CHECK_FALSE(t.active());
    }
    CHECK(loop.close());
  }

  TEST_CASE("a stopped timer never fires; restart replaces the deadline") {
    NetLoop loop;
    int a = 0;
    int b = 0;
    {
      Timer ta(loop, [&] { ++a; });
      Timer tb(loop, [&] { ++b; });
      ta.start(1);
      ta.stop();
      tb.start(100000);
      tb.start(1);
      REQUIRE(run_until(loop, [&] { return b == 1; }));
      for (int i = 0; i < 3; ++i) loop.run_nowait();
      CHECK(a == 0);
      CHECK(b == 1);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a repeating timer repeats until stopped from its own callback") {
    NetLoop loop;
    int fired = 0;
    {
      std::unique_ptr<Timer> t;
      t = std::make_unique<Timer>(loop, [&] {
        if (++fired == 3) t->stop();
      });
      CHECK_FALSE(t->again());  // never started as repeating
      t->start_repeating(1, 1);
      CHECK(t->again());
      loop.run();
      CHECK(fired == 3);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a timer may destroy itself inside its callback") {
    NetLoop loop;
    int fired = 0;
    std::unique_ptr<Timer> t;
    t = std::make_unique<Timer>(loop, [&] {
      ++fired;
      t.reset();
    });
    t->start(1);
    loop.run();
    CHECK(fired == 1);
    CHECK_FALSE(t);
    CHECK(loop.close());
  }

  TEST_CASE("an unref'd timer does not keep the loop alive") {
    NetLoop loop;
    int fired = 0;
    {
      Timer t(loop, [&] { ++fired; });
      t.start(60000);
      t.unref();
      loop.run();  // returns at once
      CHECK(fired == 0);
      t.ref();
      CHECK(t.active());
    }
    CHECK(loop.close());
  }
}

}  // namespace
}  // namespace xd::net
