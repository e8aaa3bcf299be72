// AppServer: the XEP-0357 app server as an XMPP client of the same server
// (xmppd has no server-to-server links, so push notifications are IQs
// routed to a local full JID). It logs in with LoginSession, sends initial
// presence, and answers every <iq type='set'/> that carries a pubsub
// publish: a valid notification is handed on (one JSON line on stdout, or
// the line on the stdin of --command through CommandRunner) and answered
// with a result; a malformed one gets bad-request and a line on stderr;
// other IQs get service-unavailable (pings a result). When the connection
// drops it reconnects with exponential backoff and jitter; a keepalive ping
// detects a silent peer, and a login that does not complete in time is
// abandoned and retried. It never exits on a peer's input: only SIGINT or
// SIGTERM end it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "client/push_appserver/command_runner.h"
#include "client/session/login_session.h"
#include "net/net_loop.h"
#include "net/signal_watcher.h"
#include "net/timer.h"
#include "net/tls_context.h"
#include "protocol/stanza_error.h"

namespace xd::client {

// Command-line settings; plain data.
struct AppServerOptions {
  std::string server;  // "HOST:PORT"; a name is resolved before each connect
  std::string username;
  std::string domain;
  std::string resource;  // empty: the server assigns one
  std::string password;
  SaslMech mech = SaslMech::kScramSha256;
  bool tls = true;      // STARTTLS (RFC 6120 §5); false only for --plaintext
  std::string ca_file;  // empty: the system store
  std::string tls_host;
  std::string command;  // empty: JSON lines on stdout
  std::uint64_t command_timeout_ms = 30'000;
  std::size_t max_running = 4;
  std::size_t max_queued = 256;
  std::uint64_t reconnect_min_ms = 1'000;
  std::uint64_t reconnect_max_ms = 60'000;
  std::uint64_t keepalive_ms = 60'000;      // 0: no keepalive pings
  std::uint64_t login_timeout_ms = 30'000;  // connect to bound, else retry
};

class AppServer final : public SessionObserver {
 public:
  // |loop| must outlive the app server.
  AppServer(net::NetLoop& loop, const AppServerOptions& options);
  ~AppServer() override;
  AppServer(const AppServer&) = delete;
  AppServer& operator=(const AppServer&) = delete;

  // Loads the CA, installs the signal watchers and makes the first
  // connection attempt (a failed attempt is retried, not an error). Returns
  // false with |error| set only for a local problem (unreadable CA file).
  bool start(std::string& error);
  // Releases every session, child and handle so the loop can close.
  void shutdown();
  // Notifications accepted so far.
  std::uint64_t accepted() const { return accepted_; }

 private:
  // SessionObserver.
  void on_bound(LoginSession& session) override;
  void on_message(LoginSession& session, const protocol::Element& message) override;
  bool on_iq_request(LoginSession& session, const protocol::Element& iq) override;
  void on_ended(LoginSession& session, std::string_view reason) override;

  void connect();
  void schedule_reconnect();
  void on_keepalive();
  void on_login_timeout();
  // Hands |line| on (stdout or CommandRunner); false when it was not
  // accepted, with |error| set to the answer.
  bool deliver(const std::string& line, protocol::StanzaError& error);
  void send_result(LoginSession& session, const protocol::Element& iq);
  void send_error(LoginSession& session, const protocol::Element& iq,
                  const protocol::StanzaError& error);
  void stop();
  void maybe_stopped();

  net::NetLoop* loop_;
  AppServerOptions options_;
  std::unique_ptr<net::TlsContext> tls_;
  std::unique_ptr<CommandRunner> commands_;
  // The current session; a session that ended is kept until the next
  // attempt replaces it (it may not be destroyed from its own callback).
  std::unique_ptr<LoginSession> session_;
  std::unique_ptr<net::Timer> reconnect_timer_;
  std::unique_ptr<net::Timer> keepalive_timer_;
  std::unique_ptr<net::Timer> login_timer_;
  std::unique_ptr<net::SignalWatcher> sigint_;
  std::unique_ptr<net::SignalWatcher> sigterm_;
  std::minstd_rand jitter_;
  std::uint64_t accepted_ = 0;
  std::uint64_t attempt_ = 0;       // connection attempts since the last stable session
  std::uint64_t bound_at_ms_ = 0;   // when the current session bound
  std::uint64_t ping_sent_ms_ = 0;  // keepalive ping outstanding since (0: none)
  std::uint64_t ping_counter_ = 0;
  bool session_live_ = false;  // started and not yet ended
  bool stopping_ = false;
  bool commands_drained_ = false;
};

}  // namespace xd::client
