#include "server/c2s_session.h"

#include <algorithm>

#include "protocol/compact/wire.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"
#include "server/cluster/cluster_node.h"
#include "server/delivery_queue.h"
#include "server/log.h"
#include "server/server.h"
#include "server/storage/account_store.h"
#include "server/storage/fault_hook.h"
#include "server/stored_stanza.h"

namespace xd::server {

using protocol::C2sEvent;
using protocol::Jid;
using protocol::StanzaCondition;
using protocol::StreamCondition;

namespace {

constexpr std::string_view kClientNs = "jabber:client";
// XEP-0352: held stanzas beyond this are sent anyway (bounded memory).
constexpr size_t kMaxCsiHeld = 128;

// XEP-0352 §5 (business rules left to the server): what an inactive client
// still gets at once. IQs, messages with content, errors and subscription
// requests are urgent; presence updates and chat states can wait.
bool csi_urgent(const protocol::Element& stanza) {
  const std::string& name = stanza.name();
  const std::string_view type = stanza.attr_or("type");
  if (name == "iq" || type == "error") return true;
  if (name == "message") return is_storable(stanza) || type == "headline";
  return !type.empty() && type != "unavailable";
}

}  // namespace

std::unique_ptr<C2sSession> C2sSession::start(Server& server, net::AcceptedSocket&& socket,
                                              C2sPort port) {
  std::string ip = socket.peer_ip();
  std::string address = socket.peer_address();
  std::unique_ptr<C2sSession> session(new C2sSession(server, port, ip));
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
  XD_INFO("c2s %s: connected%s", address.c_str(),
          port == C2sPort::kStartTls    ? ""
          : port == C2sPort::kDirectTls ? " (direct TLS)"
                                        : " (compact)");
  // RFC 6120 §4.6 / hostile-inputs.md: one deadline from accept to a bound
  // resource, not reset by traffic.
  session->negotiation_timer_.start(static_cast<uint64_t>(c.negotiation_timeout_s) * 1000);
  // Direct TLS (XEP-0368): the handshake starts at once; the stream begins
  // in on_tls_ready.
  if (port != C2sPort::kStartTls &&
      !session->connection_->start_tls_server(*server.tls_context(port)).ok()) {
    session->connection_->close_now();
  }
  return session;
}

C2sSession::C2sSession(Server& server, C2sPort port, std::string peer_ip)
    : server_(server),
      port_(port),
      peer_ip_(std::move(peer_ip)),
      stream_(server.c2s_config(port), *this),
      negotiation_timer_(server.loop(),
                         [this] {
                           XD_INFO("c2s %s: negotiation timeout", peer_ip_.c_str());
                           kick(StreamCondition::kConnectionTimeout, {});
                         }),
      flush_timer_(server.loop(), [this] { on_parser_timer(); }),
      idle_timer_(server.loop(), [this] { on_idle_timer(); }) {}

C2sSession::~C2sSession() {
  server_.unwatch_stall(this);
  // A session destroyed without ending (server teardown) must not be
  // called back by a commit still pending.
  if (DeliveryQueue* delivery = server_.delivery_if_any()) delivery->forget(*this);
  if (ClusterNode* cluster = server_.cluster()) cluster->forget(*this);
}

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
  if (!closing_ && in_table_ && resumable()) {
    // XEP-0198 §5: the client may come back and resume.
    hibernate();
    return;
  }
  closing_ = true;
  negotiation_timer_.stop();
  flush_timer_.stop();
  idle_timer_.stop();
  end_session();
  server_.session_closed(*this);
}

void C2sSession::on_delivered(net::Connection& connection) {
  // spec/delivery.md §1.3: without stream management a queued stanza is
  // done once the kernel has taken its last byte.
  const uint64_t mark = connection.delivered_mark();
  if (backlog_mark_ != 0 && mark >= backlog_mark_) {
    // spec §8: backlog on the wire, the recipient's ack not yet in.
    backlog_mark_ = 0;
    fault_point("after-offline-write");
  }
  // The write queue drained: the backlog may continue.
  if (!closing_) server_.delivery().resume_backlog(*this);
  size_t done = 0;
  while (done < pending_writes_.size() && pending_writes_[done].mark <= mark) {
    server_.delivery().delivered(jid_.local(), pending_writes_[done].seq);
    ++done;
  }
  pending_writes_.erase(pending_writes_.begin(), pending_writes_.begin() + done);
  if (pending_writes_.empty() && pending_writes_.capacity() > 16) pending_writes_.shrink_to_fit();
}

