#include "server/server.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "server/c2s_session.h"
#include "server/cluster/cluster_message_store.h"
#include "server/cluster/cluster_node.h"
#include "server/cluster/kv_account_store.h"
#include "server/cluster/kv_key_store.h"
#include "server/cluster/kv_roster_store.h"
#include "server/cluster/nats_link.h"
#include "server/log.h"
#include "server/metrics_endpoint.h"
#include "server/modules/modules.h"
#include "server/process_stats.h"
#include "server/storage/lmdb/lmdb_account_store.h"
#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/lmdb/lmdb_key_store.h"
#include "server/storage/lmdb/lmdb_message_store.h"
#include "server/storage/lmdb/lmdb_roster_store.h"

namespace xd::server {

namespace {

constexpr uint64_t kHourMs = 3600 * 1000;
constexpr uint64_t kShutdownDeadlineMs = 5000;  // Prosody's shutdown_deadline
constexpr size_t kMaxTrackedIps = 100000;

void fill_random(uint8_t* out, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) std::abort();  // no entropy: an environment failure
    out += got;
    n -= static_cast<size_t>(got);
  }
}

// The secret behind the fake SCRAM salts of unknown users. It must stay the
// same across restarts, or a repeated probe would see the salt change and
// learn that the account does not exist (catalogue E37).
bool load_server_secret(const std::string& dir, std::string& secret, std::string& error) {
  std::string path = dir + "/server-secret";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[64];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n == 32) {
      secret.assign(buf, 32);
      return true;
    }
    error = path + ": unreadable or wrong size";
    return false;
  }
  uint8_t fresh[32];
  fill_random(fresh, sizeof fresh);
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, fresh, sizeof fresh) != static_cast<ssize_t>(sizeof fresh) ||
      ::fsync(fd) != 0) {
    error = path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return false;
  }
  ::close(fd);
  secret.assign(reinterpret_cast<char*>(fresh), sizeof fresh);
  return true;
}

}  // namespace

bool is_loopback_ip(std::string_view ip) {
  return ip == "::1" || ip.rfind("127.", 0) == 0 || ip.rfind("::ffff:127.", 0) == 0;
}

bool HourlyIpCounter::allowed(const std::string& ip, uint64_t now_ms) {
  if (exempt_ && is_loopback_ip(ip)) return true;
  auto it = entries_.find(ip);
  if (it == entries_.end()) return true;
  if (now_ms - it->second.last_ms >= kHourMs) {
    entries_.erase(it);
    return true;
  }
  return it->second.count < limit_;
}

void HourlyIpCounter::add(const std::string& ip, uint64_t now_ms) {
  if (exempt_ && is_loopback_ip(ip)) return;
  if (entries_.size() >= kMaxTrackedIps) {
    // Bounded memory: forget quiet addresses, then an arbitrary one if needed.
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = now_ms - it->second.last_ms >= kHourMs ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= kMaxTrackedIps) entries_.erase(entries_.begin());
  }
  Entry& e = entries_[ip];
  // The count restarts only after an hour of quiet. It used to restart an
  // hour after the *first* event, which let 2 x limit failures through in a
  // few minutes across that boundary, and could end a refusal a minute
  // after it began (tests/unit/server/server_test.cc).
  if (e.count > 0 && now_ms - e.last_ms >= kHourMs) e.count = 0;
  e.last_ms = now_ms;
  ++e.count;
}

Server::Server(const ServerConfig& config)
    : config_(config),
      unauth_limiter_([&] {
        net::IpLimiterOptions o;
        o.max_concurrent_per_ip = static_cast<uint32_t>(config.max_unauthenticated_per_ip);
        o.connects_per_second = static_cast<double>(config.connects_per_ip_second);
        o.connect_burst = static_cast<double>(config.connect_burst_per_ip);
        o.exempt_loopback = config.loopback_exempt;
        return o;
      }()),
      auth_failures_(static_cast<uint64_t>(config.max_auth_failures_per_ip_hour),
                     config.loopback_exempt),
      registrations_(static_cast<uint64_t>(config.registrations_per_ip_hour),
                     config.loopback_exempt) {}

