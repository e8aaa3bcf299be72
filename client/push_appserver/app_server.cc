#include "client/push_appserver/app_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <utility>

#include "client/push_appserver/push_notification.h"
#include "net/address.h"
#include "protocol/stanza_error.h"
#include "protocol/xml/serializer.h"

namespace xd::client {
namespace {

constexpr std::string_view kClientNs = "jabber:client";
// A session that stayed up this long resets the reconnect backoff, so a
// server that accepts and at once drops us is not retried at full speed.
constexpr std::uint64_t kStableSessionMs = 10'000;

// RFC 3339 UTC with milliseconds, e.g. "2026-11-28T03:41:07.123Z".
std::string utc_now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char text[40];
  const int n = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                              utc.tm_min, utc.tm_sec, ts.tv_nsec / 1'000'000);
  return std::string(text, static_cast<std::size_t>(n));
}

// Resolves |host_port| to the numeric "IP:PORT" Connection::connect takes.
// A name is looked up with getaddrinfo (blocking: the app server has
// nothing else to do while it is not connected).
bool resolve(const std::string& host_port, std::string& out, std::string& error) {
  net::HostPort parsed;
  if (!net::parse_host_port(host_port, parsed)) {
    error = "not HOST:PORT: " + host_port;
    return false;
  }
  if (net::is_ip_literal(parsed.host)) {
    out = host_port;
    return true;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(parsed.port);
  const int rc = getaddrinfo(parsed.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || !found) {
    error = "cannot resolve " + parsed.host + ": " + gai_strerror(rc);
    return false;
  }
  out = net::format_address(found->ai_addr);
  freeaddrinfo(found);
  return true;
}

// A peer-supplied string made safe for a one-line log entry.
std::string for_log(std::string_view text) {
  std::string out;
  append_json_string(out, text.substr(0, 200));
  return out;
}

}  // namespace

AppServer::AppServer(net::NetLoop& loop, const AppServerOptions& options)
    : loop_(&loop), options_(options), jitter_(std::random_device{}()) {}

AppServer::~AppServer() { shutdown(); }

void AppServer::shutdown() {
  reconnect_timer_.reset();
  keepalive_timer_.reset();
  login_timer_.reset();
  sigint_.reset();
  sigterm_.reset();
  // Connection destructors release sockets without calling back.
  session_.reset();
  session_live_ = false;
  commands_.reset();
}

bool AppServer::start(std::string& error) {
  if (options_.tls) {
    tls_ = net::TlsContext::client(options_.ca_file, error);
    if (!tls_) return false;
  }
  if (!options_.command.empty()) {
    CommandOptions command;
    command.command = options_.command;
    command.timeout_ms = options_.command_timeout_ms;
    command.max_running = std::max<std::size_t>(options_.max_running, 1);
    command.max_queued = options_.max_queued;
    commands_ = std::make_unique<CommandRunner>(*loop_, std::move(command));
  }
  sigint_ = std::make_unique<net::SignalWatcher>(*loop_, SIGINT, [this] { stop(); });
  sigterm_ = std::make_unique<net::SignalWatcher>(*loop_, SIGTERM, [this] { stop(); });
  sigint_->unref();
  sigterm_->unref();
  reconnect_timer_ = std::make_unique<net::Timer>(*loop_, [this] { connect(); });
  login_timer_ = std::make_unique<net::Timer>(*loop_, [this] { on_login_timeout(); });
  if (options_.keepalive_ms > 0) {
    keepalive_timer_ = std::make_unique<net::Timer>(*loop_, [this] { on_keepalive(); });
    keepalive_timer_->start_repeating(options_.keepalive_ms, options_.keepalive_ms);
  }
  connect();
  return true;
}

