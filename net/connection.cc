// Connection: libuv TCP stream + Transport + output queue + read limits.
#include "net/connection.h"

#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <utility>

#include "net/address.h"
#include "net/plain_transport.h"
#include "net/timer.h"
#include "net/tls_context.h"
#include "net/tls_transport.h"

namespace xd::net {

// Marks "inside a callback into the owner". A close requested while any is
// on the stack is carried out when the outermost one unwinds (conventions.md
// §6, Redis CONN_FLAG_CLOSE_SCHEDULED).
struct Connection::CallbackScope {
  explicit CallbackScope(Connection& c) : conn(c) { ++conn.callback_depth_; }
  ~CallbackScope() {
    if (--conn.callback_depth_ == 0) conn.after_callbacks();
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
  Connection& conn;
};

// A write libuv could not finish at once. It owns its bytes until the write
// callback, which may run after the Connection is gone (then it only frees).
struct Connection::WriteReq {
  uv_write_t req;
  std::string data;
};

namespace {

// Smallest buffer handed to libuv while the rate limit is nearly exhausted:
// reading less would cost more system calls than it saves.
constexpr std::size_t kMinRateLimitedRead = 4096;

Connection* owner_of(const uv_handle_t* handle) { return static_cast<Connection*>(handle->data); }

void delete_tcp(uv_handle_t* handle) { delete reinterpret_cast<uv_tcp_t*>(handle); }

// uv_buf_init() takes an unsigned int; on Unix uv_buf_t.len is a size_t.
uv_buf_t make_buf(char* base, std::size_t len) {
  uv_buf_t buf;
  buf.base = base;
  buf.len = len;
  return buf;
}

}  // namespace

Connection::Connection(NetLoop& loop, ConnectionHandler& handler, const ConnectionOptions& options)
    : loop_(&loop),
      handler_(&handler),
      transport_(std::make_unique<PlainTransport>()),
      options_(options) {
  if (options_.read_rate.bytes_per_second > 0) {
    tokens_ = static_cast<double>(options_.read_rate.bytes_per_second) *
              static_cast<double>(options_.read_rate.burst_ms) / 1000.0;
    tokens_at_ms_ = loop.now_ms();
  }
}

std::unique_ptr<Connection> Connection::adopt(NetLoop& loop, AcceptedSocket&& socket,
                                              ConnectionHandler& handler,
                                              const ConnectionOptions& options, NetStatus& error) {
  if (!socket.valid()) {
    error = net_fail(NetError::kInvalidState, "no socket to adopt");
    return nullptr;
  }
  std::unique_ptr<Connection> c(new Connection(loop, handler, options));
  c->peer_address_ = socket.peer_address();
  c->tcp_ = new uv_tcp_t;
  uv_tcp_init(loop.uv_loop(), c->tcp_);
  c->tcp_->data = c.get();
  const int fd = socket.release();
  if (int rc = uv_tcp_open(c->tcp_, fd); rc != 0) {
    ::close(fd);  // libuv did not take it
    error = net_fail_uv(NetError::kSocketFailed, rc);
    return nullptr;  // the destructor closes the (fd-less) handle silently
  }
  // We batch output ourselves (one flush per iteration), so Nagle would only
  // add latency to stanzas.
  uv_tcp_nodelay(c->tcp_, 1);
  c->state_ = State::kOpen;
  c->update_reading();
  return c;
}

std::unique_ptr<Connection> Connection::connect(NetLoop& loop, std::string_view host_port,
                                                ConnectionHandler& handler,
                                                const ConnectionOptions& options,
                                                NetStatus& error) {
  HostPort hp;
  if (!parse_host_port(host_port, hp)) {
    error = net_fail(NetError::kInvalidAddress, std::string(host_port));
    return nullptr;
  }
  sockaddr_storage addr;
  if (!to_sockaddr(hp, addr)) {
    error = net_fail(NetError::kResolveFailed, "not an IP literal: " + hp.host);
    return nullptr;
  }
  std::unique_ptr<Connection> c(new Connection(loop, handler, options));
  c->peer_address_ = format_address(reinterpret_cast<const sockaddr*>(&addr));
  c->tcp_ = new uv_tcp_t;
  uv_tcp_init(loop.uv_loop(), c->tcp_);
  c->tcp_->data = c.get();
  auto* req = new uv_connect_t;
  if (int rc = uv_tcp_connect(req, c->tcp_, reinterpret_cast<const sockaddr*>(&addr),
                              &Connection::on_connect_cb);
      rc != 0) {
    delete req;  // libuv: an error return means the callback never runs
    error = net_fail_uv(NetError::kConnectFailed, rc);
    return nullptr;
  }
  uv_tcp_nodelay(c->tcp_, 1);
  c->state_ = State::kConnecting;
  return c;
}

Connection::~Connection() {
  assert(callback_depth_ == 0 && "Connection destroyed from inside its own handler call");
  loop_->unschedule(*this);
  if (tcp_ != nullptr) {
    tcp_->data = nullptr;  // pending callbacks now only free their memory
    auto* h = reinterpret_cast<uv_handle_t*>(tcp_);
    if (state_ == State::kClosing) {
      // uv_close already issued; on_close_cb sees data == nullptr and frees.
    } else {
      uv_close(h, &delete_tcp);
    }
    tcp_ = nullptr;
  }
}

uv_stream_s* Connection::stream() const { return reinterpret_cast<uv_stream_t*>(tcp_); }

bool Connection::is_open() const {
  return (state_ == State::kOpen || state_ == State::kConnecting) && !close_pending_ && !draining_;
}

std::size_t Connection::queued_bytes() const {
  std::size_t n = out_.size() + wire_.size();
  if (tcp_ != nullptr && state_ != State::kClosed) n += uv_stream_get_write_queue_size(stream());
  return n;
}

std::size_t Connection::buffer_capacity_for_test() const {
  // std::string's inline (SSO) capacity is not heap memory.
  const std::size_t sso = std::string().capacity();
  auto heap = [sso](const std::string& s) { return s.capacity() > sso ? s.capacity() : 0; };
  return heap(out_) + heap(wire_) + marks_.capacity() * sizeof(WireMark);
}

// --- Writing -------------------------------------------------------------

bool Connection::write(std::string_view plaintext) {
  if (!is_open()) return false;
  out_.append(plaintext);
  write_mark_ += plaintext.size();
  loop_->schedule(*this);
  if (queued_bytes() > options_.write_queue_cap) {
    if (!over_cap_) {
      over_cap_ = true;
      // conventions.md §8: stop reading from a peer whose queue is over its
      // cap, so it cannot make us produce more for it (CVE-2010-0305 shape).
      set_paused(kPauseWriteCap, true);
    }
    return false;
  }
  return !over_cap_;
}

void Connection::on_loop_prepare() {
  CallbackScope scope(*this);
  if (resume_pending_) {
    resume_pending_ = false;
    set_paused(kPauseFairness, false);
  }
  flush();
  // Batched here, after this iteration's flush, rather than from each write
  // callback: one call carries all the progress the loop has seen.
  if (delivered_dirty_ && state_ == State::kOpen && !close_pending_) {
    delivered_dirty_ = false;
    handler_->on_delivered(*this);
  }
}

void Connection::flush() {
  if (state_ != State::kOpen || close_pending_) return;
  WireMark mark{};
  bool encoded = false;
  if (!out_.empty()) {
    NetStatus st = encode_output(mark, encoded);
    if (!st.ok()) {
      fail(std::move(st), false);
      return;
    }
    if (out_.empty()) std::string().swap(out_);
  }
  if (!write_in_flight_ && !wire_.empty()) {
    uv_buf_t buf = make_buf(wire_.data(), wire_.size());
    ++write_syscalls_;
    int written = uv_try_write(stream(), &buf, 1);
    if (written == UV_EAGAIN) written = 0;
    if (written < 0) {
      fail(net_fail_uv(NetError::kWriteFailed, written), false);
      return;
    }
    wire_accepted_ += static_cast<std::size_t>(written);
    if (static_cast<std::size_t>(written) == wire_.size()) {
      std::string().swap(wire_);  // an idle connection keeps no buffer
    } else {
      // The kernel buffer is full: hand the rest to libuv, which writes it
      // when the socket becomes writable. The request owns the bytes.
      auto* w = new WriteReq;
      w->data = std::move(wire_);
      std::string().swap(wire_);
      uv_buf_t rest =
          make_buf(w->data.data() + written, w->data.size() - static_cast<std::size_t>(written));
      ++write_syscalls_;
      if (int rc = uv_write(&w->req, stream(), &rest, 1, &Connection::on_write_cb); rc != 0) {
        delete w;
        fail(net_fail_uv(NetError::kWriteFailed, rc), false);
        return;
      }
      write_in_flight_ = true;
      wire_in_flight_ = rest.len;
    }
  }
  // Recorded after the write attempt so that a flush the kernel took whole
  // never stores a mark (no heap for the common case).
  if (encoded) record_mark(mark);
  advance_delivered();
  check_writable();
  maybe_finish_drain();
}

void Connection::on_write_cb(uv_write_s* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Connection* c = owner_of(reinterpret_cast<uv_handle_t*>(req->handle));
  delete w;
  if (c != nullptr) c->handle_write_done(status);
}

void Connection::handle_write_done(int status) {
  CallbackScope scope(*this);
  write_in_flight_ = false;
  const std::size_t sent = std::exchange(wire_in_flight_, 0);
  if (state_ != State::kOpen) return;  // ECANCELED while closing
  if (status < 0) {
    fail(net_fail_uv(NetError::kWriteFailed, status), false);
    return;
  }
  // libuv reports a write only once all of its bytes went to the kernel.
  wire_accepted_ += sent;
  advance_delivered();
  // on_delivered() comes from the prepare phase (which also flushes), so
  // that progress from several callbacks is reported once.
  if (!wire_.empty() || !out_.empty() || delivered_dirty_) {
    loop_->schedule(*this);
  } else {
    check_writable();
    maybe_finish_drain();
  }
}

NetStatus Connection::encode_output(WireMark& mark, bool& encoded) {
  const std::size_t before = out_.size();
  const bool identity = !transport_->is_tls();
  NetStatus st = transport_->encode(out_, wire_);
  const std::size_t consumed = before - out_.size();
  encoded = consumed > 0;
  if (encoded) {
    encoded_mark_ += consumed;
    // A TLS transport writes whole records for everything it consumed, so
    // the end of wire_ is a record boundary.
    mark = WireMark{wire_end(), encoded_mark_, identity};
  }
  return st;
}

void Connection::record_mark(const WireMark& mark) {
  if (marks_.empty() && mark.wire_end <= wire_accepted_) {
    set_delivered(mark.plain_end);  // the kernel took the whole flush at once
    return;
  }
  marks_.push_back(mark);
}

void Connection::advance_delivered() {
  if (marks_.empty()) return;
  std::size_t done = 0;
  while (done < marks_.size() && marks_[done].wire_end <= wire_accepted_) ++done;
  if (done > 0) set_delivered(marks_[done - 1].plain_end);
  if (done < marks_.size() && marks_[done].identity) {
    // Before TLS the wire bytes are the plaintext itself, so the accepted
    // part of a partly written flush is delivered too.
    const WireMark& m = marks_[done];
    const std::uint64_t missing = m.wire_end - wire_accepted_;
    if (missing < m.plain_end) set_delivered(m.plain_end - missing);
  }
  // Marks that lie inside the pending uv_write all resolve when its callback
  // reports success, so only the last of them is kept: the list then holds
  // one mark per flush made while a write was pending, not one per flush.
  const std::uint64_t handed = wire_accepted_ + wire_in_flight_;
  std::size_t first = done;
  while (first + 1 < marks_.size() && marks_[first + 1].wire_end <= handed) ++first;
  marks_.erase(marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(first));
  if (marks_.empty()) std::vector<WireMark>().swap(marks_);  // an idle connection keeps no heap
}

void Connection::set_delivered(std::uint64_t mark) {
  assert(mark <= write_mark_);
  if (mark <= delivered_mark_) return;
  delivered_mark_ = mark;
  delivered_dirty_ = true;
}

void Connection::check_writable() {
  if (!over_cap_ || state_ != State::kOpen || close_pending_) return;
  if (queued_bytes() > options_.write_queue_cap / 2) return;
  over_cap_ = false;
  set_paused(kPauseWriteCap, false);
  handler_->on_writable(*this);
}

// --- Reading -------------------------------------------------------------

void Connection::on_alloc(uv_handle_s* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
  Connection* c = owner_of(handle);
  if (c == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  // One buffer per loop: the bytes are consumed synchronously in the read
  // callback, so no connection keeps a read buffer between reads.
  std::span<char> shared = c->loop_->read_buffer();
  std::size_t len = shared.size();
  if (c->options_.read_rate.bytes_per_second > 0 && !c->draining_) {
    // Do not read far past the bucket: the overdraft becomes pause time.
    c->refill_tokens();
    const double allowed = std::max(c->tokens_, static_cast<double>(kMinRateLimitedRead));
    len = std::min(len, static_cast<std::size_t>(allowed));
  }
  *buf = make_buf(shared.data(), len);
}

void Connection::on_read_cb(uv_stream_s* stream, ssize_t nread, const uv_buf_t* buf) {
  Connection* c = owner_of(reinterpret_cast<uv_handle_t*>(stream));
  if (c != nullptr) c->handle_read(nread, buf != nullptr ? buf->base : nullptr);
}

bool Connection::delivering() const {
  return state_ == State::kOpen && !close_pending_ && !draining_ && !transport_swapped_;
}

void Connection::handle_read(ssize_t nread, const char* data) {
  if (nread == 0) return;  // EAGAIN: nothing read
  CallbackScope scope(*this);
  if (state_ != State::kOpen || close_pending_) return;
  if (nread < 0) {
    if (nread == UV_EOF) {
      // After close_after_flush() the peer's FIN is the orderly end.
      fail(draining_ ? net_fail(NetError::kClosed) : net_fail(NetError::kEof), false);
    } else {
      fail(net_fail_uv(NetError::kReadFailed, static_cast<int>(nread)), false);
    }
    return;
  }
  const auto n = static_cast<std::size_t>(nread);
  if (draining_) return;  // input after close_after_flush() is discarded
  account_read(n);
  transport_swapped_ = false;
  NetStatus st =
      transport_->decode(std::string_view(data, n), loop_->plaintext_buffer(), wire_, *this);
  if (!wire_.empty()) loop_->schedule(*this);
  if (!st.ok() && state_ == State::kOpen) {
    // A TLS failure leaves an alert in wire_: try to send it on the way out.
    fail(std::move(st), true);
  }
}

bool Connection::on_plaintext(std::string_view bytes) {
  if (!delivering()) return false;
  handler_->on_read(*this, bytes);
  return delivering();
}

bool Connection::on_handshake_complete() {
  tls_timer_.reset();
  loop_->schedule(*this);  // plaintext queued during the handshake can go now
  if (!delivering()) return false;
  handler_->on_tls_ready(*this);
  return delivering();
}

void Connection::account_read(std::size_t n) {
  if (options_.max_read_bytes_per_iteration > 0) {
    if (read_iteration_ != loop_->iteration()) {
      read_iteration_ = loop_->iteration();
      read_this_iteration_ = 0;
    }
    read_this_iteration_ += n;
    if (read_this_iteration_ >= options_.max_read_bytes_per_iteration) {
      // libuv would read up to 32 buffers (2 MiB) per wakeup; let the other
      // connections of this iteration go first (conventions.md §8).
      ++fairness_pauses_;
      resume_pending_ = true;
      set_paused(kPauseFairness, true);
      loop_->schedule(*this);
    }
  }
  if (options_.read_rate.bytes_per_second > 0) {
    refill_tokens();
    tokens_ -= static_cast<double>(n);
    if (tokens_ < 0) {
      ++rate_pauses_;
      set_paused(kPauseRate, true);
      const double wait_ms =
          std::ceil(-tokens_ * 1000.0 / static_cast<double>(options_.read_rate.bytes_per_second));
      if (!rate_timer_) rate_timer_ = std::make_unique<Timer>(*loop_, [this] { on_rate_timer(); });
      rate_timer_->start(static_cast<std::uint64_t>(std::max(1.0, wait_ms)));
    }
  }
}

void Connection::refill_tokens() {
  const std::uint64_t now = loop_->now_ms();
  const double rate = static_cast<double>(options_.read_rate.bytes_per_second);
  const double depth = rate * static_cast<double>(options_.read_rate.burst_ms) / 1000.0;
  tokens_ = std::min(depth, tokens_ + rate * static_cast<double>(now - tokens_at_ms_) / 1000.0);
  tokens_at_ms_ = now;
}

void Connection::on_rate_timer() {
  CallbackScope scope(*this);
  if (state_ != State::kOpen) return;
  refill_tokens();
  if (tokens_ >= 0) {
    set_paused(kPauseRate, false);
  } else {
    const double wait_ms =
        std::ceil(-tokens_ * 1000.0 / static_cast<double>(options_.read_rate.bytes_per_second));
    rate_timer_->start(static_cast<std::uint64_t>(std::max(1.0, wait_ms)));
  }
}

void Connection::set_read_rate(const ReadRateLimit& rate) {
  const bool was_limited = options_.read_rate.bytes_per_second > 0;
  if (was_limited) refill_tokens();
  options_.read_rate = rate;
  if (rate.bytes_per_second == 0) {
    if (rate_timer_) rate_timer_->stop();
    set_paused(kPauseRate, false);
    return;
  }
  const double depth =
      static_cast<double>(rate.bytes_per_second) * static_cast<double>(rate.burst_ms) / 1000.0;
  tokens_ = was_limited ? std::min(tokens_, depth) : depth;
  tokens_at_ms_ = loop_->now_ms();
  if ((pause_ & kPauseRate) != 0 && rate_timer_) {
    // Re-plan the pending resume with the new rate.
    rate_timer_->start(tokens_ >= 0
                           ? 0
                           : static_cast<std::uint64_t>(std::ceil(
                                 -tokens_ * 1000.0 / static_cast<double>(rate.bytes_per_second))));
  }
}

void Connection::pause_reading() { set_paused(kPauseOwner, true); }
void Connection::resume_reading() { set_paused(kPauseOwner, false); }

void Connection::set_paused(std::uint8_t bit, bool paused) {
  if (paused) {
    pause_ |= bit;
  } else {
    pause_ &= static_cast<std::uint8_t>(~bit);
  }
  update_reading();
}

void Connection::update_reading() {
  if (tcp_ == nullptr || state_ != State::kOpen) return;
  // While draining we read (and discard) regardless of pauses, to see the
  // peer's FIN; otherwise any pause reason stops reading.
  const bool want = !close_pending_ && (draining_ || pause_ == 0);
  if (want == reading_) return;
  if (want) {
    if (int rc = uv_read_start(stream(), &Connection::on_alloc, &Connection::on_read_cb); rc != 0) {
      fail(net_fail_uv(NetError::kReadFailed, rc), false);
      return;
    }
  } else {
    uv_read_stop(stream());
  }
  reading_ = want;
}

// --- Connecting ----------------------------------------------------------

void Connection::on_connect_cb(uv_connect_s* req, int status) {
  Connection* c = owner_of(reinterpret_cast<uv_handle_t*>(req->handle));
  delete req;
  if (c != nullptr) c->handle_connected(status);
}

void Connection::handle_connected(int status) {
  CallbackScope scope(*this);
  if (state_ != State::kConnecting || close_pending_) return;
  if (status < 0) {
    state_ = State::kOpen;  // so that fail() closes through the normal path
    fail(net_fail_uv(NetError::kConnectFailed, status), false);
    return;
  }
  state_ = State::kOpen;
  if (draining_) {
    loop_->schedule(*this);
    update_reading();
    return;
  }
  update_reading();
  loop_->schedule(*this);  // output queued while connecting
  handler_->on_connected(*this);
}

// --- TLS -----------------------------------------------------------------

NetStatus Connection::start_tls_server(const TlsContext& context) {
  if (transport_->is_tls() || !is_open()) {
    return net_fail(NetError::kInvalidState, "TLS already active or connection closing");
  }
  NetStatus error;
  auto tls = TlsTransport::server(context, error);
  if (!tls) return error;
  return start_tls(std::move(tls));
}

NetStatus Connection::start_tls_client(const TlsContext& context, std::string_view host) {
  if (transport_->is_tls() || !is_open()) {
    return net_fail(NetError::kInvalidState, "TLS already active or connection closing");
  }
  NetStatus error;
  auto tls = TlsTransport::client(context, host, error);
  if (!tls) return error;
  return start_tls(std::move(tls));
}

NetStatus Connection::start_tls(std::unique_ptr<Transport> tls) {
  // RFC 6120 §5.4.3.3: everything queued before this point (<proceed/>)
  // goes out in the clear, ahead of the first TLS record.
  WireMark mark{};
  bool encoded = false;
  if (NetStatus st = encode_output(mark, encoded); !st.ok()) return st;
  if (encoded) record_mark(mark);
  NetStatus st = tls->start(wire_);
  if (!st.ok()) return st;
  // The old transport may be the one whose decode() is delivering the
  // current chunk: keep it alive until the callback unwinds.
  retired_transport_ = std::move(transport_);
  transport_ = std::move(tls);
  transport_swapped_ = true;  // stop delivering the rest of this chunk
  if (callback_depth_ == 0) retired_transport_.reset();
  if (options_.tls_handshake_timeout_ms > 0) {
    tls_timer_ = std::make_unique<Timer>(*loop_, [this] { on_tls_timer(); });
    tls_timer_->start(options_.tls_handshake_timeout_ms);
  }
  loop_->schedule(*this);
  return net_ok();
}

void Connection::on_tls_timer() {
  CallbackScope scope(*this);
  if (state_ == State::kClosing || state_ == State::kClosed || transport_->ready()) return;
  fail(net_fail(NetError::kTlsHandshakeTimeout), false);
}

// --- Closing -------------------------------------------------------------

void Connection::close_after_flush() {
  if (!is_open()) return;
  draining_ = true;
  if (options_.close_linger_ms > 0) {
    linger_timer_ = std::make_unique<Timer>(*loop_, [this] {
      CallbackScope scope(*this);
      fail(net_fail(NetError::kClosed, "linger timeout"), false);
    });
    linger_timer_->start(options_.close_linger_ms);
  }
  update_reading();
  loop_->schedule(*this);
}

void Connection::maybe_finish_drain() {
  if (!draining_ || state_ != State::kOpen || close_pending_ || shutdown_started_) return;
  // Plaintext that can never be encoded (handshake unfinished) is dropped.
  if (!transport_->ready()) out_.clear();
  if (write_in_flight_ || !wire_.empty() || !out_.empty()) return;
  if (!close_notify_queued_) {
    close_notify_queued_ = true;
    transport_->shutdown(wire_);
    if (!wire_.empty()) {
      loop_->schedule(*this);
      return;
    }
  }
  shutdown_started_ = true;
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, stream(), &Connection::on_shutdown_cb) != 0) {
    delete req;
    fail(net_fail(NetError::kClosed), false);
  }
  // Now wait for the peer's FIN (handle_read: UV_EOF) or the linger timer.
}

void Connection::on_shutdown_cb(uv_shutdown_s* req, int /*status*/) {
  // Errors here (the peer already reset) surface through the read side.
  delete req;
}

void Connection::fail(NetStatus status, bool send_pending_output) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;
  if (close_error_ == NetError::kOk) {
    close_error_ = status.code;
    close_detail_ = std::move(status.detail);
  }
  out_.clear();
  if (send_pending_output) {
    flush_on_close_ = true;
  } else {
    wire_.clear();
  }
  request_close();
}