void C2sSession::send_output() {
  std::string& out = stream_.output();
  if (out.empty() || !connection_) return;
  bool within_cap = connection_->write(out);
  stream_.clear_output();
  // write() also refuses once the connection is closing; only a full queue
  // is the slow-reader case.
  if (!within_cap && !closing_ && connection_->over_write_cap()) {
    // A reader that does not keep up (catalogue I57). The queue is full, so
    // no stream error can get through: the connection is dropped. With
    // resumable stream management the session hibernates (on_closed);
    // otherwise it ends, and the queued stanzas it had not taken stay in
    // the durable queue for its next login.
    XD_WARN("c2s %s: write queue over %lld bytes, dropping the connection", peer_ip_.c_str(),
            static_cast<long long>(server_.config().write_queue_bytes));
    if (!(in_table_ && resumable())) closing_ = true;
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
        if (!connection_->start_tls_server(*server_.tls_context(C2sPort::kStartTls)).ok()) {
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
      case C2sEvent::Type::kStanza: {
        if (!in_table_) break;
        const bool own_presence = ev->stanza->name() == "presence" && !ev->stanza->attr("to");
        server_.metrics().count_stanza_in(ev->stanza->name());
        routing_seq_ = ev->seq;
        routing_counted_ = ev->sm_counted;
        server_.router().route_from_client(*this, std::move(ev->stanza));
        routing_counted_ = false;
        // The persisted resumption state carries the current presence.
        if (own_presence && !sm_id_.empty()) server_.delivery().persist_sm(sm_record());
        break;
      }
      case C2sEvent::Type::kSmEnabled:
        sm_id_ = ev->sm_id;
        XD_INFO("c2s %s: stream management enabled%s", peer_ip_.c_str(),
                sm_id_.empty() ? "" : " (resumable)");
        if (!sm_id_.empty()) {
          server_.register_sm(sm_id_, this);
          server_.delivery().persist_sm(sm_record());
        }
        break;
      case C2sEvent::Type::kSmRequest:
        // Answered at once with what is committed (hostile-inputs.md,
        // durability contract 1); an <a/> follows the pending commits.
        stream_.send_sm_ack(handled());
        ack_requested_ = !pending_acks_.empty();
        break;
      case C2sEvent::Type::kSmAcked: {
        for (uint64_t seq : ev->tags) server_.delivery().delivered(jid_.local(), seq);
        const protocol::StreamManagement* sm = stream_.sm();
        const bool durable_left = sm && std::any_of(sm->unacked().begin(), sm->unacked().end(),
                                                    [](const auto& s) { return s.tag != 0; });
        if (!durable_left) {
          unacked_since_ms_ = 0;
          stall_notified_ = false;
        }
        room_requested_ = false;
        server_.delivery().resume_backlog(*this);
        break;
      }
      case C2sEvent::Type::kResumed:
        on_resumed(*ev);
        break;
      case C2sEvent::Type::kCompact:
        XD_INFO("c2s %s: compact dialect on%s", peer_ip_.c_str(),
                stream_.compact_compression() ? " with zstd frames" : "");
        break;
      case C2sEvent::Type::kClientState:
        csi_inactive_ = !ev->active;
        if (ev->active) flush_csi();
        break;
      case C2sEvent::Type::kClosed:
        send_output();
        XD_INFO("c2s %s: stream closed (%s)%s", peer_ip_.c_str(), ev->reason.c_str(),
                ev->error ? " with stream error" : "");
        if (ev->error) server_.metrics().count_stream_error(*ev->error);
        closing_ = true;
        end_session();
        connection_->close_after_flush();
        break;
    }
    send_output();
  }
  in_pump_ = false;
}