Server::~Server() {
  listeners_.clear();
  metrics_endpoint_.reset();
  for (auto& [raw, owned] : live_) owned.reset();
  live_.clear();
  for (C2sSession* s : retired_) delete s;
  retired_.clear();
  if (delivery_) delivery_->flush();
  // The node hands its queue back and leaves the directory, then the link
  // closes (no NATS callback runs after it); both refer to the delivery
  // queue.
  if (cluster_) cluster_->leave();
  cluster_.reset();
  nats_.reset();
  delivery_.reset();
  push_.reset();
  stall_timer_.reset();
  presence_timer_.reset();
  sigterm_.reset();
  sigint_.reset();
  shutdown_deadline_.reset();
  unschedule_self();
  loop_.close();
}

void Server::unschedule_self() { loop_.unschedule(*this); }

std::unique_ptr<Server> Server::create(const ServerConfig& config, std::string& error) {
  std::unique_ptr<Server> s(new Server(config));
  const ServerConfig& c = s->config_;

  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) {
    error = c.data_dir + ": " + ec.message();
    return nullptr;
  }
  std::string secret;
  if (!load_server_secret(c.data_dir, secret, error)) return nullptr;

  protocol::C2sConfig base;
  base.domain = c.domain;
  base.tls_available = !c.cert.empty();
  base.tls_required = !c.allow_plaintext;
  base.allow_registration = c.allow_registration;
  base.pre_auth.max_outstanding_bytes = static_cast<size_t>(c.max_stanza_bytes_pre_auth);
  base.pre_auth.max_depth = static_cast<size_t>(c.max_depth);
  base.pre_auth.max_attributes = static_cast<size_t>(c.max_attributes);
  base.pre_auth.max_elements_per_stanza = static_cast<size_t>(c.max_elements_pre_auth);
  base.post_auth = base.pre_auth;
  base.post_auth.max_outstanding_bytes = static_cast<size_t>(c.max_stanza_bytes);
  base.post_auth.max_elements_per_stanza = static_cast<size_t>(c.max_elements);
  // XEP-0478 <idle-seconds/>: C2sSession pings a bound client after this
  // much silence (on_idle_timer).
  base.idle_seconds = static_cast<uint32_t>(c.idle_ping_s);
  base.max_auth_failures = static_cast<uint32_t>(c.max_auth_failures);
  base.server_secret = secret;
  base.sm_resume_seconds = static_cast<uint32_t>(c.sm_resume_s);
  base.sm_max_unacked = static_cast<uint32_t>(c.sm_max_unacked);
  base.compact_available = c.compact;
  base.compact_compression = c.compact_compression;
  s->c2s_starttls_ = base;
  s->c2s_direct_ = base;
  s->c2s_direct_.direct_tls = true;
  s->c2s_compact_ = s->c2s_direct_;
  s->c2s_compact_.compact_direct = true;

  if (!c.cert.empty()) {
    s->tls_ = net::TlsContext::server(c.cert, c.key, error);
    if (!s->tls_) return nullptr;
    net::TlsServerOptions direct;
    direct.alpn = {"xmpp-client"};  // XEP-0368 §3
    s->direct_tls_ = net::TlsContext::server(c.cert, c.key, error, direct);
    if (!s->direct_tls_) return nullptr;
    net::TlsServerOptions compact;
    compact.alpn = {"xmppd-compact"};  // spec/compact.md §3.2
    s->compact_tls_ = net::TlsContext::server(c.cert, c.key, error, compact);
    if (!s->compact_tls_) return nullptr;
  }

  LmdbOptions lmdb;
  lmdb.path = c.data_dir;
  lmdb.map_size = static_cast<size_t>(c.lmdb_map_mb) << 20;
  lmdb.max_map_size = std::max(lmdb.map_size, static_cast<size_t>(c.lmdb_max_map_mb) << 20);
  s->env_ = LmdbEnv::open(lmdb, error);
  if (!s->env_) return nullptr;
  std::unique_ptr<LmdbAccountStore> accounts;
  std::unique_ptr<LmdbRosterStore> rosters;
  std::unique_ptr<LmdbMessageStore> messages;
  std::unique_ptr<LmdbKeyStore> keys;
  if (LmdbAccountStore::open(*s->env_, accounts) != StorageError::kOk ||
      LmdbRosterStore::open(*s->env_, rosters) != StorageError::kOk ||
      LmdbMessageStore::open(*s->env_, messages) != StorageError::kOk ||
      LmdbKeyStore::open(*s->env_, keys) != StorageError::kOk) {
    error = c.data_dir + ": cannot open the account, roster, message or key database";
    return nullptr;
  }
  s->accounts_ = std::move(accounts);
  s->rosters_ = std::move(rosters);
  if (!c.cluster.empty()) {
    // docs/cluster.md §3: accounts and rosters live in replicated buckets
    // so a user logs in on any node and finds the same roster; the local
    // LMDB keeps the node's queue.
    NatsLinkConfig nc;
    nc.urls = c.cluster;
    nc.node_id = c.node_id;
    nc.replicas = static_cast<int>(c.cluster_replicas);
    nc.dead_after_ms = c.cluster_dead_after_ms;
    nc.publish_timeout_ms = c.cluster_publish_timeout_ms;
    s->nats_ = NatsLink::open(s->loop_, nc, error);
    if (!s->nats_) return nullptr;
    auto kv_rosters = std::make_unique<KvRosterStore>(s->nats_->rosters_kv());
    s->accounts_ = std::make_unique<KvAccountStore>(s->nats_->accounts_kv(), kv_rosters.get());
    s->rosters_ = std::move(kv_rosters);
    s->keys_ = std::make_unique<KvKeyStore>(s->nats_->keys_kv());
    s->messages_ = std::make_unique<ClusterMessageStore>(std::move(messages), s->nats_->push_kv());
  }
  if (!s->messages_) s->messages_ = std::move(messages);
  if (!s->keys_) s->keys_ = std::move(keys);
  s->started_wall_ms_ = wall_clock_ms();
  s->started_loop_ms_ = s->loop_.now_ms();
  // Resumption records of streams that died with an earlier process and
  // were never resumed would otherwise stay forever; a week is far beyond
  // any resumption window (spec §5).
  constexpr uint64_t kSmRecordMaxAgeMs = 7ULL * 24 * 3600 * 1000;
  size_t pruned = 0;
  if (s->started_wall_ms_ > kSmRecordMaxAgeMs &&
      s->messages_->prune_sm(s->started_wall_ms_ - kSmRecordMaxAgeMs, pruned) ==
          StorageError::kOk &&
      pruned > 0) {
    XD_INFO("dropped %zu stale stream-management records", pruned);
  }

  protocol::Jid domain;
  if (protocol::Jid::parse(c.domain, domain) != protocol::JidError::kOk) {
    error = "invalid domain";
    return nullptr;
  }
  Server* self = s.get();
  s->router_ = std::make_unique<Router>(domain, *s->accounts_, s->sessions_, s->modules_);
  s->router_->set_metrics(&s->metrics_);
  s->roster_ = std::make_unique<RosterService>(*s->rosters_, *s->router_,
                                               [self] { return self->make_id(); });
  s->presence_ = std::make_unique<PresenceManager>(*s->router_, *s->roster_);
  s->router_->set_presence_manager(s->presence_.get());
  SendLimits send_limits;
  send_limits.max_recipients_per_minute = static_cast<uint64_t>(c.max_recipients_per_minute);
  send_limits.max_presence_broadcasts_per_minute =
      static_cast<uint64_t>(c.max_presence_broadcasts_per_minute);
  s->router_->set_send_limits(send_limits, [self] { return self->loop_.now_ms(); });
  s->presence_timer_ = std::make_unique<net::Timer>(s->loop_, [self] {
    if (uint64_t next = self->presence_->flush_deferred(); next > 0) {
      self->presence_timer_->start(next);
    }
  });
  s->presence_->set_deferred_hook([self](uint64_t delay_ms) {
    if (!self->presence_timer_->active()) self->presence_timer_->start(delay_ms);
  });
  QueuePolicy policy;
  policy.quota = static_cast<size_t>(c.offline_quota);
  policy.dedupe_window_ms = static_cast<uint64_t>(c.dedupe_window_s) * 1000;
  policy.dedupe_max = static_cast<size_t>(c.dedupe_max);
  policy.early_delivery = c.early_delivery;
  s->delivery_ = std::make_unique<DeliveryQueue>(s->loop_, *s->messages_, *s->router_, policy);
  s->delivery_->set_metrics(&s->metrics_);
  s->router_->set_delivery(s->delivery_.get());
  PushOptions push;
  push.min_interval_ms = static_cast<uint64_t>(c.push_interval_s) * 1000;
  push.include_body = c.push_include_body;
  s->push_ = std::make_unique<PushNotifier>(s->loop_, *s->messages_, *s->router_, push);
  s->delivery_->set_push(s->push_.get());
  s->stall_timer_ = std::make_unique<net::Timer>(s->loop_, [self] { self->check_stalls(); });
  // RFC 6121 §4.2 / spec/delivery.md §4: the backlog follows initial presence.
  if (s->nats_) {
    ClusterTimings timings;
    timings.heartbeat_ms = c.cluster_heartbeat_ms;
    timings.dead_after_ms = c.cluster_dead_after_ms;
    timings.journal = c.cluster_journal;
    s->cluster_ =
        std::make_unique<ClusterNode>(s->loop_, *s->nats_, *s->router_, *s->delivery_, timings);
    s->cluster_->set_push(s->push_.get());
    s->router_->set_cluster(s->cluster_.get());
    s->sessions_.set_observer(
        [self](const std::string& user) { self->cluster_->sessions_changed(user); });
  }
  s->presence_->set_initial_presence_hook([self](Session& session) {
    if (self->cluster_) {
      // docs/cluster.md §4: what waits in the offline stream joins the
      // local queue first, so the backlog has it between its markers.
      self->cluster_->login_backlog(session,
                                    [self](Session& s) { self->delivery_->deliver_backlog(s); });
      return;
    }
    self->delivery_->deliver_backlog(session);
  });
  s->roster_->install(s->modules_);
  install_disco(s->modules_, *s->router_);
  install_ping(s->modules_, *s->router_);
  install_version(s->modules_, *s->router_);
  install_carbons(s->modules_, *s->router_);
  install_push(s->modules_, *s->router_, *s->messages_);
  KeyStoreLimits key_limits;
  key_limits.max_devices = static_cast<size_t>(c.e2e_max_devices);
  key_limits.max_prekeys_per_device = static_cast<size_t>(c.e2e_max_prekeys);
  install_e2e_keys(s->modules_, *s->router_, *s->keys_, key_limits);
  install_account(
      s->modules_, *s->router_, *s->accounts_,
      [self](uint8_t* out, size_t n) { self->random_bytes(out, n); },
      [self](const protocol::Jid& bare) {
        self->kick_account(bare, protocol::StreamCondition::kNotAuthorized);
        // Its queue, push registrations and E2E keys go with the account
        // (spec/e2e-keys.md §6.2).
        self->messages_->clear(bare.local());
        self->messages_->set_push(bare.local(), {});
        if (self->keys_->remove_user(bare.local()) != StorageError::kOk) {
          XD_WARN("%s: removed, but its e2e keys could not be deleted", bare.str().c_str());
        }
      });

  auto add_listeners = [&](const std::vector<std::string>& addrs, C2sPort port) -> bool {
    for (const std::string& a : addrs) {
      net::NetStatus status;
      auto l = net::Listener::listen(
          s->loop_, a, net::ListenerOptions{},
          [self, port](net::AcceptedSocket&& sock) { self->accept(std::move(sock), port); },
          status);
      if (!l) {
        error = "listen " + a + ": " + status.to_string();
        return false;
      }
      XD_INFO("listening on %s (%s)", l->local_address().c_str(),
              port == C2sPort::kStartTls    ? "STARTTLS"
              : port == C2sPort::kDirectTls ? "direct TLS"
                                            : "compact");
      s->listeners_.push_back(std::move(l));
    }
    return true;
  };
  if (!add_listeners(c.listen, C2sPort::kStartTls) ||
      !add_listeners(c.tls_listen, C2sPort::kDirectTls) ||
      !add_listeners(c.compact_listen, C2sPort::kCompact)) {
    return nullptr;
  }

  if (!c.metrics.empty()) {
    MetricsEndpointOptions options;
    options.max_connections = static_cast<size_t>(c.metrics_max_connections);
    options.request_timeout_ms = static_cast<uint64_t>(c.metrics_request_timeout_ms);
    net::NetStatus status;
    s->metrics_endpoint_ = MetricsEndpoint::listen(
        s->loop_, c.metrics, options, [self](std::string& out) { self->render_metrics(out); },
        status);
    if (!s->metrics_endpoint_) {
      error = "metrics " + c.metrics + ": " + status.to_string();
      return nullptr;
    }
    XD_INFO("metrics on http://%s/metrics", s->metrics_endpoint_->local_address().c_str());
  }

  if (s->cluster_ && !s->cluster_->start(error)) return nullptr;

  s->sigterm_ =
      std::make_unique<net::SignalWatcher>(s->loop_, SIGTERM, [self] { self->shutdown(); });
  s->sigint_ = std::make_unique<net::SignalWatcher>(s->loop_, SIGINT, [self] { self->shutdown(); });
  return s;
}

