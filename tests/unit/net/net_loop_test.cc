// NetLoop's prepare phase: hooks run once per iteration, may reschedule
// each other, may unschedule hooks still waiting, and keep the loop alive
// only while scheduled.
#include "net/net_loop.h"

#include <doctest/doctest.h>

#include <functional>
#include <vector>

namespace xd::net {
namespace {

struct Hook : NetLoop::PrepareHook {
  NetLoop& loop;
  int runs = 0;
  std::function<void()> body;
  explicit Hook(NetLoop& l) : loop(l) {}
  ~Hook() override { loop.unschedule(*this); }
  void on_loop_prepare() override {
    ++runs;
    if (body) body();
  }
};

TEST_SUITE("net.net_loop") {
  TEST_CASE(
      "a scheduled hook runs once, in the next iteration, and keeps the loop alive until then") {
    NetLoop loop;
    {
      Hook a(loop);
      loop.schedule(a);
      loop.schedule(a);  // idempotent
      CHECK(a.runs == 0);
      loop.run();  // alive only because of the hook
      CHECK(a.runs == 1);
      loop.run_nowait();
      CHECK(a.runs == 1);
    }
    CHECK(loop.close());
  }

  TEST_CASE("hooks scheduled while the phase runs run in the same phase; unschedule is safe") {
    NetLoop loop;
    {
      Hook a(loop), b(loop), c(loop);
      a.body = [&] {
        loop.unschedule(b);  // still waiting in this pass: never runs
        loop.schedule(c);    // scheduled during the phase: runs in it
      };
      loop.schedule(a);
      loop.schedule(b);
      const auto it = loop.iteration();
      loop.run_nowait();
      CHECK(loop.iteration() == it + 1);
      CHECK(a.runs == 1);
      CHECK(b.runs == 0);
      CHECK(c.runs == 1);
    }
    CHECK(loop.close());
  }

  TEST_CASE("a hook that keeps rescheduling itself cannot starve the loop") {
    NetLoop loop;
    {
      Hook a(loop);
      a.body = [&] { loop.schedule(a); };
      loop.schedule(a);
      loop.run_nowait();
      CHECK(a.runs == 16);  // bounded passes per phase
      loop.unschedule(a);
    }
    CHECK(loop.close());
  }

  TEST_CASE("shared scratch buffers have their documented sizes") {
    NetLoop loop;
    CHECK(loop.read_buffer().size() == NetLoop::kReadBufferSize);
    CHECK(loop.plaintext_buffer().size() == NetLoop::kPlaintextBufferSize);
    CHECK(loop.read_buffer().data() != loop.plaintext_buffer().data());
    CHECK(loop.close());
    CHECK(loop.close());  // idempotent
  }
}

}  // namespace
}  // namespace xd::net