void AppServer::connect() {
  if (stopping_) return;
  ++attempt_;
  std::string address, error;
  if (!resolve(options_.server, address, error)) {
    std::fprintf(stderr, "xd-push-appserver: %s\n", error.c_str());
    schedule_reconnect();
    return;
  }
  SessionConfig config;
  config.server = address;
  config.domain = options_.domain;
  config.username = options_.username;
  config.password = options_.password;
  config.resource = options_.resource;
  config.mech = options_.mech;
  config.tls = tls_.get();
  config.tls_host = options_.tls_host;
  // Called from start() or the reconnect timer, never from the previous
  // session's callbacks: replacing it here is safe.
  session_ = std::make_unique<LoginSession>(*loop_, config, *this, 0);
  if (!session_->start(error)) {
    std::fprintf(stderr, "xd-push-appserver: connect %s: %s\n", address.c_str(), error.c_str());
    schedule_reconnect();
    return;
  }
  session_live_ = true;
  login_timer_->start(options_.login_timeout_ms);
}

void AppServer::on_login_timeout() {
  // A server that accepts TCP but never finishes the stream (stopped,
  // overloaded): give up on this attempt; on_ended() schedules the next.
  if (!session_ || !session_live_ || session_->bound()) return;
  std::fprintf(stderr, "xd-push-appserver: login not complete after %llu ms\n",
               static_cast<unsigned long long>(options_.login_timeout_ms));
  session_->close();
}

void AppServer::schedule_reconnect() {
  if (stopping_) {
    maybe_stopped();
    return;
  }
  const std::uint64_t doublings = std::min<std::uint64_t>(attempt_ > 0 ? attempt_ - 1 : 0, 20);
  const std::uint64_t base =
      std::min(options_.reconnect_max_ms, options_.reconnect_min_ms << doublings);
  // ±20% jitter, so app servers cut off together do not return together.
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  const auto delay = static_cast<std::uint64_t>(static_cast<double>(base) * spread(jitter_));
  std::fprintf(stderr, "xd-push-appserver: reconnecting in %.1f s\n",
               static_cast<double>(delay) / 1000);
  reconnect_timer_->start(delay);
}

void AppServer::on_bound(LoginSession& session) {
  login_timer_->stop();
  bound_at_ms_ = loop_->now_ms();
  ping_sent_ms_ = 0;
  std::fprintf(stderr, "xd-push-appserver: online as %s\n", session.jid().c_str());
  // Available, priority 0: messages to the bare JID are taken (and
  // ignored) rather than piling up in the offline queue.
  session.send("<presence/>");
}

void AppServer::on_message(LoginSession& /*session*/, const protocol::Element& /*message*/) {
  // An app server receives notifications as IQs; messages are ignored.
}

bool AppServer::on_iq_request(LoginSession& session, const protocol::Element& iq) {
  PushNotification notification;
  std::string why;
  switch (parse_push(iq, notification, why)) {
    case PushParse::kNotPush:
      // The session answers: a result for a ping, service-unavailable else.
      return false;
    case PushParse::kMalformed:
      std::fprintf(stderr, "xd-push-appserver: malformed push from %s id %s: %s\n",
                   for_log(iq.attr_or("from")).c_str(), for_log(iq.attr_or("id")).c_str(),
                   why.c_str());
      send_error(session, iq, protocol::StanzaError{protocol::StanzaCondition::kBadRequest});
      return true;
    case PushParse::kOk:
      break;
  }
  protocol::StanzaError error;
  if (!deliver(push_json(notification, utc_now()), error)) {
    send_error(session, iq, error);
    return true;
  }
  ++accepted_;
  send_result(session, iq);
  return true;
}

