// LoopMailbox (net/loop_mailbox.h): closures posted from other threads run
// on the loop thread in posting order; discard() and destruction drop what
// is pending without running it; the loop still closes empty.
#include "net/loop_mailbox.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "net/net_loop.h"
#include "net/timer.h"

namespace xd::net {
namespace {

TEST_CASE("loop_mailbox: posts from two threads run on the loop thread, each thread's in order") {
  NetLoop loop;
  auto box = std::make_unique<LoopMailbox>(loop);
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<int> seen;
  std::atomic<int> wrong_thread{0};
  constexpr int kEach = 2000;
  auto poster = [&](int base) {
    for (int i = 0; i < kEach; ++i) {
      box->post([&, v = base + i] {
        if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
        seen.push_back(v);
      });
    }
  };
  std::thread a(poster, 0), b(poster, 100000);
  a.join();
  b.join();
  // The mailbox does not keep the loop alive: a timer bounds the wait.
  auto guard = std::make_unique<Timer>(loop, [&] { loop.stop(); });
  guard->start(10000);
  while (seen.size() < 2 * kEach) {
    if (!loop.run_once()) break;
  }
  guard.reset();
  REQUIRE(seen.size() == 2 * kEach);
  CHECK(wrong_thread == 0);
  int last_a = -1, last_b = 99999;
  for (int v : seen) {
    if (v < 100000) {
      CHECK(v == last_a + 1);
      last_a = v;
    } else {
      CHECK(v == last_b + 1);
      last_b = v;
    }
  }
  box.reset();
  CHECK(loop.close());
}

TEST_CASE("loop_mailbox: discard() and destruction drop pending closures unrun") {
  NetLoop loop;
  int ran = 0;
  auto token = std::make_shared<int>(7);
  {
    LoopMailbox box(loop);
    box.post([&, token] { ++ran; });
    box.discard();
    CHECK(token.use_count() == 1);  // the closure (and what it held) is gone
    box.post([&, token] { ++ran; });
    box.drain();
    CHECK(ran == 1);
    box.post([&, token] { ++ran; });
  }
  CHECK(token.use_count() == 1);
  loop.run_nowait();
  CHECK(ran == 1);
  CHECK(loop.close());
}

}  // namespace
}  // namespace xd::net