void Server::random_bytes(uint8_t* out, size_t n) { fill_random(out, n); }

std::string Server::make_id() {
  uint8_t r[6];
  fill_random(r, sizeof r);
  static const char kHex[] = "0123456789abcdef";
  std::string id = "xd";
  for (uint8_t b : r) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 15]);
  }
  id += std::to_string(++next_id_);
  return id;
}

void Server::accept(net::AcceptedSocket&& socket, C2sPort port) {
  if (shutting_down_) return;  // the socket closes as it goes out of scope
  const std::string ip = socket.peer_ip();
  // Caps on unauthenticated connections, per IP and in total (XEP-0205
  // §4.1-4.2, catalogue I56/I59): refused at accept, with no XMPP error.
  if (unauthenticated_ >= static_cast<size_t>(config_.max_unauthenticated)) {
    ++metrics_.connections_refused[static_cast<size_t>(RefusalReason::kGlobalCap)];
    XD_WARN("refusing %s: %zu unauthenticated connections", socket.peer_address().c_str(),
            unauthenticated_);
    return;
  }
  const net::IpLimiter::Verdict verdict = unauth_limiter_.admit(ip, loop_.now_ms());
  if (verdict != net::IpLimiter::Verdict::kAdmit) {
    const RefusalReason reason =
        verdict == net::IpLimiter::Verdict::kTooFast             ? RefusalReason::kPerIpRate
        : verdict == net::IpLimiter::Verdict::kTooManyConcurrent ? RefusalReason::kPerIpConcurrent
                                                                 : RefusalReason::kIpTableFull;
    ++metrics_.connections_refused[static_cast<size_t>(reason)];
    XD_INFO("refusing %s: per-IP limit (%s)", socket.peer_address().c_str(),
            verdict == net::IpLimiter::Verdict::kTooFast             ? "connect rate"
            : verdict == net::IpLimiter::Verdict::kTooManyConcurrent ? "unauthenticated connections"
                                                                     : "address table full");
    return;
  }
  auto session = C2sSession::start(*this, std::move(socket), port);
  if (!session) {
    unauth_limiter_.release(ip);
    return;
  }
  ++unauthenticated_;
  ++metrics_.connections_accepted;
  C2sSession* raw = session.get();
  live_.emplace(raw, std::move(session));
}