void C2sSession::deliver(const protocol::Element& stanza) {
  if (hibernating_) {
    std::string xml;
    if (!protocol::serialize(stanza, xml, kClientNs) ||
        !stream_.hold_serialized(std::move(xml), 0)) {
      // Over the unacknowledged cap while away: the session ends (from the
      // timer, since the caller may be iterating the session table); what
      // is durable waits for the next login.
      idle_timer_.start(0);
    }
    return;
  }
  if (closing_) return;
  if (csi_inactive_ && !csi_urgent(stanza)) {
    Held h;
    h.kind = stanza_kind(stanza.name()).value_or(StanzaKind::kMessage);
    if (stanza.name() == "presence") {
      h.presence_from = std::string(stanza.attr_or("from"));
      std::erase_if(csi_held_, [&](const Held& o) { return o.presence_from == h.presence_from; });
    }
    if (protocol::serialize(stanza, h.xml, kClientNs)) csi_held_.push_back(std::move(h));
    if (csi_held_.size() > kMaxCsiHeld) flush_csi();
    return;
  }
  flush_csi();
  if (stream_.send_stanza(stanza)) server_.metrics().count_stanza_out(stanza.name());
  send_output();
  if (stream_.state() == protocol::C2sState::kClosed) pump();
}

void C2sSession::flush_csi() {
  if (csi_held_.empty()) return;
  std::vector<Held> held = std::move(csi_held_);
  csi_held_.clear();
  for (Held& h : held) {
    if (hibernating_) {
      stream_.hold_serialized(std::move(h.xml), 0);
    } else if (!closing_ && stream_.send_serialized(h.xml, 0)) {
      server_.metrics().count_stanza_out(h.kind);
    }
  }
  send_output();
}

bool C2sSession::deliver_queued(const QueuedStanza& q, bool delayed,
                                const protocol::Element* live) {
  const std::string& domain = server_.config().domain;
  // The stored bytes go out as they are to a compact client (spec/
  // compact.md §4); everyone else gets the element, serialized once.
  const std::string_view body = delayed ? std::string_view() : stored_compact_body(q.data);
  std::unique_ptr<protocol::Element> decoded;
  const protocol::Element* element = delayed ? nullptr : live;
  auto need_element = [&]() -> const protocol::Element* {
    if (element) return element;
    decoded = live ? live->clone() : decode_stored(q.data, domain);
    if (decoded && delayed) add_delay(*decoded, q.stamp_ms, domain);
    element = decoded.get();
    if (!element)
      XD_ERROR("c2s %s: queue entry %llu does not decode", peer_ip_.c_str(),
               static_cast<unsigned long long>(q.seq));
    return element;
  };
  auto send = [&](uint64_t tag) {
    if (stream_.compact() && !body.empty()) return stream_.send_compact_body(body, tag);
    return need_element() && stream_.send_stanza(*element, tag);
  };
  if (hibernating_) {
    std::string xml;
    return need_element() && protocol::serialize(*element, xml, kClientNs) &&
           stream_.hold_serialized(std::move(xml), q.seq);
  }
  if (closing_ || !connection_) return false;
  flush_csi();
  if (stream_.sm()) {
    if (!send(q.seq)) return false;
    server_.metrics().count_stanza_out(StanzaKind::kMessage);  // the queue holds messages
    if (delayed && connection_) {
      send_output();
      backlog_mark_ = connection_->write_mark();
    }
    if (unacked_since_ms_ == 0) {
      unacked_since_ms_ = server_.loop().now_ms();
      server_.watch_stall(this);
    }
    send_output();
    // Going over the unacknowledged cap closed the stream; the stanza is
    // held and given back when the session ends.
    if (stream_.state() == protocol::C2sState::kClosed) pump();
    return true;
  }
  if (!send(0)) return false;
  server_.metrics().count_stanza_out(StanzaKind::kMessage);
  send_output();
  pending_writes_.push_back({connection_ ? connection_->write_mark() : 0, q.seq});
  if (delayed) backlog_mark_ = connection_->write_mark();
  return true;
}

