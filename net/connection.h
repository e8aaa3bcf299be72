// Connection: one TCP stream, plain or TLS, as its owner (a c2s session, the
// client) sees it: plaintext in through ConnectionHandler::on_read(),
// plaintext out through write(), which only appends to a queue that NetLoop
// flushes once per loop iteration (conventions.md §8). It owns exactly one
// uv_tcp_t, freed in the close callback (§6); a close requested from inside
// a callback only marks the connection and happens once the stack unwinds.
// It enforces the transport-level limits of hostile-inputs.md ("Slowloris,
// idle peers, TLS timeouts, backpressure, fd exhaustion"): a byte cap on the
// output queue, a read rate limit that pauses and never drops, a per-
// iteration read cap, and a TLS handshake deadline. It never interprets the
// bytes, never throws, and never lets a libuv or OpenSSL error code escape.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/accepted_socket.h"
#include "net/net_error.h"
#include "net/net_loop.h"
#include "net/transport.h"

struct uv_tcp_s;
struct uv_write_s;
struct uv_connect_s;
struct uv_shutdown_s;
struct uv_handle_s;
struct uv_stream_s;
struct uv_buf_t;

namespace xd::net {

class Connection;
class TlsContext;
class Timer;

// What the owner of a Connection is told. Every call happens on the loop
// thread from a libuv callback (never from inside a Connection method the
// owner called), with the connection still valid. During any call except
// on_closed() the owner must not destroy the Connection; it may call
// close_now() / close_after_flush(), which take effect after the call
// returns. After on_closed() nothing else is called and the owner may (and
// should) destroy the Connection, including from inside on_closed().
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // An outgoing connection (Connection::connect) was established.
  virtual void on_connected(Connection& /*connection*/) {}
  // Plaintext from the peer. |plaintext| points into a loop-wide scratch
  // buffer and is valid only during the call: consume or copy it. Bytes
  // arrive in order; a call may carry any number of bytes (at least one).
  virtual void on_read(Connection& connection, std::string_view plaintext) = 0;
  // The TLS handshake completed (and, for a client, the server certificate
  // verified for the expected host). Called once per start_tls_*().
  virtual void on_tls_ready(Connection& connection) = 0;
  // The output queue went above the write cap earlier and has now drained to
  // half of it; reading, paused by the cap, has resumed.
  virtual void on_writable(Connection& /*connection*/) {}
  // connection.delivered_mark() advanced: the kernel accepted the encoded
  // bytes of more of the plaintext given to write(). Progress is batched;
  // the call comes from the loop's prepare phase, usually at most once per
  // iteration (again in the same phase only if the owner's own writes from
  // this call were accepted at once). Not called once a close was requested
  // by close_now() or a failure; on_closed() may still read delivered_mark().
  // Calls do continue while close_after_flush() drains the queue.
  virtual void on_delivered(Connection& /*connection*/) {}
  // The connection is closed and its socket released; called exactly once.
  // |reason| is net_error_name(connection.close_error()): "closed" after
  // close_now()/close_after_flush(), "eof" when the peer closed,
  // "tls-handshake-timeout", "tls-certificate-invalid", and so on.
  // connection.close_detail() has the libuv/OpenSSL text for logs.
  virtual void on_closed(Connection& connection, std::string_view reason) = 0;
};

// Read rate limit: a token bucket over bytes read from the socket
// (ciphertext for TLS). When it runs dry, reading pauses and resumes on a
// timer once the bucket has refilled, so TCP pushes back on the peer and no
// byte is dropped (hostile-inputs.md catalogue 58, Prosody's limits).
struct ReadRateLimit {
  // Sustained rate; 0 disables the limit (benchmarks, trusted peers).
  std::uint64_t bytes_per_second = 10'000;
  // Bucket depth as milliseconds of the sustained rate (2000 = 2 s burst).
  std::uint64_t burst_ms = 2'000;
};

