// The xmppd process: one libuv loop with the listeners, the TLS contexts,
// the stores, the session table, the router and the modules. It accepts
// connections into c2s sessions, applies the per-IP and global caps, keeps
// the metrics counters (and, when configured, serves them), and shuts down
// on SIGTERM/SIGINT with system-shutdown to every stream.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/ip_limiter.h"
#include "net/listener.h"
#include "net/net_loop.h"
#include "net/signal_watcher.h"
#include "net/timer.h"
#include "net/tls_context.h"
#include "protocol/c2s/c2s_config.h"
#include "server/config.h"
#include "server/delivery_queue.h"
#include "server/metrics.h"
#include "server/module_registry.h"
#include "server/presence_manager.h"
#include "server/push_notifier.h"
#include "server/roster_service.h"
#include "server/router.h"
#include "server/session_table.h"
#include "server/storage/account_store.h"
#include "server/storage/key_store.h"
#include "server/storage/message_store.h"
#include "server/storage/roster_store.h"

namespace xd::server {

class C2sSession;
class ClusterNode;
class LmdbEnv;
class NatsLink;
class MetricsEndpoint;

// Per-IP counters of events within an hour (failed logins, registrations),
// bounded in size; loopback may be exempt. An address's count is forgotten
// only after an hour without an event (ejabberd mod_fail2ban's rule), so no
// 60-minute span ever holds more than |limit| counted events, and a refusal
// lasts an hour from the last counted event (refused attempts are not
// counted by the callers). Time is an argument (loop time in the server,
// any value in tests).
class HourlyIpCounter {
 public:
  HourlyIpCounter(uint64_t limit, bool exempt_loopback) : limit_(limit), exempt_(exempt_loopback) {}
  // False once |ip| has |limit| events, none of them an hour or more before
  // |now_ms|. Never counts anything itself.
  bool allowed(const std::string& ip, uint64_t now_ms);
  // Counts one event for |ip| at |now_ms|.
  void add(const std::string& ip, uint64_t now_ms);
  // Addresses with a count (for tests).
  size_t tracked_for_test() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t last_ms = 0;  // the latest event
    uint64_t count = 0;
  };
  uint64_t limit_;
  bool exempt_;
  std::unordered_map<std::string, Entry> entries_;
};

bool is_loopback_ip(std::string_view ip);

class Server final : private net::NetLoop::PrepareHook {
 public:
  // Opens storage, TLS contexts and listeners. Returns null with |error| set.
  static std::unique_ptr<Server> create(const ServerConfig& config, std::string& error);
  ~Server();

  // Runs until shutdown completes. Returns the exit code.
  int run();
  // Starts a graceful shutdown (as SIGTERM does).
  void shutdown();

  // For sessions.
  const ServerConfig& config() const { return config_; }
  const protocol::C2sConfig& c2s_config(C2sPort port) const {
    return port == C2sPort::kStartTls    ? c2s_starttls_
           : port == C2sPort::kDirectTls ? c2s_direct_
                                         : c2s_compact_;
  }
  net::NetLoop& loop() { return loop_; }
  const net::TlsContext* tls_context(C2sPort port) const {
    return port == C2sPort::kStartTls    ? tls_.get()
           : port == C2sPort::kDirectTls ? direct_tls_.get()
                                         : compact_tls_.get();
  }
  AccountStore& accounts() { return *accounts_; }
  SessionTable& sessions() { return sessions_; }
  Router& router() { return *router_; }
  DeliveryQueue& delivery() { return *delivery_; }
  DeliveryQueue* delivery_if_any() { return delivery_.get(); }
  ClusterNode* cluster() { return cluster_.get(); }
  bool shutting_down() const { return shutting_down_; }
  // Wall-clock start of this process (resumption windows after a restart).
  uint64_t started_wall_ms() const { return started_wall_ms_; }
  // Resumable stream-management sessions by id (XEP-0198 §5).
  void register_sm(const std::string& id, C2sSession* session) { sm_sessions_[id] = session; }
  void unregister_sm(const std::string& id, C2sSession* session);
  C2sSession* find_sm(std::string_view id) const;
  // Sessions with queued stanzas waiting for an ack, checked once a second
  // for XEP-0357 "unacknowledged too long" notifications.
  void watch_stall(C2sSession* session);
  void unwatch_stall(C2sSession* session) { stall_watch_.erase(session); }
  PushNotifier& push() { return *push_; }
  PresenceManager& presence() { return *presence_; }
  // The counters every part of the server bumps (server/metrics.h).
  Metrics& metrics() { return metrics_; }
  // The exposition text as a scrape sees it now: the counters plus the
  // values sampled at this moment (connections, sessions, queue, process).
  void render_metrics(std::string& out);
  HourlyIpCounter& auth_failures() { return auth_failures_; }
  HourlyIpCounter& registrations() { return registrations_; }
  void random_bytes(uint8_t* out, size_t n);
  std::string make_id();

