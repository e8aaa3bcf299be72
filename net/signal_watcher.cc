#include "net/signal_watcher.h"

#include <uv.h>

#include <cstdlib>

#include "net/net_loop.h"

namespace xd::net {

SignalWatcher::SignalWatcher(NetLoop& loop, int signum, std::function<void()> callback)
    : handle_(new uv_signal_t), callback_(std::move(callback)) {
  if (uv_signal_init(loop.uv_loop(), handle_) != 0) std::abort();
  handle_->data = this;
  if (uv_signal_start(handle_, &SignalWatcher::on_signal, signum) != 0) std::abort();
}

SignalWatcher::~SignalWatcher() {
  handle_->data = nullptr;
  uv_signal_stop(handle_);
  // The handle's memory is freed only once libuv has closed it.
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_signal_t*>(h); });
}

void SignalWatcher::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(handle_)); }

void SignalWatcher::on_signal(uv_signal_s* handle, int) {
  auto* self = static_cast<SignalWatcher*>(handle->data);
  if (self && self->callback_) self->callback_();
}

}  // namespace xd::net