// Limits, all on by default (architecture.md §5). Plain data.
struct ConnectionOptions {
  // Output bytes not yet accepted by the kernel (queued_bytes()) above which
  // write() returns false and reading pauses until the queue halves.
  std::size_t write_queue_cap = 1 << 20;
  ReadRateLimit read_rate;
  // Bytes read in one loop iteration after which reading pauses until the
  // next iteration, so one fast peer cannot starve the others. 0 = no cap.
  std::size_t max_read_bytes_per_iteration = 128 * 1024;
  // Deadline from start_tls_*() to a completed handshake (catalogue 35).
  std::uint64_t tls_handshake_timeout_ms = 30'000;
  // How long close_after_flush() waits for the queue to drain and the peer
  // to close its side before closing anyway (Prosody c2s_close_timeout).
  std::uint64_t close_linger_ms = 5'000;
};

class Connection final : private NetLoop::PrepareHook, private TransportSink {
 public:
  // Takes over |socket| (from a Listener's accept callback) and starts
  // reading. Returns null with |error| set if libuv refuses the descriptor
  // (the socket is then closed); no handler call happens in that case.
  // |loop| and |handler| must outlive the Connection.
  static std::unique_ptr<Connection> adopt(NetLoop& loop, AcceptedSocket&& socket,
                                           ConnectionHandler& handler,
                                           const ConnectionOptions& options, NetStatus& error);

  // Starts connecting to |host_port|, which must be a numeric "IP:PORT" or
  // "[IPv6]:PORT" (names are resolved by the caller). On a synchronous
  // failure returns null with |error| set and calls nothing. Otherwise the
  // handler later gets on_connected(), or on_closed("connect-failed").
  // write() and start_tls_client() may be called before the connection is
  // established; their output waits for it.
  static std::unique_ptr<Connection> connect(NetLoop& loop, std::string_view host_port,
                                             ConnectionHandler& handler,
                                             const ConnectionOptions& options, NetStatus& error);

  // Releases the socket (closing it if still open) without calling the
  // handler. Must not be called from inside one of this connection's handler
  // calls other than on_closed().
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Replaces the handler; |handler| must outlive the Connection.
  void set_handler(ConnectionHandler& handler) { handler_ = &handler; }

  // Appends |plaintext| to the output queue; no system call happens here.
  // Returns true while queued_bytes() is within the write cap. Returns false
  // when the queue is over the cap (the bytes are kept: the owner decides
  // whether to close, hibernate or stop producing) or when the connection is
  // closing (the bytes are dropped; see is_open()). Never calls back.
  bool write(std::string_view plaintext);

  // Switches to TLS as the server. Output queued so far (the STARTTLS
  // <proceed/>, RFC 6120 §5.4.2.3) is sent in the clear; every later byte in
  // either direction is TLS. Plaintext that was read in the same chunk as
  // the STARTTLS request and not yet consumed is the caller's to discard
  // (hostile-inputs.md catalogue 32); delivery of the current chunk stops.
  // Starts the handshake deadline. Returns kInvalidState when TLS is already
  // active (never a second layer, catalogue 33) or the connection is
  // closing, kTlsConfig if OpenSSL cannot create the session. Never calls
  // back; on_tls_ready() or on_closed() follows later.
  NetStatus start_tls_server(const TlsContext& context);
  // The client side: as above, and the server certificate must verify for
  // |host| or the connection closes with "tls-certificate-invalid" before
  // on_tls_ready() is ever called.
  NetStatus start_tls_client(const TlsContext& context, std::string_view host);

  // Sends what is queued (then a TLS close_notify), shuts down the sending
  // side, discards further input and closes once the peer closes its side
  // or close_linger_ms passes. write() is refused from now on. on_closed()
  // follows with "closed". Never calls back synchronously.
  void close_after_flush();
  // Drops queued output and closes. If called from inside a handler call the
  // close happens when that call returns; on_closed("closed") always comes
  // later from the loop, never from inside close_now(). Idempotent.
  void close_now();