  // A session finished authenticating: it no longer counts as
  // unauthenticated toward the per-IP and global caps.
  void session_authenticated(C2sSession& session);
  // The session's connection is closed: it is destroyed after the current
  // callback stack unwinds.
  void session_closed(C2sSession& session);
  // Ends every session of |bare| (account removed).
  void kick_account(const protocol::Jid& bare, protocol::StreamCondition condition);

 private:
  explicit Server(const ServerConfig& config);
  void accept(net::AcceptedSocket&& socket, C2sPort port);
  void on_loop_prepare() override;
  void finish_if_drained();
  void check_stalls();
  void unschedule_self();

  ServerConfig config_;
  protocol::C2sConfig c2s_starttls_;
  protocol::C2sConfig c2s_direct_;
  protocol::C2sConfig c2s_compact_;  // spec/compact.md §3.2
  net::NetLoop loop_;
  std::unique_ptr<net::TlsContext> tls_;          // STARTTLS
  std::unique_ptr<net::TlsContext> direct_tls_;   // direct TLS, ALPN xmpp-client
  std::unique_ptr<net::TlsContext> compact_tls_;  // direct compact, ALPN xmppd-compact
  std::unique_ptr<LmdbEnv> env_;
  std::unique_ptr<AccountStore> accounts_;
  std::unique_ptr<RosterStore> rosters_;
  std::unique_ptr<MessageStore> messages_;
  std::unique_ptr<KeyStore> keys_;  // spec/e2e-keys.md
  SessionTable sessions_;
  ModuleRegistry modules_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<RosterService> roster_;
  std::unique_ptr<PresenceManager> presence_;
  std::unique_ptr<DeliveryQueue> delivery_;
  // A cluster node's link to NATS and its routing (docs/cluster.md); null
  // for a single node.
  std::unique_ptr<NatsLink> nats_;
  std::unique_ptr<ClusterNode> cluster_;
  std::unique_ptr<PushNotifier> push_;
  std::unordered_set<C2sSession*> stall_watch_;
  std::unique_ptr<net::Timer> stall_timer_;
  // Sends presence broadcasts held back by the rate limit (catalogue G51).
  std::unique_ptr<net::Timer> presence_timer_;
  std::unordered_map<std::string, C2sSession*> sm_sessions_;
  uint64_t started_wall_ms_ = 0;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  net::IpLimiter unauth_limiter_;
  size_t unauthenticated_ = 0;
  HourlyIpCounter auth_failures_;
  HourlyIpCounter registrations_;
  std::unordered_map<C2sSession*, std::unique_ptr<C2sSession>> live_;
  std::vector<C2sSession*> retired_;
  std::unique_ptr<net::SignalWatcher> sigterm_;
  std::unique_ptr<net::SignalWatcher> sigint_;
  std::unique_ptr<net::Timer> shutdown_deadline_;
  Metrics metrics_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  uint64_t started_loop_ms_ = 0;  // loop clock at start, for the uptime
  bool shutting_down_ = false;
  uint64_t next_id_ = 0;
};

// Creates the server for |config| and runs it; the process exit code.
int run_server(const ServerConfig& config);

}  // namespace xd::server