bool AppServer::deliver(const std::string& line, protocol::StanzaError& error) {
  // A 'wait' error: XEP-0357 §7.1 lets the server keep the registration
  // for an error it deems transient.
  error.type = protocol::StanzaErrorType::kWait;
  if (!commands_) {
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() ||
        std::fflush(stdout) != 0) {
      std::perror("xd-push-appserver: stdout");
      std::clearerr(stdout);
      error.condition = protocol::StanzaCondition::kInternalServerError;
      return false;
    }
    return true;
  }
  switch (commands_->submit(line)) {
    case SubmitResult::kStarted:
    case SubmitResult::kQueued:
      return true;
    case SubmitResult::kQueueFull:
      std::fprintf(stderr, "xd-push-appserver: %zu commands running and %zu queued: refusing\n",
                   commands_->running(), commands_->queued());
      error.condition = protocol::StanzaCondition::kResourceConstraint;
      return false;
    case SubmitResult::kSpawnFailed:
      error.condition = protocol::StanzaCondition::kInternalServerError;
      return false;
    case SubmitResult::kDraining:
      error.condition = protocol::StanzaCondition::kServiceUnavailable;
      return false;
  }
  return false;
}

void AppServer::send_result(LoginSession& session, const protocol::Element& iq) {
  protocol::Element reply(kClientNs, "iq");
  reply.set_attr("type", "result");
  if (const std::string* id = iq.attr("id")) reply.set_attr("id", *id);
  if (const std::string* from = iq.attr("from")) reply.set_attr("to", *from);
  session.send(protocol::to_xml(reply, kClientNs));
}

void AppServer::send_error(LoginSession& session, const protocol::Element& iq,
                           const protocol::StanzaError& error) {
  std::unique_ptr<protocol::Element> reply = protocol::make_error_reply(iq, error);
  if (!reply) return;
  // The server stamps our full JID (RFC 6120 §8.1.2.1); the swapped 'from'
  // could be a bare JID it would have to check.
  reply->remove_attr("from");
  session.send(protocol::to_xml(*reply, kClientNs));
}

void AppServer::on_ended(LoginSession& session, std::string_view reason) {
  session_live_ = false;
  login_timer_->stop();
  const bool was_bound = session.was_bound();
  std::fprintf(stderr, "xd-push-appserver: %s: %.*s\n",
               was_bound ? "disconnected" : "connection attempt failed",
               static_cast<int>(reason.size()), reason.data());
  if (was_bound && loop_->now_ms() - bound_at_ms_ >= kStableSessionMs) attempt_ = 0;
  schedule_reconnect();
}

void AppServer::on_keepalive() {
  if (!session_ || !session_live_ || !session_->bound()) return;
  const std::uint64_t now = loop_->now_ms();
  if (ping_sent_ms_ != 0) {
    // Anything read since the ping proves the peer alive (a ping is only
    // sent after a whole quiet period, so an older read is strictly older).
    if (session_->last_read_ms() >= ping_sent_ms_) {
      ping_sent_ms_ = 0;
    } else {
      std::fprintf(stderr, "xd-push-appserver: no answer to the keepalive ping\n");
      ping_sent_ms_ = 0;
      session_->close();
      return;
    }
  }
  if (now - session_->last_read_ms() < options_.keepalive_ms) return;
  char ping[64];
  const int n = std::snprintf(ping, sizeof ping, "<iq type='get' id='ka%llu' to='",
                              static_cast<unsigned long long>(++ping_counter_));
  std::string stanza(ping, static_cast<std::size_t>(n));
  protocol::append_escaped_attr(stanza, options_.domain);
  stanza += "'><ping xmlns='urn:xmpp:ping'/></iq>";
  session_->send(stanza);
  ping_sent_ms_ = now;
}

void AppServer::stop() {
  if (stopping_) return;
  stopping_ = true;
  std::fprintf(stderr, "xd-push-appserver: shutting down\n");
  reconnect_timer_->stop();
  login_timer_->stop();
  if (keepalive_timer_) keepalive_timer_->stop();
  if (session_ && session_live_) session_->close();
  if (commands_) {
    commands_->drain([this] {
      commands_drained_ = true;
      maybe_stopped();
    });
  } else {
    commands_drained_ = true;
  }
  maybe_stopped();
}

void AppServer::maybe_stopped() {
  if (stopping_ && !session_live_ && commands_drained_) loop_->stop();
}

}  // namespace xd::client