size_t C2sSession::queue_room() {
  if (closing_ || hibernating_ || !connection_) return 0;
  // Half the write cap: a backlog never makes the session a "slow reader".
  const size_t cap = static_cast<size_t>(server_.config().write_queue_bytes);
  if (connection_->queued_bytes() >= cap / 2) return 0;
  const protocol::StreamManagement* sm = stream_.sm();
  if (!sm) return SIZE_MAX;
  // XEP-0198: stay inside the unacknowledged window, with a margin for
  // presence and replies, and ask for an ack when it is full.
  const size_t max = static_cast<size_t>(server_.config().sm_max_unacked);
  const size_t margin = std::min<size_t>(32, max / 4);
  // Asked once half the window is used, so acks arrive before it is full
  // (a full window is always more than half: the margin is at most a
  // quarter).
  if (sm->unacked_count() >= max / 2 && !room_requested_) {
    room_requested_ = true;
    stream_.send_sm_request();
    send_output();
  }
  const size_t used = sm->unacked_count() + margin;
  return used < max ? max - used : 0;
}

void C2sSession::on_writable(net::Connection&) {
  if (!closing_) server_.delivery().resume_backlog(*this);
}

uint64_t C2sSession::hold_ack() {
  if (!stream_.sm() || !routing_counted_) return 0;
  pending_acks_.push_back(routing_seq_);
  // Never 0 (that means "nothing held"), also when the counter wrapped.
  return (uint64_t{1} << 32) | routing_seq_;
}

void C2sSession::release_ack(uint64_t token) {
  if (token == 0) return;
  auto it = std::find(pending_acks_.begin(), pending_acks_.end(), static_cast<uint32_t>(token));
  if (it == pending_acks_.end()) return;
  pending_acks_.erase(it);
  if (pending_acks_.empty() && pending_acks_.capacity() > 16) pending_acks_.shrink_to_fit();
  if (ack_requested_ && pending_acks_.empty() && !closing_) {
    // XEP-0198 §4: an unsolicited <a/> once what the client asked about is
    // committed.
    ack_requested_ = false;
    stream_.send_sm_ack(handled());
    send_output();
  }
}

void C2sSession::committed(const protocol::Element& message, std::string_view stanza_id,
                           uint64_t stamp_ms) {
  // spec/compact.md §9: a compact client learns per message that it is
  // stored, with the server's id and time (XEP-0198 only counts).
  if (!stream_.compact() || closing_ || hibernating_) return;
  protocol::Element ack(protocol::compact::kCompactNs, "ack");
  if (const std::string* id = message.attr("id")) ack.set_attr("id", *id);
  if (!stanza_id.empty()) ack.set_attr("stanza-id", stanza_id);
  ack.set_attr("stamp", xmpp_timestamp(stamp_ms));
  stream_.send_nonza(ack);
  send_output();
}

uint32_t C2sSession::handled() const {
  const protocol::StreamManagement* sm = stream_.sm();
  if (!sm) return 0;
  return pending_acks_.empty() ? sm->inbound() : pending_acks_.front() - 1;
}

bool C2sSession::resumable() const {
  return !sm_id_.empty() && !server_.shutting_down() && stream_.sm() != nullptr;
}

SmRecord C2sSession::sm_record() const {
  SmRecord r;
  r.id = sm_id_;
  r.user = jid_.local();
  r.resource = jid_.resource();
  r.inbound_h = handled();
  r.stamp_ms = wall_clock_ms();
  if (const protocol::Element* p = last_presence())
    protocol::serialize(*p, r.presence_xml, kClientNs);
  return r;
}

void C2sSession::kick(StreamCondition condition, std::string_view text) {
  if (hibernating_) {
    // No connection to say it on: the session just ends.
    hibernating_ = false;
    idle_timer_.stop();
    end_session();
    server_.session_closed(*this);
    return;
  }
  if (closing_) return;
  stream_.close(condition, text);
  pump();
}

