// Watches a POSIX signal (SIGTERM, SIGINT) on the loop and calls back on
// the loop thread, never from the signal handler itself. Owns its
// uv_signal_t; the memory is freed in the close callback.
#pragma once

#include <functional>

struct uv_signal_s;

namespace xd::net {

class NetLoop;

class SignalWatcher {
 public:
  // Starts watching |signum|; |callback| runs on the loop for each delivery.
  SignalWatcher(NetLoop& loop, int signum, std::function<void()> callback);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // A watcher that does not keep the loop alive on its own.
  void unref();

 private:
  static void on_signal(uv_signal_s* handle, int signum);
  uv_signal_s* handle_;
  std::function<void()> callback_;
};

}  // namespace xd::net
