#include "server/router.h"

#include <algorithm>

#include "server/cluster/cluster_node.h"
#include "server/delivery_queue.h"
#include "server/metrics.h"
#include "server/presence_manager.h"
#include "server/session.h"

namespace xd::server {

namespace {

constexpr std::string_view kCarbonsNs = "urn:xmpp:carbons:2";
constexpr std::string_view kForwardNs = "urn:xmpp:forward:0";
// XMPP Registrar's application-specific conditions (XEP-0182, XEP-0205).
constexpr std::string_view kXmppErrorsNs = "urn:xmpp:errors";

// XEP-0280 §6.1: chat messages are copied, unless marked private
// (XEP-0280 §7) or no-copy (XEP-0334).
bool carbon_eligible(const protocol::Element& m) {
  return m.attr_or("type") == "chat" && !m.child("private", kCarbonsNs) &&
         !m.child("no-copy", "urn:xmpp:hints") && !m.child("received", kCarbonsNs) &&
         !m.child("sent", kCarbonsNs);
}

}  // namespace

using protocol::Element;
using protocol::Jid;
using protocol::StanzaCondition;

bool Router::account_exists(std::string_view username) {
  StoredAccount account;
  return accounts_.get(username, account) == StorageError::kOk;
}

bool Router::account_exists(const Jid& to, const Session& origin) {
  // Most messages go to someone who is online; this spares them an LMDB
  // read transaction and the decoding of the account record
  // (docs/performance.md, "Durable delivery").
  if (to.local() != origin.jid().local() && sessions_.count(to) > 0) return true;
  // Connected on another node: it exists (docs/cluster.md §3).
  if (cluster_ && to.local() != origin.jid().local() && cluster_->online_elsewhere(to.local())) {
    return true;
  }
  return account_exists(to.local());
}

void Router::route_from_client(Session& origin, std::unique_ptr<Element> stanza) {
  const std::string& kind = stanza->name();
  const std::string* to_attr = stanza->attr("to");
  Jid to;
  if (to_attr) {
    // The c2s stream normalised 'to'; a parse failure here cannot happen
    // for its stanzas, but never route on an unparsed address.
    if (Jid::parse(*to_attr, to) != protocol::JidError::kOk) {
      bounce(&origin, *stanza, StanzaCondition::kJidMalformed);
      return;
    }
  }
  if (kind == "presence") {
    if (presence_) presence_->outbound(origin, to_attr ? &to : nullptr, std::move(stanza));
    return;
  }
  // RFC 6120 §10.3: a message or IQ without 'to' is for the sender's
  // account (bare JID).
  if (!to_attr) to = origin.jid().bare();
  if (kind == "message") {
    route_message(origin, to, std::move(stanza));
  } else if (kind == "iq") {
    route_iq(origin, to, std::move(stanza));
  }
}

void Router::route_message(Session& origin, const Jid& to, std::unique_ptr<Element> m) {
  const std::string_view type = m->attr_or("type", "normal");
  const bool to_own_account =
      to.local() == origin.jid().local() && to.domain() == origin.jid().domain();
  if (!to_own_account && !origin.recipients().admit(RecipientWindow::key(to.local(), to.domain()),
                                                    now_ms(), limits_.max_recipients_per_minute)) {
    // Catalogue G51 / XEP-0205 §4.9: too many distinct recipients in the
    // window. Checked before anything else, so unknown accounts and remote
    // domains count too and cannot be used to probe around the limit. The
    // message is neither routed nor stored; the stream stays up.
    bounce(&origin, *m, StanzaCondition::kUnexpectedRequest,
           std::make_unique<Element>(kXmppErrorsNs, "too-many-stanzas"));
    return;
  }
  if (!is_local_domain(to)) {
    // No server-to-server links yet (RFC 6120 §10.4).
    bounce(&origin, *m, StanzaCondition::kRemoteServerNotFound);
    return;
  }
  if (!to.has_local()) {
    // Messages to the server itself are not a service we offer.
    bounce(&origin, *m, StanzaCondition::kServiceUnavailable);
    return;
  }
  if (!account_exists(to, origin)) {
    // RFC 6121 §8.5.1: no such user. The same answer as for a user that
    // refuses, so accounts cannot be harvested (RFC 6120 §13.11).
    bounce(&origin, *m, StanzaCondition::kServiceUnavailable);
    return;
  }
  const bool carbons = carbon_eligible(*m);
  // A message to the sender's own account reaches its resources as the
  // message itself or as a 'received' copy; a 'sent' copy too would give
  // a resource the same message twice (catalogue G51).
  if (carbons && !to_own_account) send_carbons(origin.jid().bare(), *m, "sent", {&origin});
  if (!to.is_bare() && !sessions_.find(to) &&
      !(cluster_ && !cluster_->remote_node_of(to).empty())) {
    // RFC 6121 §8.5.3.2.1: no such resource. Chat, normal and headline
    // messages are treated as if sent to the bare JID; the rest is dropped
    // (groupchat gets an error, errors are silently ignored).
    if (type == "groupchat") {
      bounce(&origin, *m, StanzaCondition::kServiceUnavailable);
      return;
    }
    if (type == "error") return;
  }
  if (type == "groupchat" && to.is_bare()) {
    // RFC 6121 §8.5.2.1.1: no groupchat to a user's bare JID.
    bounce(&origin, *m, StanzaCondition::kServiceUnavailable);
    return;
  }
  if (delivery_ && is_storable(*m)) {
    // spec/delivery.md §1: committed first, delivered after.
    if (cluster_) {
      // docs/cluster.md §4: here, on the nodes where the user is, or in
      // the offline stream when they are nowhere.
      cluster_->route_stored(&origin, to, std::move(m));
      return;
    }
    delivery_->accept(&origin, to, std::move(m));
    return;
  }
  // Not stored (headline, error, chat states alone, no-store hints): live
  // delivery to whoever is there, silently nothing otherwise (XEP-0160 §3;
  // RFC 6121 §8.5.2.2.1 lets headlines vanish).
  std::vector<Session*> targets = message_targets(to, type);
  for (Session* s : targets) s->deliver(*m);
  forward_live(to, *m);
  if (carbons && !targets.empty()) {
    // The sender never gets its own message back as a copy.
    std::vector<Session*> skip = targets;
    skip.push_back(&origin);
    send_carbons(to.bare(), *m, "received", skip);
  }
  if (targets.empty() && !delivery_ && type != "headline" && type != "error") {
    // Without durable storage (unit tests of the router alone) the sender
    // learns that nobody took it.
    bounce(&origin, *m, StanzaCondition::kServiceUnavailable);
  }
}

std::vector<Session*> Router::message_targets(const Jid& to, std::string_view type) {
  std::vector<Session*> out;
  if (!to.is_bare()) {
    if (Session* s = sessions_.find(to)) {
      out.push_back(s);
      return out;
    }
  }
  const auto& resources = sessions_.resources(to.bare());
  int best = -1;
  for (Session* s : resources) {
    if (s->available() && s->priority() >= 0 && s->priority() > best) best = s->priority();
  }
  for (Session* s : resources) {
    if (!s->available() || s->priority() < 0) continue;
    if (type != "headline" && s->priority() != best) continue;
    out.push_back(s);
  }
  return out;
}

void Router::send_carbons(const Jid& account, const Element& m, std::string_view direction,
                          const std::vector<Session*>& skip) {
  std::unique_ptr<Element> wrapper;
  for (Session* s : sessions_.resources(account)) {
    if (!s->carbons_enabled()) continue;
    if (std::find(skip.begin(), skip.end(), s) != skip.end()) continue;
    if (!wrapper) {
      wrapper = std::make_unique<Element>("jabber:client", "message");
      wrapper->set_attr("from", account.bare_str());
      wrapper->set_attr("type", "chat");
      Element& forwarded =
          wrapper->add_child(kCarbonsNs, direction).add_child(kForwardNs, "forwarded");
      forwarded.add_child(m.clone());
    }
    wrapper->set_attr("to", s->jid().str());
    s->deliver(*wrapper);
  }
}

void Router::route_iq(Session& origin, const Jid& to, std::unique_ptr<Element> iq) {
  const std::string_view type = iq->attr_or("type");
  if (type == "result" || type == "error") {
    // Responses go only to a full JID; an unsolicited one to the server or
    // a bare JID is dropped (RFC 6121 §8.5.2.1.3, catalogue G49).
    if (!to.is_bare() && is_local_domain(to)) {
      if (Session* s = sessions_.find(to)) {
        s->deliver(*iq);
      } else {
        forward_live(to, *iq);
      }
    }
    return;
  }
  if (!is_local_domain(to)) {
    bounce(&origin, *iq, StanzaCondition::kRemoteServerNotFound);
    return;
  }
  if (!to.has_local()) {
    if (!to.is_bare()) {
      bounce(&origin, *iq, StanzaCondition::kServiceUnavailable);
      return;
    }
    dispatch_iq(origin, to, *iq, "host");
    return;
  }
  if (!account_exists(to, origin)) {
    bounce(&origin, *iq, StanzaCondition::kServiceUnavailable);
    return;
  }
  if (to.is_bare()) {
    // RFC 6121 §8.5.2.1.3: the server answers on behalf of the account.
    dispatch_iq(origin, to, *iq, "bare");
    return;
  }
  if (Session* s = sessions_.find(to)) {
    s->deliver(*iq);
    return;
  }
  if (cluster_ && !cluster_->remote_node_of(to).empty()) {
    forward_live(to, *iq);
    return;
  }
  bounce(&origin, *iq, StanzaCondition::kServiceUnavailable);
}

void Router::dispatch_iq(Session& origin, const Jid& to, const Element& iq,
                         std::string_view target) {
  const Element* payload = nullptr;
  for (const auto& n : iq.children()) {
    if (n.element) {
      payload = n.element.get();
      break;
    }
  }
  if (!payload) {
    bounce(&origin, iq, StanzaCondition::kBadRequest);
    return;
  }
  std::string key = iq_event_key(iq.attr_or("type"), target, payload->ns(), payload->name());
  const IqHandler* handler = modules_.find_iq(key);
  if (!handler) {
    // conventions.md §9: the router, not the module, answers what nobody
    // claims.
    bounce(&origin, iq, StanzaCondition::kServiceUnavailable);
    return;
  }
  IqRequest request{&origin, iq, origin.jid(), to, *payload};
  (*handler)(request);
}

void Router::deliver_to_local(const Jid& to, const Element& stanza) {
  if (!is_local_domain(to) || !to.has_local()) return;
  forward_live(to, stanza);
  if (!to.is_bare()) {
    if (Session* s = sessions_.find(to)) s->deliver(stanza);
    return;
  }
  for (Session* s : sessions_.resources(to)) s->deliver(stanza);
}

void Router::forward_live(const Jid& to, const Element& stanza) {
  if (cluster_ && is_local_domain(to)) cluster_->forward_live(to, stanza);
}

void Router::deliver_from_cluster(const Jid& to, const Element& stanza,
                                  const std::string& from_node) {
  if (!is_local_domain(to) || !to.has_local()) return;
  if (stanza.name() == "message") {
    for (Session* s : message_targets(to, stanza.attr_or("type", "normal"))) s->deliver(stanza);
    return;
  }
  if (stanza.name() == "presence" && stanza.attr_or("type") == "probe") {
    // A node whose user came online asks for our sessions' presence (the
    // roster check was made there, on the shared roster): each available
    // resource answers with its last presence (RFC 6121 §4.3.2).
    Jid requester;
    if (Jid::parse(stanza.attr_or("from"), requester) != protocol::JidError::kOk) return;
    for (Session* s : sessions_.resources(to.bare())) {
      if (!s->available() || !s->last_presence() || s->jid() == requester) continue;
      auto answer = s->last_presence()->clone();
      answer->set_attr("from", s->jid().str());
      answer->set_attr("to", requester.str());
      if (cluster_ && !from_node.empty()) cluster_->send_live(from_node, requester, *answer);
    }
    return;
  }
  if (!to.is_bare()) {
    if (Session* s = sessions_.find(to)) s->deliver(stanza);
    return;
  }
  for (Session* s : sessions_.resources(to)) {
    // Presence to an account goes to its available resources (RFC 6121
    // §4.6); nothing else is sent to a bare JID across nodes.
    if (stanza.name() == "presence" && !s->available()) continue;
    s->deliver(stanza);
  }
}

void Router::bounce(Session* origin, const Element& stanza, StanzaCondition condition,
                    std::unique_ptr<Element> app_specific) {
  protocol::StanzaError error{condition};
  auto reply = protocol::make_error_reply(stanza, error, std::move(app_specific));
  if (!reply) return;  // never an error in answer to an error
  if (metrics_) metrics_->count_stanza_error(condition);
  if (origin) {
    origin->deliver(*reply);
    return;
  }
  Jid to;
  if (const std::string* t = reply->attr("to");
      t && Jid::parse(*t, to) == protocol::JidError::kOk) {
    deliver_to_local(to, *reply);
  }
}

void Router::reply(const IqRequest& request, std::unique_ptr<Element> reply) {
  reply->set_attr("type", "result");
  if (const std::string* id = request.iq.attr("id")) reply->set_attr("id", *id);
  reply->set_attr("to", request.from.str());
  if (const std::string* to = request.iq.attr("to")) reply->set_attr("from", *to);
  if (request.origin) {
    request.origin->deliver(*reply);
  } else {
    deliver_to_local(request.from, *reply);
  }
}

void Router::reply_result(const IqRequest& request) {
  reply(request, std::make_unique<Element>("jabber:client", "iq"));
}

void Router::reply_error(const IqRequest& request, StanzaCondition condition) {
  bounce(request.origin, request.iq, condition);
}

}  // namespace xd::server
