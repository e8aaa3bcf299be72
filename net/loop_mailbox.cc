// LoopMailbox: a mutex-guarded vector swapped out under the lock and run
// outside it, woken by uv_async_send.
#include "net/loop_mailbox.h"

#include <uv.h>

#include <utility>

#include "net/net_loop.h"

namespace xd::net {

struct LoopMailbox::Shared {
  std::mutex mu;
  std::vector<std::function<void()>> inbox;
  bool closed = false;  // destruction began: posts are dropped
};

LoopMailbox::LoopMailbox(NetLoop& loop) : handle_(new uv_async_t), shared_(new Shared) {
  uv_async_init(loop.uv_loop(), handle_, &LoopMailbox::on_async);
  handle_->data = shared_;
  uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
}

LoopMailbox::~LoopMailbox() {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->closed = true;
    shared_->inbox.clear();
  }
  // A poster that read the handle before |closed| was set may still call
  // uv_async_send: the handle and Shared live until the close callback,
  // and the posting threads are stopped before the loop closes.
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) {
    delete static_cast<Shared*>(h->data);
    delete reinterpret_cast<uv_async_t*>(h);
  });
}

void LoopMailbox::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (shared_->closed) return;
    shared_->inbox.push_back(std::move(fn));
  }
  uv_async_send(handle_);
}

void LoopMailbox::drain() { on_async(handle_); }

void LoopMailbox::discard() {
  std::vector<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    dropped.swap(shared_->inbox);
  }
}

void LoopMailbox::on_async(uv_async_s* handle) {
  auto* shared = static_cast<Shared*>(handle->data);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    if (shared->closed) return;
    batch.swap(shared->inbox);
  }
  for (auto& fn : batch) fn();
}

}  // namespace xd::net