void C2sSession::hibernate() {
  fault_point("sm-hibernate");
  XD_INFO("c2s %s: connection lost, %s hibernates for %llds", peer_ip_.c_str(), jid_.str().c_str(),
          static_cast<long long>(server_.config().sm_resume_s));
  hibernating_ = true;
  stream_.detach();
  flush_csi();  // into the stream's resumption list
  closing_ = true;
  negotiation_timer_.stop();
  flush_timer_.stop();
  ack_requested_ = false;
  // Stanzas written to the dead connection and not acknowledged are still
  // in the stream's unacknowledged list and go out again on resumption.
  server_.delivery().persist_sm(sm_record());
  idle_timer_.start(static_cast<uint64_t>(server_.config().sm_resume_s) * 1000);
}

void C2sSession::end_session() {
  if (ended_) return;
  ended_ = true;
  unacked_since_ms_ = 0;
  server_.unwatch_stall(this);
  hibernating_ = false;
  leave_table();
  DeliveryQueue& delivery = server_.delivery();
  // spec/delivery.md §1.3: what this session held and did not deliver goes
  // back to the queue's other readers.
  std::vector<uint64_t> held;
  if (protocol::StreamManagement* sm = stream_.sm()) {
    for (const auto& s : sm->unacked()) {
      if (s.tag) held.push_back(s.tag);
    }
  }
  for (const PendingWrite& w : pending_writes_) held.push_back(w.seq);
  pending_writes_.clear();
  if (!held.empty()) delivery.release(*this, held);
  if (!sm_id_.empty()) {
    server_.unregister_sm(sm_id_, this);
    if (server_.shutting_down()) {
      // spec §5: a clean restart keeps streams resumable.
      delivery.persist_sm(sm_record());
    } else {
      delivery.forget_sm(sm_id_);
    }
  }
  delivery.forget(*this);
  if (ClusterNode* cluster = server_.cluster()) cluster->forget(*this);
}

void C2sSession::detach_for_resume() {
  // The new stream took the state (stream management, presence, table
  // slot): nothing is released and no one is told this session went away.
  if (in_table_ && server_.sessions().find(jid_) == this) server_.sessions().remove(this);
  in_table_ = false;
  server_.unregister_sm(sm_id_, this);
  server_.unwatch_stall(this);
  sm_id_.clear();
  pending_writes_.clear();
  server_.delivery().forget(*this);
  if (ClusterNode* cluster = server_.cluster()) cluster->forget(*this);
  if (hibernating_) {
    hibernating_ = false;
    ended_ = true;
    idle_timer_.stop();
    server_.session_closed(*this);
    return;
  }
  // XEP-0198 §5 (catalogue H54): the old stream is still open.
  kick(StreamCondition::kConflict, "session resumed elsewhere");
}

bool C2sSession::resume_session(std::string_view previd, uint32_t client_h,
                                protocol::C2sResumption& out) {
  const Jid bare = stream_.bound_jid().bare();
  if (C2sSession* old = server_.find_sm(previd)) {
    // Catalogue H54: only the account that enabled it may resume it.
    if (old == this || old->jid_.bare() != bare) return false;
    const uint32_t handled = old->handled();  // before its state moves
    std::unique_ptr<protocol::StreamManagement> sm = old->stream_.take_sm();
    if (!sm) return false;
    out.full = old->jid_;
    out.handled = handled;
    out.sm = std::move(*sm);
    if (const protocol::Element* p = old->last_presence()) {
      set_presence(p->clone(), old->priority());
    }
    if (old->interested_in_roster()) set_interested_in_roster();
    set_carbons(old->carbons_enabled());
    old->detach_for_resume();
    return true;
  }
  // spec §5: after a restart, from the persisted record.
  SmRecord rec;
  if (server_.delivery().store().get_sm(previd, rec) != StorageError::kOk) return false;
  if (rec.user != bare.local()) return false;
  const uint64_t window = static_cast<uint64_t>(server_.config().sm_resume_s) * 1000;
  const uint64_t since = std::max(rec.stamp_ms, server_.started_wall_ms());
  if (wall_clock_ms() > since + window) {
    server_.delivery().forget_sm(rec.id);
    return false;
  }
  Jid full;
  if (Jid::from_parts(rec.user, bare.domain(), rec.resource, full) != protocol::JidError::kOk) {
    return false;
  }
  if (Session* live = server_.sessions().find(full)) {
    server_.sessions().remove(live);
    live->kick(StreamCondition::kConflict, "session resumed elsewhere");
  }
  out.full = full;
  out.handled = rec.inbound_h;
  out.sm = protocol::StreamManagement(client_h);
  restored_from_disk_ = true;
  restored_presence_ = std::move(rec.presence_xml);
  return true;
}