  // Changes the read rate limit, e.g. to the looser post-authentication one
  // (conventions.md §2: limits are tighter before authentication). The
  // bucket keeps its current level, clipped to the new depth; a rate of 0
  // lifts the limit and any pause it caused. Never calls back.
  void set_read_rate(const ReadRateLimit& rate);
  // Changes the write cap; it applies from the next write() or flush.
  void set_write_queue_cap(std::size_t cap) { options_.write_queue_cap = cap; }

  // Stops / restarts reading on the owner's behalf (for example while a
  // stanza waits for storage). Independent of the pauses net/ applies itself
  // (rate limit, write cap, fairness): reading runs only when none applies.
  void pause_reading();
  void resume_reading();

  // Output not yet accepted by the kernel: queued plaintext, encoded bytes
  // not yet handed to libuv, and libuv's write queue.
  std::size_t queued_bytes() const;
  // Delivery marks, in plaintext bytes counted from the start of the
  // connection, so that an owner can drop a queued message once "the TCP
  // write completed" (a client without stream management): remember
  // write_mark() after write(), and the message is out once delivered_mark()
  // reaches that value.
  // write_mark(): bytes write() accepted, including bytes kept over the cap
  // (they are queued); bytes refused because the connection was closing do
  // not count.
  std::uint64_t write_mark() const { return write_mark_; }
  // delivered_mark(): the length of the prefix of that plaintext whose
  // encoded bytes (raw bytes before STARTTLS, TLS records after it) the
  // kernel has fully accepted, i.e. uv_try_write() returned them or the
  // uv_write() callback reported success. Monotonic, never above
  // write_mark(). A TLS record counts only once all its ciphertext is
  // accepted; under TLS progress is counted per flush (all records one
  // loop iteration produced), before TLS byte by byte. "Accepted by the
  // kernel" is not "read by the peer": the bytes are lost if the connection
  // breaks before the peer reads them.
  std::uint64_t delivered_mark() const { return delivered_mark_; }
  // True between write() returning false for the cap and on_writable().
  bool over_write_cap() const { return over_cap_; }
  // False once a close was requested or happened.
  bool is_open() const;
  bool is_tls() const { return transport_->is_tls(); }
  bool tls_ready() const { return transport_->is_tls() && transport_->ready(); }
  // Channel-binding data and the negotiated parameters; false before the
  // TLS handshake completed or on a plaintext connection.
  bool tls_info(TlsInfo& out) const { return transport_->tls_info(out); }
  // "203.0.113.7:50123" / "[2001:db8::1]:50123".
  const std::string& peer_address() const { return peer_address_; }
  // Why the connection ended (kOk while open) and the detail for logs.
  NetError close_error() const { return close_error_; }
  const std::string& close_detail() const { return close_detail_; }
  const ConnectionOptions& options() const { return options_; }

  // --- Test observation points. -----------------------------------------
  // uv_try_write/uv_write calls made so far.
  std::uint64_t write_syscalls_for_test() const { return write_syscalls_; }
  std::uint64_t rate_limit_pauses_for_test() const { return rate_pauses_; }
  std::uint64_t fairness_pauses_for_test() const { return fairness_pauses_; }
  // Heap capacity held by the output buffers and the delivery marks (0 for
  // an idle connection).
  std::size_t buffer_capacity_for_test() const;

 private:
  enum class State : std::uint8_t { kConnecting, kOpen, kClosing, kClosed };
  // Reasons reading is paused; reading runs when none is set.
  enum PauseBits : std::uint8_t {
    kPauseOwner = 1,
    kPauseRate = 2,
    kPauseWriteCap = 4,
    kPauseFairness = 8,
  };
  struct CallbackScope;
  struct WriteReq;
  // One flush of plaintext into the wire stream: once the kernel accepted
  // the wire stream up to |wire_end|, the plaintext up to |plain_end| is
  // delivered. |identity| marks plaintext that went out unencoded (before
  // TLS), where a partial write counts byte by byte.
  struct WireMark {
    std::uint64_t wire_end;
    std::uint64_t plain_end;
    bool identity;
  };

