// NetLoop: libuv loop ownership and the once-per-iteration prepare phase.
#include "net/net_loop.h"

#include <uv.h>

#include <cassert>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace xd::net {
namespace {

// A hook may schedule others (an on_writable handler writing elsewhere) while
// the phase runs; they run in the same phase so the loop does not block with
// output pending. The bound keeps a pathological ping-pong from starving I/O.
constexpr int kMaxPreparePasses = 16;

}  // namespace

NetLoop::NetLoop() {
  std::signal(SIGPIPE, SIG_IGN);
  loop_ = new uv_loop_t;
  if (int rc = uv_loop_init(loop_); rc != 0) {
    std::fprintf(stderr, "xmppd: uv_loop_init failed: %s\n", uv_strerror(rc));
    std::abort();
  }
  prepare_ = new uv_prepare_t;
  uv_prepare_init(loop_, prepare_);
  prepare_->data = this;
  uv_prepare_start(prepare_, &NetLoop::on_prepare);
  // The prepare hook only holds the loop open while work is scheduled.
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
}

NetLoop::~NetLoop() {
  const bool ok = close();
  assert(ok && "NetLoop destroyed with handles still open");
  (void)ok;
  if (close_ok_) delete loop_;
  // When the loop could not close, its memory is deliberately leaked: open
  // handles still point into it.
}

void NetLoop::run() { uv_run(loop_, UV_RUN_DEFAULT); }
bool NetLoop::run_once() { return uv_run(loop_, UV_RUN_ONCE) != 0; }
bool NetLoop::run_nowait() { return uv_run(loop_, UV_RUN_NOWAIT) != 0; }
void NetLoop::stop() { uv_stop(loop_); }
std::uint64_t NetLoop::now_ms() const { return uv_now(loop_); }

bool NetLoop::close() {
  if (closed_) return close_ok_;
  closed_ = true;
  if (prepare_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(prepare_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
    prepare_ = nullptr;
  }
  // Close callbacks run at the end of an iteration; a few non-blocking
  // iterations drain them without ever waiting on a handle someone leaked.
  for (int i = 0; i < 16 && uv_loop_alive(loop_); ++i) uv_run(loop_, UV_RUN_NOWAIT);
  uv_run(loop_, UV_RUN_NOWAIT);
  close_ok_ = uv_loop_close(loop_) == 0;
  return close_ok_;
}

std::span<char> NetLoop::read_buffer() {
  if (!read_buffer_) read_buffer_ = std::make_unique<char[]>(kReadBufferSize);
  return {read_buffer_.get(), kReadBufferSize};
}

std::span<char> NetLoop::plaintext_buffer() {
  if (!plaintext_buffer_) plaintext_buffer_ = std::make_unique<char[]>(kPlaintextBufferSize);
  return {plaintext_buffer_.get(), kPlaintextBufferSize};
}

void NetLoop::HookList::push_back(PrepareHook& hook) {
  hook.list_ = this;
  hook.next_ = nullptr;
  hook.prev_ = tail;
  if (tail != nullptr) {
    tail->next_ = &hook;
  } else {
    head = &hook;
  }
  tail = &hook;
}

void NetLoop::HookList::remove(PrepareHook& hook) {
  assert(hook.list_ == this);
  if (hook.prev_ != nullptr) {
    hook.prev_->next_ = hook.next_;
  } else {
    head = hook.next_;
  }
  if (hook.next_ != nullptr) {
    hook.next_->prev_ = hook.prev_;
  } else {
    tail = hook.prev_;
  }
  hook.prev_ = hook.next_ = nullptr;
  hook.list_ = nullptr;
}

NetLoop::PrepareHook* NetLoop::HookList::pop_front() {
  PrepareHook* h = head;
  if (h != nullptr) remove(*h);
  return h;
}

void NetLoop::schedule(PrepareHook& hook) {
  if (hook.list_ != nullptr) return;
  pending_.push_back(hook);
  update_prepare_ref();
}

void NetLoop::unschedule(PrepareHook& hook) {
  if (hook.list_ == nullptr) return;
  static_cast<HookList*>(hook.list_)->remove(hook);
  update_prepare_ref();
}

void NetLoop::update_prepare_ref() {
  if (prepare_ == nullptr) return;
  auto* h = reinterpret_cast<uv_handle_t*>(prepare_);
  if (pending_.head != nullptr || running_.head != nullptr) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void NetLoop::on_prepare(uv_prepare_s* handle) {
  static_cast<NetLoop*>(handle->data)->run_prepare_hooks();
}

void NetLoop::run_prepare_hooks() {
  ++iteration_;
  for (int pass = 0; pass < kMaxPreparePasses && pending_.head != nullptr; ++pass) {
    // Hooks scheduled while a pass runs go to pending_ and form the next
    // pass, so a pass always ends. A hook removed while waiting in running_
    // (its connection was destroyed by another hook's handler) is simply
    // unlinked from running_.
    while (PrepareHook* h = pending_.pop_front()) running_.push_back(*h);
    while (PrepareHook* h = running_.pop_front()) h->on_loop_prepare();
  }
  update_prepare_ref();
}

}  // namespace xd::net
