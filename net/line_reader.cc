// LineReader: uv_tty_t / uv_pipe_t reading with single ownership and
// close-callback release; regular files are read once, up front.
#include "net/line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <utility>

namespace xd::net {

struct LineReader::Handle {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tty_t tty;
    uv_pipe_t pipe;
  } u;
  LineReader* owner = nullptr;
  bool started = false;
};

LineReader::LineReader(NetLoop& loop, std::function<void(std::string_view)> on_line,
                       std::function<void(NetStatus)> on_end, std::size_t max_line)
    : loop_(&loop),
      on_line_(std::move(on_line)),
      on_end_(std::move(on_end)),
      max_line_(max_line == 0 ? 1 : max_line) {}

LineReader::~LineReader() {
  *alive_ = false;
  if (handle_ != nullptr) {
    handle_->owner = nullptr;
    if (handle_->started) uv_read_stop(&handle_->u.stream);
    uv_close(&handle_->u.handle, [](uv_handle_t* h) {
      delete reinterpret_cast<Handle*>(reinterpret_cast<char*>(h) - offsetof(Handle, u));
    });
    handle_ = nullptr;
  }
}

bool LineReader::start(int fd, NetStatus& status) {
  const uv_handle_type type = uv_guess_handle(fd);
  if (type == UV_FILE || type == UV_UNKNOWN_HANDLE) {
    // A regular file (or /dev/null): libuv streams cannot read it, and a
    // local file never blocks for long, so read it now.
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        status = net_fail(NetError::kReadFailed, "read standard input");
        return false;
      }
      if (n == 0) break;
      if (file_data_.size() + static_cast<std::size_t>(n) > kMaxFileInput) {
        // A character device such as /dev/zero looks like a file too.
        status = net_fail(NetError::kReadFailed, "input file larger than 64 MiB");
        file_data_.clear();
        return false;
      }
      file_data_.append(buf, static_cast<std::size_t>(n));
    }
    drain_file();
    return true;
  }
  // libuv closes a stream's descriptor (when above 2) as the handle
  // closes; it gets a duplicate, so the caller's |fd| stays open.
  const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) {
    status = net_fail_uv(NetError::kReadFailed, uv_translate_sys_error(errno));
    return false;
  }
  auto* h = new Handle;
  h->owner = this;
  int rc = 0;
  if (type == UV_TTY) {
    rc = uv_tty_init(loop_->uv_loop(), &h->u.tty, own, 0);
  } else {
    rc = uv_pipe_init(loop_->uv_loop(), &h->u.pipe, 0);
    if (rc == 0) {
      handle_ = h;  // initialised: from here it must be closed, not deleted
      rc = uv_pipe_open(&h->u.pipe, own);
      if (rc != 0) {
        ::close(own);  // a failed open leaves the descriptor with us
        status = net_fail_uv(NetError::kReadFailed, rc);
        return false;
      }
    }
  }
  if (rc != 0) {
    ::close(own);
    if (handle_ == nullptr) delete h;
    status = net_fail_uv(NetError::kReadFailed, rc);
    return false;
  }
  // uv_tty_init may reopen the terminal and read from that descriptor
  // instead; the duplicate is then ours to close.
  uv_os_fd_t used = -1;
  if (uv_fileno(&h->u.handle, &used) != 0 || used != own) ::close(own);
  handle_ = h;
  h->u.handle.data = h;
  rc = uv_read_start(
      &h->u.stream,
      [](uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
        auto* self = static_cast<Handle*>(handle->data)->owner;
        if (self == nullptr) {
          *buf = uv_buf_init(nullptr, 0);
          return;
        }
        std::span<char> scratch = self->loop_->read_buffer();
        *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* self = static_cast<Handle*>(stream->data)->owner;
        if (self == nullptr) return;
        if (n > 0) {
          self->on_data(std::string_view(buf->base, static_cast<std::size_t>(n)));
        } else if (n == UV_EOF) {
          self->on_eof(net_ok());
        } else if (n < 0) {
          self->on_eof(net_fail_uv(NetError::kReadFailed, static_cast<int>(n)));
        }
      });
  if (rc != 0) {
    status = net_fail_uv(NetError::kReadFailed, rc);
    return false;
  }
  h->started = true;
  return true;
}

void LineReader::drain_file() {
  // One line per loop iteration would be slow for a long file; a batch of
  // lines per iteration keeps the loop responsive either way.
  std::weak_ptr<bool> alive = alive_;
  // A repeating 1 ms timer delivers one batch per iteration and closes
  // itself when the data is delivered or the reader is gone.
  uv_timer_t* t = new uv_timer_t;
  uv_timer_init(loop_->uv_loop(), t);
  struct Ctx {
    LineReader* self;
    std::weak_ptr<bool> alive;
  };
  t->data = new Ctx{this, alive};
  uv_timer_start(
      t,
      [](uv_timer_t* timer_handle) {
        auto* ctx = static_cast<Ctx*>(timer_handle->data);
        std::shared_ptr<bool> live = ctx->alive.lock();
        LineReader* self = live && *live ? ctx->self : nullptr;
        bool done = true;
        if (self != nullptr) {
          const std::size_t batch_end = std::min(self->file_data_.size(), self->file_pos_ + 65536);
          std::string_view chunk(self->file_data_.data() + self->file_pos_,
                                 batch_end - self->file_pos_);
          self->file_pos_ = batch_end;
          std::weak_ptr<bool> still = ctx->alive;
          self->on_data(chunk);
          live = still.lock();
          if (live && *live) {
            if (self->file_pos_ < self->file_data_.size()) {
              done = false;
            } else {
              self->on_eof(net_ok());
            }
          }
        }
        if (done) {
          uv_timer_stop(timer_handle);
          delete ctx;
          uv_close(reinterpret_cast<uv_handle_t*>(timer_handle),
                   [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
        }
      },
      0, 1);
}

void LineReader::on_data(std::string_view data) {
  std::weak_ptr<bool> alive = alive_;
  auto emit = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    on_line_(line);
    std::shared_ptr<bool> live = alive.lock();
    return live && *live;
  };
  while (!data.empty()) {
    const std::size_t nl = data.find('\n');
    const std::size_t take = nl == std::string_view::npos ? data.size() : nl;
    const std::size_t room = max_line_ - partial_.size();
    if (take > room) {
      // Over the limit: a piece of exactly max_line octets goes on its own.
      partial_.append(data.substr(0, room));
      data.remove_prefix(room);
      if (!emit(std::exchange(partial_, std::string()))) return;
      continue;
    }
    partial_.append(data.substr(0, take));
    if (nl == std::string_view::npos) return;
    data.remove_prefix(nl + 1);
    if (!emit(std::exchange(partial_, std::string()))) return;
  }
}

void LineReader::on_eof(NetStatus status) {
  if (ended_) return;
  ended_ = true;
  std::weak_ptr<bool> alive = alive_;
  if (!partial_.empty()) {
    std::string line = std::move(partial_);
    partial_.clear();
    if (line.back() == '\r') line.pop_back();
    on_line_(line);
    if (alive.expired() || !*alive.lock()) return;
  }
  if (handle_ != nullptr && handle_->started) {
    uv_read_stop(&handle_->u.stream);
    handle_->started = false;
  }
  on_end_(std::move(status));
}

}  // namespace xd::net
