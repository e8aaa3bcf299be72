// LoopMailbox: the one way another thread hands work to a NetLoop. Any
// thread posts a closure; the loop thread runs every posted closure, in
// posting order, from a uv_async_t callback (libuv coalesces wake-ups, so a
// burst of posts costs one wake-up). Used by the cluster link, whose NATS
// client delivers messages on its own threads (architecture.md §6). Never
// runs a closure on the posting thread, never drops one while it lives; a
// closure posted after destruction began is never run.
#pragma once

#include <functional>
#include <mutex>
#include <vector>

struct uv_async_s;

namespace xd::net {

class NetLoop;

class LoopMailbox {
 public:
  // Must be created on |loop|'s thread. It does not keep the loop alive.
  explicit LoopMailbox(NetLoop& loop);
  // On the loop thread. Closures not yet run are destroyed without running;
  // the handle is released in its close callback.
  ~LoopMailbox();
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  // Thread-safe. |fn| runs on the loop thread soon.
  void post(std::function<void()> fn);
  // Runs what is posted now, on the loop thread (tests, shutdown drains).
  void drain();
  // Destroys what is posted now without running it (shutdown, once the
  // posting threads are stopping).
  void discard();

 private:
  struct Shared;
  static void on_async(uv_async_s* handle);

  uv_async_s* handle_;
  Shared* shared_;  // owned by the handle; outlives us until the close callback
};

}  // namespace xd::net