void Server::session_authenticated(C2sSession& session) {
  if (unauthenticated_ > 0) --unauthenticated_;
  unauth_limiter_.release(session.peer_ip());
}

void Server::session_closed(C2sSession& session) {
  auto it = live_.find(&session);
  if (it == live_.end()) return;
  if (!session.authenticated()) {
    if (unauthenticated_ > 0) --unauthenticated_;
    unauth_limiter_.release(session.peer_ip());
  }
  // Destroyed once the current callback stack has unwound (conventions §6).
  retired_.push_back(it->second.release());
  live_.erase(it);
  loop_.schedule(*this);
}

void Server::on_loop_prepare() {
  std::vector<C2sSession*> doomed;
  doomed.swap(retired_);
  for (C2sSession* s : doomed) delete s;
  finish_if_drained();
}

void Server::unregister_sm(const std::string& id, C2sSession* session) {
  auto it = sm_sessions_.find(id);
  if (it != sm_sessions_.end() && it->second == session) sm_sessions_.erase(it);
}

C2sSession* Server::find_sm(std::string_view id) const {
  auto it = sm_sessions_.find(std::string(id));
  return it == sm_sessions_.end() ? nullptr : it->second;
}

void Server::watch_stall(C2sSession* session) {
  stall_watch_.insert(session);
  if (!stall_timer_->active()) stall_timer_->start(1000);
}

