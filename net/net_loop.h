// NetLoop: the event loop every net/ object runs on. It owns the libuv loop,
// the one prepare hook that flushes all dirty connections once per loop
// iteration (conventions.md §8, Redis handleClientsWithPendingWrites), and
// the scratch buffers that reads are decoded into, so that an idle connection
// keeps no read buffer of its own. Single-threaded: every method must be
// called on the loop's thread. Never exposes libuv types above net/ except
// the opaque uv_loop() accessor for net/ implementation files and tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

struct uv_loop_s;
struct uv_prepare_s;

namespace xd::net {

class NetLoop {
 public:
  // Work that must run after the current callbacks have unwound and before
  // the loop next blocks for I/O: flushing a connection's output, resuming a
  // read paused for fairness, finishing a deferred close. Implemented by
  // Connection; a hook is scheduled at most once at a time.
  class PrepareHook {
   public:
    PrepareHook() = default;
    PrepareHook(const PrepareHook&) = delete;
    PrepareHook& operator=(const PrepareHook&) = delete;

    // Called from the loop's prepare phase with no connection callback on
    // the stack. May call handlers, and may schedule any hook (including
    // itself: it then runs again in the same phase, bounded).
    virtual void on_loop_prepare() = 0;

   protected:
    // The implementer must call NetLoop::unschedule() before it is destroyed.
    virtual ~PrepareHook() = default;

   private:
    friend class NetLoop;
    PrepareHook* prev_ = nullptr;
    PrepareHook* next_ = nullptr;
    void* list_ = nullptr;  // the HookList it is linked into, or null
  };

  // Creates and initialises a libuv loop, and sets SIGPIPE to ignored for the
  // process (a write to a peer that reset must be an EPIPE value, not a
  // signal). Aborts if libuv cannot create the loop (an environment failure).
  NetLoop();
  // Calls close() if it was not called; asserts it succeeded. Every object
  // built on this loop must have been destroyed before.
  ~NetLoop();
  NetLoop(const NetLoop&) = delete;
  NetLoop& operator=(const NetLoop&) = delete;

  // Runs until stop() or until nothing keeps the loop alive.
  void run();
  // Runs one iteration, blocking for I/O if nothing is ready. Returns true
  // while something keeps the loop alive.
  bool run_once();
  // Runs one iteration without blocking.
  bool run_nowait();
  // Makes run() return after the current iteration.
  void stop();
  // The loop's cached clock in milliseconds (uv_now): updated once per
  // iteration, monotonic, arbitrary origin.
  std::uint64_t now_ms() const;
  // Loop iterations so far (counted in the prepare phase).
  std::uint64_t iteration() const { return iteration_; }

  // Closes the loop's own handles, runs the loop until their close callbacks
  // (and any others already pending) have run, then uv_loop_close(). Returns
  // true when the loop closed, i.e. no handle was left open. Idempotent.
  bool close();

  // --- For net/ implementation files and tests. ---------------------------

  uv_loop_s* uv_loop() const { return loop_; }
  // The shared read buffer handed to libuv's alloc callback. Valid until the
  // read callback returns; a reader must consume it synchronously.
  std::span<char> read_buffer();
  // Scratch space a TLS transport decrypts into, distinct from read_buffer()
  // (which holds the ciphertext at that time).
  std::span<char> plaintext_buffer();

  // Runs |hook| in the next prepare phase. Idempotent while scheduled.
  void schedule(PrepareHook& hook);
  // Removes |hook| if it is scheduled.
  void unschedule(PrepareHook& hook);

  static constexpr std::size_t kReadBufferSize = 64 * 1024;
  static constexpr std::size_t kPlaintextBufferSize = 16 * 1024;

 private:
  struct HookList {
    PrepareHook* head = nullptr;
    PrepareHook* tail = nullptr;
    void push_back(PrepareHook& hook);
    void remove(PrepareHook& hook);
    PrepareHook* pop_front();
  };

  static void on_prepare(uv_prepare_s* handle);
  void run_prepare_hooks();
  void update_prepare_ref();

  uv_loop_s* loop_ = nullptr;
  uv_prepare_s* prepare_ = nullptr;
  HookList pending_;  // scheduled for the next pass
  HookList running_;  // the pass being run
  std::uint64_t iteration_ = 0;
  std::unique_ptr<char[]> read_buffer_;
  std::unique_ptr<char[]> plaintext_buffer_;
  bool closed_ = false;
  bool close_ok_ = false;
};

}  // namespace xd::net
