// DeliveryRunner: the two xd-loadgen workloads of the durable queue
// (spec/delivery.md) over one NetLoop in one thread.
//
// store:   N senders with XEP-0198 send to M accounts nobody is logged in
//          to, each keeping a window of messages unacknowledged and asking
//          <r/> after every batch; the server counts a message in <a h/>
//          only once it is committed (spec/delivery.md §1.2), so the rate
//          of acknowledged messages is the rate of durable stores.
// backlog: the senders store B messages for one offline account, close,
//          then that account logs in and sends initial presence; the
//          runner times presence -> <catchup state='start'/> and presence
//          -> <catchup state='done'/> (§4) and checks that every message
//          arrived once.
//
// It owns every LoginSession it starts and prints its figures to stdout as
// single "key=value" lines that scripts can grep. It measures; it never
// judges a figure and never retries a failed login.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "client/loadgen/load_runner.h"
#include "client/session/login_session.h"
#include "net/net_loop.h"
#include "net/signal_watcher.h"
#include "net/timer.h"
#include "net/tls_context.h"

namespace xd::client {

class DeliveryRunner final : public SessionObserver {
 public:
  // |loop| must outlive the runner; |options|.mode is kStore or kBacklog.
  DeliveryRunner(net::NetLoop& loop, const LoadOptions& options);
  ~DeliveryRunner() override;
  DeliveryRunner(const DeliveryRunner&) = delete;
  DeliveryRunner& operator=(const DeliveryRunner&) = delete;

  // Starts the sender logins. Returns false with |error| set if nothing
  // could start (bad CA file, bad address, nothing to do).
  bool start(std::string& error);
  // After loop.run() returned: 0 when every login bound and every message
  // was acknowledged (store) or delivered exactly once (backlog); 1
  // otherwise.
  int exit_code() const { return exit_code_; }
  // Destroys every session and handle so the loop can close.
  void shutdown();

 private:
  enum class Phase : std::uint8_t {
    kLogin,      // senders log in and enable stream management
    kSending,    // windows of messages, <r/> after each batch
    kDraining,   // no new messages; waiting for the last acks
    kClosing,    // backlog: senders close before the receiver logs in
    kReceiving,  // backlog: the receiver's presence is out
    kDone,
  };
  struct Sender {
    LoginSession* session = nullptr;
    std::uint64_t sent = 0;   // messages sent, also the next sequence number
    std::uint64_t acked = 0;  // covered by the server's h
    std::uint32_t last_h = 0;
    std::uint64_t bounced = 0;
    std::deque<std::uint64_t> sent_at_ns;  // send times of the unacked messages
    bool settled = false;                  // ready, or failed before it
    bool ready = false;                    // <enabled/> received, still connected
  };

  // SessionObserver.
  void on_bound(LoginSession& session) override;
  void on_message(LoginSession& session, const protocol::Element& message) override;
  void on_sm_enabled(LoginSession& session, bool enabled) override;
  void on_sm_ack(LoginSession& session, std::uint32_t h) override;
  void on_ended(LoginSession& session, std::string_view reason) override;

  SessionConfig config_for(std::size_t index) const;
  bool is_receiver(const LoginSession& session) const { return session.tag() == senders_.size(); }
  void pump();
  void sender_settled();
  void start_sending();
  void top_up(Sender& sender);
  void send_one(Sender& sender);
  void end_window();
  void check_drained();
  void report_store();
  void start_receiver();
  void on_receiver_message(const protocol::Element& message);
  void report_backlog(bool timed_out);
  void finish(int code);

  net::NetLoop* loop_;
  LoadOptions options_;
  std::unique_ptr<net::TlsContext> tls_;
  std::vector<std::unique_ptr<LoginSession>> sessions_;  // senders, then the receiver
  std::vector<Sender> senders_;
  std::vector<std::string> prefixes_;  // "<message type='chat' to='TARGET'><body>"
  std::unique_ptr<net::Timer> timer_;
  std::unique_ptr<net::Timer> deadline_;
  std::unique_ptr<net::SignalWatcher> sigint_;
  std::unique_ptr<net::SignalWatcher> sigterm_;
  std::vector<std::uint64_t> ack_latencies_ns_;
  Phase phase_ = Phase::kLogin;
  std::size_t next_ = 0;         // next sender to start
  std::size_t in_progress_ = 0;  // sender logins not yet settled
  std::size_t ready_ = 0;        // senders with stream management
  std::size_t failed_ = 0;       // senders that never got there
  std::size_t dropped_ = 0;      // sessions that ended unasked
  std::size_t ended_ = 0;        // senders ended (backlog, kClosing)
  std::uint64_t total_sent_ = 0;
  std::uint64_t total_acked_ = 0;
  std::uint64_t acks_ = 0;             // <a/> elements received
  std::uint64_t ack_overruns_ = 0;     // <a h/> covering more than was sent
  std::uint64_t acked_in_window_ = 0;  // store: acks that arrived in the window
  std::uint64_t bounced_in_window_ = 0;
  std::string first_bounce_;  // condition of the first error bounce
  std::uint64_t send_start_ns_ = 0;
  std::uint64_t send_end_ns_ = 0;  // window end (store) or last ack (backlog)
  std::uint64_t grace_start_ms_ = 0;
  // Backlog receiver.
  std::uint64_t presence_ns_ = 0;
  std::uint64_t start_marker_ns_ = 0;
  std::uint64_t done_marker_ns_ = 0;
  std::uint64_t cpu_at_presence_us_ = 0;
  std::uint64_t cpu_at_done_us_ = 0;
  std::int64_t start_count_ = -1;
  std::int64_t done_count_ = -1;
  std::uint64_t received_ = 0;  // messages with a parseable body
  std::uint64_t unique_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t delayed_ = 0;            // with an XEP-0203 delay stamp
  std::uint64_t foreign_ = 0;            // other messages between the markers
  std::vector<std::vector<bool>> seen_;  // [sender][seq]
  bool measuring_ = false;
  bool finished_ = false;
  bool closing_ = false;
  int exit_code_ = 0;
};

}  // namespace xd::client