void Server::check_stalls() {
  const uint64_t now = loop_.now_ms();
  const uint64_t limit = static_cast<uint64_t>(config_.push_unacked_s) * 1000;
  for (auto it = stall_watch_.begin(); it != stall_watch_.end();) {
    C2sSession* s = *it;
    if (s->unacked_since_ms() == 0) {
      it = stall_watch_.erase(it);
      continue;
    }
    if (!s->stall_notified() && now >= s->unacked_since_ms() + limit) {
      s->set_stall_notified();
      push_->stalled(s->jid().local());
    }
    ++it;
  }
  if (!stall_watch_.empty()) stall_timer_->start(1000);
}

void Server::kick_account(const protocol::Jid& bare, protocol::StreamCondition condition) {
  std::vector<Session*> victims = sessions_.resources(bare);
  for (Session* s : victims) s->kick(condition, "account removed");
}

void Server::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  XD_INFO("shutting down: %zu connections", live_.size());
  listeners_.clear();
  metrics_endpoint_.reset();
  // architecture.md §3.4: every stream gets system-shutdown.
  std::vector<C2sSession*> all;
  for (auto& [raw, owned] : live_) all.push_back(raw);
  for (C2sSession* s : all) s->kick(protocol::StreamCondition::kSystemShutdown, {});
  shutdown_deadline_ = std::make_unique<net::Timer>(loop_, [this] {
    XD_WARN("shutdown deadline: closing %zu connections now", live_.size());
    std::vector<C2sSession*> rest;
    for (auto& [raw, owned] : live_) rest.push_back(raw);
    for (C2sSession* s : rest) s->abort();
  });
  shutdown_deadline_->start(kShutdownDeadlineMs);
  loop_.schedule(*this);
}

