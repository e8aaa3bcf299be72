#include "server/c2s_session.h"

#include "server/log.h"
#include "server/server.h"
#include "server/storage/account_store.h"

namespace xd::server {

using protocol::C2sEvent;
using protocol::Jid;
using protocol::StanzaCondition;
using protocol::StreamCondition;

std::unique_ptr<C2sSession> C2sSession::start(Server& server, net::AcceptedSocket&& socket,
                                              bool direct_tls) {
  std::string ip = socket.peer_ip();
  std::string address = socket.peer_address();
  std::unique_ptr<C2sSession> session(new C2sSession(server, direct_tls, ip));
  const ServerConfig& c = server.config();
  net::ConnectionOptions options;
  options.write_queue_cap = static_cast<size_t>(c.write_queue_bytes);
  options.read_rate.bytes_per_second = static_cast<uint64_t>(c.read_rate_bytes);
  options.read_rate.burst_ms = static_cast<uint64_t>(c.read_burst_s) * 1000;
  options.tls_handshake_timeout_ms = static_cast<uint64_t>(c.tls_handshake_timeout_s) * 1000;
  net::NetStatus status;
  session->connection_ =
      net::Connection::adopt(server.loop(), std::move(socket), *session, options, status);
  if (!session->connection_) {
    XD_WARN("c2s %s: cannot adopt the connection", address.c_str());
    return nullptr;
  }
  XD_INFO("c2s %s: connected%s", address.c_str(), direct_tls ? " (direct TLS)" : "");
  // RFC 6120 §4.6 / hostile-inputs.md: one deadline from accept to a bound
  // resource, not reset by traffic.
  session->negotiation_timer_.start(static_cast<uint64_t>(c.negotiation_timeout_s) * 1000);
  // Direct TLS (XEP-0368): the handshake starts at once; the stream begins
  // in on_tls_ready.
  if (direct_tls && !session->connection_->start_tls_server(*server.tls_context(true)).ok()) {
    session->connection_->close_now();
  }
  return session;
}

C2sSession::C2sSession(Server& server, bool direct_tls, std::string peer_ip)
    : server_(server),
      peer_ip_(std::move(peer_ip)),
      stream_(server.c2s_config(direct_tls), *this),
      negotiation_timer_(server.loop(),
                         [this] {
                           XD_INFO("c2s %s: negotiation timeout", peer_ip_.c_str());
                           kick(StreamCondition::kConnectionTimeout, {});
                         }),
      flush_timer_(server.loop(), [this] { on_parser_timer(); }),
      idle_timer_(server.loop(), [this] { on_idle_timer(); }),
      direct_tls_(direct_tls) {}

C2sSession::~C2sSession() = default;

void C2sSession::on_read(net::Connection&, std::string_view plaintext) {
  if (closing_) return;
  stream_.receive(plaintext);
  arm_parser_timer();
  if (in_table_) {
    // Any traffic proves the peer alive.
    ping_outstanding_ = false;
    idle_timer_.start(static_cast<uint64_t>(server_.config().idle_ping_s) * 1000);
  }
  pump();
}

void C2sSession::arm_parser_timer() {
  const ServerConfig& c = server_.config();
  if (stream_.wants_parser_flush()) {
    // Expat's reparse deferral may hold a complete stanza back until more
    // bytes arrive; a short timer re-parses once (hostile-inputs.md §3).
    flush_timer_.start(static_cast<uint64_t>(c.parser_flush_ms));
  } else if (c.parser_hibernate_ms > 0) {
    // After a quiet spell the parser's ~10 KB go back to the allocator.
    flush_timer_.start(static_cast<uint64_t>(c.parser_hibernate_ms));
  } else {
    flush_timer_.stop();
  }
}

void C2sSession::on_parser_timer() {
  if (closing_) return;
  if (stream_.wants_parser_flush()) {
    stream_.flush_parser();
    pump();
    if (!closing_) arm_parser_timer();
    return;
  }
  stream_.hibernate_parser();
}

void C2sSession::on_tls_ready(net::Connection& connection) {
  net::TlsInfo info;
  connection.tls_info(info);
  XD_INFO("c2s %s: TLS up (%s %s%s%s)", connection.peer_address().c_str(), info.protocol.c_str(),
          info.cipher.c_str(), info.alpn.empty() ? "" : " alpn ", info.alpn.c_str());
  stream_.tls_established(info.exporter, info.server_end_point, info.tls13);
  pump();
}

void C2sSession::on_closed(net::Connection& connection, std::string_view reason) {
  XD_INFO("c2s %s: closed (%.*s)%s%s", connection.peer_address().c_str(),
          static_cast<int>(reason.size()), reason.data(), in_table_ ? " " : "",
          in_table_ ? jid_.str().c_str() : "");
  closing_ = true;
  negotiation_timer_.stop();
  flush_timer_.stop();
  idle_timer_.stop();
  // An unclean end (no </stream:stream>) still means unavailable here;
  // stream management hibernation comes with the delivery issue.
  leave_table();
  server_.session_closed(*this);
}

void C2sSession::send_output() {
  std::string& out = stream_.output();
  if (out.empty() || !connection_) return;
  bool within_cap = connection_->write(out);
  stream_.clear_output();
  // write() also refuses once the connection is closing; only a full queue
  // is the slow-reader case.
  if (!within_cap && !closing_ && connection_->over_write_cap()) {
    // A reader that does not keep up (catalogue I57): close with
    // policy-violation; the stanzas it missed are the delivery issue's
    // business (offline storage / SM), here they are lost with the session.
    XD_WARN("c2s %s: write queue over %lld bytes, closing", peer_ip_.c_str(),
            static_cast<long long>(server_.config().write_queue_bytes));
    closing_ = true;
    connection_->close_now();
  }
}

void C2sSession::pump() {
  if (in_pump_) return;  // events are drained by the outer call
  in_pump_ = true;
  send_output();
  while (auto ev = stream_.next_event()) {
    switch (ev->type) {
      case C2sEvent::Type::kStartTls:
        send_output();
        if (!connection_->start_tls_server(*server_.tls_context(false)).ok()) {
          connection_->close_now();
          closing_ = true;
        }
        break;
      case C2sEvent::Type::kAuthenticated:
        authenticated_ = true;
        server_.session_authenticated(*this);
        break;
      case C2sEvent::Type::kBound:
        negotiation_timer_.stop();
        idle_timer_.start(static_cast<uint64_t>(server_.config().idle_ping_s) * 1000);
        XD_INFO("c2s %s: bound %s", peer_ip_.c_str(), jid_.str().c_str());
        break;
      case C2sEvent::Type::kStanza:
        if (in_table_) server_.router().route_from_client(*this, std::move(ev->stanza));
        break;
      case C2sEvent::Type::kClosed:
        send_output();
        XD_INFO("c2s %s: stream closed (%s)%s", peer_ip_.c_str(), ev->reason.c_str(),
                ev->error ? " with stream error" : "");
        closing_ = true;
        leave_table();
        connection_->close_after_flush();
        break;
    }
    send_output();
  }
  in_pump_ = false;
}

void C2sSession::deliver(const protocol::Element& stanza) {
  if (closing_) return;
  stream_.send_stanza(stanza);
  send_output();
}

void C2sSession::kick(StreamCondition condition, std::string_view text) {
  if (closing_) return;
  stream_.close(condition, text);
  pump();
}

void C2sSession::leave_table() {
  if (!in_table_) return;
  in_table_ = false;
  // A session replaced by a new one for the same full JID (conflict) is no
  // longer in the table; its successor's presence must not be undone.
  if (server_.sessions().find(jid_) != this) return;
  server_.presence().session_ended(*this);
  server_.sessions().remove(this);
}

void C2sSession::abort() {
  closing_ = true;
  if (connection_) connection_->close_now();
}

void C2sSession::on_idle_timer() {
  if (closing_) return;
  if (ping_outstanding_) {
    // RFC 6120 §4.6.1: no answer to our ping: the connection is dead.
    XD_INFO("c2s %s: idle peer did not answer the ping", peer_ip_.c_str());
    kick(StreamCondition::kConnectionTimeout, {});
    return;
  }
  // XEP-0199 §4.1: the server pings the client.
  protocol::Element ping("jabber:client", "iq");
  ping.set_attr("type", "get");
  ping.set_attr("id", server_.make_id());
  ping.set_attr("from", server_.config().domain);
  ping.set_attr("to", jid_.str());
  ping.add_child("urn:xmpp:ping", "ping");
  ping_outstanding_ = true;
  deliver(ping);
  idle_timer_.start(static_cast<uint64_t>(server_.config().idle_close_s) * 1000);
}

bool C2sSession::find_credentials(std::string_view username, protocol::ScramHash hash,
                                  protocol::ScramCredentials& out) {
  StoredAccount account;
  if (server_.accounts().get(username, account) != StorageError::kOk) return false;
  out = hash == protocol::ScramHash::kSha1 ? account.sha1 : account.sha256;
  return true;
}

std::optional<StanzaCondition> C2sSession::register_account(std::string_view username,
                                                            std::string_view password) {
  uint64_t now = server_.loop().now_ms();
  if (!server_.registrations().allowed(peer_ip_, now)) {
    XD_INFO("c2s %s: registration refused (rate limit)", peer_ip_.c_str());
    return StanzaCondition::kResourceConstraint;
  }
  StoredAccount account;
  if (make_account(
          username, password, [this](uint8_t* out, size_t n) { server_.random_bytes(out, n); },
          account) != StorageError::kOk) {
    return StanzaCondition::kNotAcceptable;
  }
  switch (server_.accounts().create(account)) {
    case StorageError::kOk:
      server_.registrations().add(peer_ip_, now);
      XD_INFO("c2s %s: registered %.*s", peer_ip_.c_str(), static_cast<int>(username.size()),
              username.data());
      return std::nullopt;
    case StorageError::kExists:
      return StanzaCondition::kConflict;
    case StorageError::kFull:
      return StanzaCondition::kResourceConstraint;
    default:
      return StanzaCondition::kInternalServerError;
  }
}

std::optional<StanzaCondition> C2sSession::bind_resource(const Jid& full) {
  SessionTable& table = server_.sessions();
  Session* existing = table.find(full);
  if (!existing &&
      table.count(full.bare()) >= static_cast<size_t>(server_.config().sessions_per_account)) {
    // XEP-0205 / catalogue F47: existing sessions are unaffected.
    return StanzaCondition::kResourceConstraint;
  }
  if (existing) {
    // RFC 6120 §7.7.2.2: the policy is "the new session wins"; the old one
    // gets a conflict stream error.
    table.remove(existing);
    existing->kick(StreamCondition::kConflict, "replaced by a new session");
  }
  jid_ = full;
  table.add(this);
  in_table_ = true;
  return std::nullopt;
}

void C2sSession::random_bytes(uint8_t* out, size_t n) { server_.random_bytes(out, n); }

bool C2sSession::auth_allowed() {
  return server_.auth_failures().allowed(peer_ip_, server_.loop().now_ms());
}

void C2sSession::auth_failed(std::string_view mechanism) {
  server_.auth_failures().add(peer_ip_, server_.loop().now_ms());
  XD_INFO("c2s %s: auth failed (%.*s)", peer_ip_.c_str(), static_cast<int>(mechanism.size()),
          mechanism.data());
}

void C2sSession::auth_succeeded(const Jid& bare, std::string_view mechanism) {
  XD_INFO("c2s %s: authenticated %s (%.*s)", peer_ip_.c_str(), bare.str().c_str(),
          static_cast<int>(mechanism.size()), mechanism.data());
}

}  // namespace xd::server
