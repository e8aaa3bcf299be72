// Timer: uv_timer_t with single ownership and close-callback release.
#include "net/timer.h"

#include <uv.h>

#include <cassert>
#include <utility>

#include "net/net_loop.h"

namespace xd::net {

Timer::Timer(NetLoop& loop, std::function<void()> callback)
    : handle_(new uv_timer_t), callback_(std::move(callback)) {
  uv_timer_init(loop.uv_loop(), handle_);
  handle_->data = this;
}

Timer::~Timer() {
  // Detach first: the handle may outlive us until its close callback runs.
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Timer::start(std::uint64_t timeout_ms) {
  uv_timer_start(handle_, &Timer::on_timer, timeout_ms, 0);
}

void Timer::start_repeating(std::uint64_t timeout_ms, std::uint64_t repeat_ms) {
  assert(repeat_ms > 0);
  uv_timer_start(handle_, &Timer::on_timer, timeout_ms, repeat_ms);
}

void Timer::stop() { uv_timer_stop(handle_); }

bool Timer::again() { return uv_timer_again(handle_) == 0; }

bool Timer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_)) != 0;
}

void Timer::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(handle_)); }
void Timer::ref() { uv_ref(reinterpret_cast<uv_handle_t*>(handle_)); }

void Timer::on_timer(uv_timer_s* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (self == nullptr) return;
  // Invoke a copy-free reference; if the callback destroys the Timer, the
  // std::function is destroyed while running, which is safe as long as the
  // callable does not touch its own captures afterwards (documented above).
  self->callback_();
}

}  // namespace xd::net