void Server::finish_if_drained() {
  if (!shutting_down_ || !live_.empty() || !retired_.empty()) return;
  // Releasing the last handles lets uv_run return.
  if (stall_timer_) stall_timer_->stop();
  if (presence_timer_) presence_timer_->stop();
  if (push_) push_->stop();
  shutdown_deadline_.reset();
  sigterm_.reset();
  sigint_.reset();
}

void Server::render_metrics(std::string& out) {
  MetricsSnapshot s;
  // Sampled, not counted: one pass over the live sessions per scrape is
  // cheaper than keeping gauges right through every state change, and it
  // cannot drift.
  for (const auto& [raw, owned] : live_) {
    if (raw->hibernating()) {
      ++s.sessions_hibernating;
    } else if (std::optional<C2sTransport> t = raw->transport()) {
      ++s.connections[static_cast<size_t>(*t)];
    }
  }
  s.connections_unauthenticated = unauthenticated_;
  for (const auto& l : listeners_) s.connections_shed += l->shed();
  s.sessions_bound = sessions_.total();
  size_t depth = 0;
  if (messages_ && messages_->count_all(depth) == StorageError::kOk) s.queue_depth = depth;
  if (delivery_) s.queue_in_flight = delivery_->in_flight();
  s.uptime_ms = loop_.now_ms() - started_loop_ms_;
  s.process = read_process_stats();
  xd::server::render_metrics(metrics_, s, out);
}

int Server::run() {
  loop_.run();
  // architecture.md §3.4: what the last iteration accepted is persisted.
  if (delivery_) delivery_->flush();
  XD_INFO("stopped");
  return 0;
}

int run_server(const ServerConfig& config) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string error;
  auto server = Server::create(config, error);
  if (!server) {
    XD_ERROR("cannot start: %s", error.c_str());
    return 1;
  }
  XD_INFO("xmppd serving %s (data %s)", config.domain.c_str(), config.data_dir.c_str());
  return server->run();
}

}  // namespace xd::server
