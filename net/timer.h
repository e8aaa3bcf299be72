// Timer: a one-shot or repeating timer on a NetLoop, the only way code above
// net/ measures time on the loop (negotiation deadlines, idle pings, flush
// timers). It owns one uv_timer_t whose memory is freed in its close
// callback, so a Timer may be destroyed at any time, including from inside
// its own callback. Never blocks and never fires after stop() or destruction.
#pragma once

#include <cstdint>
#include <functional>

struct uv_timer_s;

namespace xd::net {

class NetLoop;

class Timer {
 public:
  // Creates a stopped timer on |loop| that calls |callback| when it fires.
  // |loop| must outlive the Timer. The callback runs on the loop thread from
  // a libuv timer callback; it may start, stop or destroy this Timer (if it
  // destroys it, destruction must be its last use of captured state).
  Timer(NetLoop& loop, std::function<void()> callback);
  // Stops the timer and closes the handle; the handle memory is released in
  // the close callback, after the destructor returns.
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)starts as a one-shot timer that fires |timeout_ms| after the loop's
  // current time (NetLoop::now_ms()). A running timer is restarted.
  void start(std::uint64_t timeout_ms);
  // (Re)starts to fire after |timeout_ms| and then every |repeat_ms| (> 0).
  void start_repeating(std::uint64_t timeout_ms, std::uint64_t repeat_ms);
  // Stops the timer; a stopped timer never fires. Idempotent.
  void stop();
  // Restarts a repeating timer from now with its repeat interval; returns
  // false (and does nothing) if it was never started as repeating.
  bool again();
  // True between start*() and firing (one-shot), stop() or destruction.
  bool active() const;
  // Timers keep the loop alive by default; unref() makes this one not count,
  // ref() undoes it.
  void unref();
  void ref();

 private:
  static void on_timer(uv_timer_s* handle);

  uv_timer_s* handle_;
  std::function<void()> callback_;
};

}  // namespace xd::net