  Connection(NetLoop& loop, ConnectionHandler& handler, const ConnectionOptions& options);

  // libuv entry points.
  static void on_alloc(uv_handle_s* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_s* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_s* req, int status);
  static void on_connect_cb(uv_connect_s* req, int status);
  static void on_shutdown_cb(uv_shutdown_s* req, int status);
  static void on_close_cb(uv_handle_s* handle);

  void handle_read(ssize_t nread, const char* data);
  void handle_write_done(int status);
  void handle_connected(int status);
  void on_rate_timer();
  void on_tls_timer();

  // NetLoop::PrepareHook: resume after a fairness pause, then flush.
  void on_loop_prepare() override;
  // TransportSink.
  bool on_plaintext(std::string_view bytes) override;
  bool on_handshake_complete() override;

  NetStatus start_tls(std::unique_ptr<Transport> tls);
  void flush();
  // Moves out_ through the transport into wire_; when plaintext was
  // consumed, sets |mark| to where it ends in both streams.
  NetStatus encode_output(WireMark& mark, bool& encoded);
  // Bytes of the wire stream produced so far: accepted, in flight, in wire_.
  std::uint64_t wire_end() const { return wire_accepted_ + wire_in_flight_ + wire_.size(); }
  void record_mark(const WireMark& mark);
  void advance_delivered();
  void set_delivered(std::uint64_t mark);
  void account_read(std::size_t n);
  void refill_tokens();
  void set_paused(std::uint8_t bit, bool paused);
  void update_reading();
  void check_writable();
  void maybe_finish_drain();
  bool delivering() const;
  void fail(NetStatus status, bool send_pending_output);
  void request_close();
  void begin_close();
  void after_callbacks();
  uv_stream_s* stream() const;

  NetLoop* loop_;
  ConnectionHandler* handler_;
  uv_tcp_s* tcp_ = nullptr;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Transport> retired_transport_;  // replaced mid-callback
  std::string out_;                               // plaintext queued by write()
  std::string wire_;                              // transport output not yet handed to libuv
  // Flushes whose wire bytes the kernel has not fully accepted yet, oldest
  // first. Empty, and without heap, whenever the kernel took every flush at
  // once (the common case) or the queue drained.
  std::vector<WireMark> marks_;
  ConnectionOptions options_;
  std::string peer_address_;
  std::string close_detail_;
  std::unique_ptr<Timer> rate_timer_;
  std::unique_ptr<Timer> tls_timer_;
  std::unique_ptr<Timer> linger_timer_;
  double tokens_ = 0;
  std::uint64_t tokens_at_ms_ = 0;
  std::uint64_t read_iteration_ = 0;
  std::size_t read_this_iteration_ = 0;
  std::uint64_t write_syscalls_ = 0;
  std::uint64_t rate_pauses_ = 0;
  std::uint64_t fairness_pauses_ = 0;
  std::uint64_t write_mark_ = 0;      // plaintext accepted by write()
  std::uint64_t encoded_mark_ = 0;    // plaintext handed to the transport
  std::uint64_t delivered_mark_ = 0;  // see delivered_mark()
  std::uint64_t wire_accepted_ = 0;   // wire bytes the kernel accepted
  std::size_t wire_in_flight_ = 0;    // wire bytes in the pending uv_write
  int callback_depth_ = 0;
  NetError close_error_ = NetError::kOk;
  State state_ = State::kConnecting;
  std::uint8_t pause_ = 0;
  bool reading_ = false;
  bool write_in_flight_ = false;
  bool close_pending_ = false;
  bool flush_on_close_ = false;
  bool draining_ = false;
  bool close_notify_queued_ = false;
  bool shutdown_started_ = false;
  bool over_cap_ = false;
  bool resume_pending_ = false;
  bool transport_swapped_ = false;
  bool delivered_dirty_ = false;  // delivered_mark_ moved since on_delivered()
};

}  // namespace xd::net