void Connection::close_now() {
  if (state_ == State::kClosing || state_ == State::kClosed) return;
  fail(net_fail(NetError::kClosed), false);
}

void Connection::request_close() {
  if (callback_depth_ > 0) {
    // Deferred: the stack still holds code that uses this connection.
    if (!close_pending_) {
      close_pending_ = true;
      if (reading_ && tcp_ != nullptr) {
        uv_read_stop(stream());
        reading_ = false;
      }
    }
    return;
  }
  begin_close();
}

void Connection::after_callbacks() {
  retired_transport_.reset();
  if (close_pending_) begin_close();
}

void Connection::begin_close() {
  if (state_ == State::kClosing || state_ == State::kClosed || tcp_ == nullptr) return;
  close_pending_ = false;
  if (flush_on_close_ && state_ == State::kOpen && !write_in_flight_ && !wire_.empty()) {
    // Best effort, one non-blocking attempt: a TLS alert tells the peer why.
    uv_buf_t buf = make_buf(wire_.data(), wire_.size());
    ++write_syscalls_;
    // What goes out still counts, for on_closed() to read delivered_mark().
    const int written = uv_try_write(stream(), &buf, 1);
    if (written > 0) {
      wire_accepted_ += static_cast<std::size_t>(written);
      advance_delivered();
    }
  }
  std::string().swap(out_);
  std::string().swap(wire_);
  std::vector<WireMark>().swap(marks_);
  state_ = State::kClosing;
  reading_ = false;
  if (rate_timer_) rate_timer_->stop();
  if (tls_timer_) tls_timer_->stop();
  if (linger_timer_) linger_timer_->stop();
  loop_->unschedule(*this);
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), &Connection::on_close_cb);
}

void Connection::on_close_cb(uv_handle_s* handle) {
  Connection* c = owner_of(handle);
  delete reinterpret_cast<uv_tcp_t*>(handle);
  if (c == nullptr) return;  // the owner destroyed the Connection meanwhile
  c->tcp_ = nullptr;
  c->state_ = State::kClosed;
  if (c->close_error_ == NetError::kOk) c->close_error_ = NetError::kClosed;
  // Last use of |c|: the handler may destroy it.
  c->handler_->on_closed(*c, net_error_name(c->close_error_));
}

}  // namespace xd::net