void C2sSession::on_resumed(const C2sEvent& ev) {
  jid_ = ev.jid;
  sm_id_ = ev.sm_id;
  negotiation_timer_.stop();
  idle_timer_.start(static_cast<uint64_t>(server_.config().idle_ping_s) * 1000);
  if (Session* other = server_.sessions().find(jid_)) {
    server_.sessions().remove(other);
    other->kick(StreamCondition::kConflict, "session resumed elsewhere");
  }
  server_.sessions().add(this);
  in_table_ = true;
  server_.register_sm(sm_id_, this);
  XD_INFO("c2s %s: resumed %s%s", peer_ip_.c_str(), jid_.str().c_str(),
          restored_from_disk_ ? " (from disk)" : "");
  if (restored_from_disk_) {
    restored_from_disk_ = false;
    std::string xml = std::move(restored_presence_);
    std::unique_ptr<protocol::Element> presence =
        xml.empty() ? nullptr : protocol::parse_fragment(xml);
    if (presence) {
      // As if the client had sent it again: contacts learn it is back and
      // the queue's backlog follows (spec §5).
      server_.presence().outbound(*this, nullptr, std::move(presence));
    } else {
      server_.delivery().deliver_backlog(*this);
    }
  }
  server_.delivery().persist_sm(sm_record());
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
  if (hibernating_) {
    kick(StreamCondition::kSystemShutdown, {});
    return;
  }
  closing_ = true;
  if (connection_) connection_->close_now();
}

void C2sSession::on_idle_timer() {
  // Checked before closing_: a hibernating session is closing_ too.
  if (hibernating_) {
    // XEP-0198 §5: the resumption window is over (or the held list is
    // full); what the session held goes back to the queue.
    XD_INFO("c2s %s: resumption window of %s ended", peer_ip_.c_str(), jid_.str().c_str());
    kick(StreamCondition::kConnectionTimeout, {});
    return;
  }
  if (closing_) return;
  if (ping_outstanding_) {
    // RFC 6120 §4.6.1: no answer to our ping: the connection is dead.
    XD_INFO("c2s %s: idle peer did not answer the ping", peer_ip_.c_str());
    if (in_table_ && resumable()) {
      // hostile-inputs.md: with stream management, hibernate (on_closed).
      connection_->close_now();
      return;
    }
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
  if (server_.auth_failures().allowed(peer_ip_, server_.loop().now_ms())) return true;
  ++server_.metrics().logins_throttled;
  return false;
}

void C2sSession::auth_failed(std::string_view mechanism) {
  ++server_.metrics().login_failures;
  server_.auth_failures().add(peer_ip_, server_.loop().now_ms());
  XD_INFO("c2s %s: auth failed (%.*s)", peer_ip_.c_str(), static_cast<int>(mechanism.size()),
          mechanism.data());
}

void C2sSession::auth_succeeded(const Jid& bare, std::string_view mechanism) {
  ++server_.metrics().logins[static_cast<size_t>(sasl_mechanism_from_name(mechanism))];
  XD_INFO("c2s %s: authenticated %s (%.*s)", peer_ip_.c_str(), bare.str().c_str(),
          static_cast<int>(mechanism.size()), mechanism.data());
}

void C2sSession::stanza_error_sent(StanzaCondition condition) {
  server_.metrics().count_stanza_error(condition);
}

std::optional<C2sTransport> C2sSession::transport() const {
  if (hibernating_ || !connection_) return std::nullopt;
  if (port_ == C2sPort::kCompact || stream_.compact()) return C2sTransport::kCompact;
  if (port_ == C2sPort::kDirectTls) return C2sTransport::kDirectTls;
  return connection_->tls_ready() ? C2sTransport::kStartTls : C2sTransport::kPlain;
}

}  // namespace xd::server
