// LoadRunner: the xd-loadgen workloads on live sessions (in-band
// registration rate, login rate, closed-loop message throughput, open-loop
// latency at a fixed rate, both with loss/duplicate/reorder accounting, and
// idle connections held open) over one NetLoop in one thread. It owns every
// LoginSession it starts and prints its figures to stdout as single
// "key=value" lines that scripts can grep. It measures; it never judges a
// figure, never retries a failed login, and never sends presence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/session/login_session.h"
#include "net/net_loop.h"
#include "net/signal_watcher.h"
#include "net/timer.h"
#include "net/tls_context.h"

namespace xd::client {

// kStore and kBacklog (durable delivery, spec/delivery.md) run in
// DeliveryRunner (delivery_runner.h); the others here.
enum class LoadMode { kRegister, kLogin, kThroughput, kLatency, kIdle, kStore, kBacklog };

// Command-line settings; plain data.
struct LoadOptions {
  LoadMode mode = LoadMode::kLogin;
  std::string server = "127.0.0.1:5222";
  // throughput, latency: receivers connect here instead (another node of a
  // cluster: docs/cluster.md), so every message crosses nodes.
  std::string receiver_server;
  std::string domain = "localhost";
  std::string user_prefix = "u";
  std::size_t users = 10;
  std::string password = "pw";
  SaslMech mech = SaslMech::kScramSha1;
  bool tls = false;         // STARTTLS
  bool direct_tls = false;  // XEP-0368 direct TLS (ALPN xmpp-client); overrides |tls|
  std::string ca_file;      // empty: system store
  std::string tls_host;
  std::string channel_binding = "tls-exporter";  // for -PLUS mechanisms
  // spec/compact.md: "compact" takes the compact dialect when the server
  // offers it (over TLS), "xml" never does, "mixed" has senders compact
  // and receivers XML (throughput), so every message is translated.
  std::string dialect = "compact";
  bool compression = true;         // zstd frames in the compact dialect
  std::size_t connections = 1000;  // login, idle
  std::size_t concurrency = 100;   // logins in progress at once
  std::size_t pairs = 100;         // throughput
  std::size_t window = 10;
  double rate = 2000;  // latency: messages per second over all pairs
  double seconds = 5;
  double grace_seconds = 2;
  bool per_pair = false;       // print one line per pair with any anomaly
  double hold_seconds = 0;     // idle: 0 = until SIGINT/SIGTERM
  double login_timeout = 120;  // give up when logins take longer
  // RFC 5802 §5.1: keep each account's SCRAM SaltedPassword, as real
  // clients do, so a repeated login costs the client no PBKDF2. In login
  // mode every account then logs in once, unmeasured, before the timed
  // logins: the figure is the server's login rate, not the client's Hi().
  bool key_cache = true;
  // First account number (register) or connection number (others), so that
  // several processes can split one run.
  std::size_t first_index = 0;
  // Durable delivery (store, backlog): senders with XEP-0198 that keep
  // |sm_window| messages unacknowledged, to accounts nobody logs in to.
  std::size_t senders = 100;
  std::size_t sm_window = 100;
  std::string offline_prefix = "o";
  std::size_t offline_users = 100;  // store; backlog uses PREFIX0 only
  std::size_t backlog = 10000;      // backlog: messages stored before the login
  double backlog_timeout = 60;      // backlog: seconds to wait for the done marker
};

// The settings every load session shares: server, domain, credentials,
// mechanism and TLS. Runners add the user and resource.
SessionConfig base_session_config(const LoadOptions& options, const net::TlsContext* tls);

class LoadRunner final : public SessionObserver {
 public:
  // |loop| must outlive the runner.
  LoadRunner(net::NetLoop& loop, const LoadOptions& options);
  ~LoadRunner() override;
  LoadRunner(const LoadRunner&) = delete;
  LoadRunner& operator=(const LoadRunner&) = delete;

  // Sets up and starts the first logins. Returns false with |error| set if
  // nothing could start (bad CA file, bad address).
  bool start(std::string& error);
  // After loop.run() returned: 0 when every login bound and (throughput) no
  // message was lost, duplicated or bounced; 1 otherwise.
  int exit_code() const { return exit_code_; }
  // Destroys every session and handle so the loop can close.
  void shutdown();

 private:
  struct Pair {
    LoginSession* sender = nullptr;
    LoginSession* receiver = nullptr;
    std::string prefix;  // "<message to='receiver' type='chat'><body>"
    std::uint64_t sent = 0;
    std::uint64_t received = 0;  // unique
    std::uint64_t duplicates = 0;
    std::uint64_t reordered = 0;
    std::uint64_t bounced = 0;
    std::int64_t max_seen = -1;
    std::vector<bool> seen;
    bool active = false;
  };

  // SessionObserver.
  void on_bound(LoginSession& session) override;
  void on_message(LoginSession& session, const protocol::Element& message) override;
  void on_ended(LoginSession& session, std::string_view reason) override;

  SessionConfig config_for(std::size_t index) const;
  void pump();
  void logins_done();
  void restart_measured_logins();
  void start_traffic();
  void pace();
  void send_next(Pair& pair, std::uint64_t stamp_ns);
  void end_window();
  void check_drained();
  void finish_traffic();
  void finish(int code);

  net::NetLoop* loop_;
  LoadOptions options_;
  std::unique_ptr<net::TlsContext> tls_;
  std::vector<std::unique_ptr<LoginSession>> sessions_;
  // Per account name; sessions hold pointers into it (node-based map).
  std::unordered_map<std::string, protocol::ScramKeyCacheEntry> key_cache_;
  bool warming_ = false;         // login mode: the unmeasured first round
  std::size_t warm_logins_ = 0;  // logins of that round
  std::vector<Pair> pairs_;
  std::unique_ptr<net::Timer> timer_;
  std::unique_ptr<net::Timer> end_timer_;  // the end of the measuring window
  std::unique_ptr<net::Timer> deadline_;
  std::unique_ptr<net::SignalWatcher> sigint_;
  std::unique_ptr<net::SignalWatcher> sigterm_;
  std::vector<std::uint64_t> latencies_ns_;
  std::size_t total_ = 0;
  std::size_t next_ = 0;
  std::size_t in_progress_ = 0;
  std::size_t bound_ = 0;
  std::size_t compact_ = 0;  // bound sessions that speak the compact dialect
  std::size_t failed_ = 0;
  std::size_t dropped_ = 0;  // bound sessions that ended unasked
  std::string tls_version_;  // of the first bound session
  std::uint64_t login_start_ns_ = 0;
  std::uint64_t login_end_ns_ = 0;
  std::uint64_t window_start_ns_ = 0;
  std::uint64_t window_end_ns_ = 0;
  std::uint64_t received_in_window_ = 0;
  // Latency mode: the pacer's next message number, its pair, and the pairs
  // it sends on.
  std::uint64_t paced_ = 0;
  std::size_t pace_pair_ = 0;
  std::vector<Pair*> active_pairs_;
  std::vector<std::uint64_t> lags_ns_;  // latency: send time minus due time
  std::uint64_t grace_start_ms_ = 0;
  bool logins_finished_ = false;
  bool measuring_ = false;
  bool finished_ = false;
  bool closing_ = false;
  int exit_code_ = 0;
};

}  // namespace xd::client
