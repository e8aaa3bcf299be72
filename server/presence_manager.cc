#include "server/presence_manager.h"

#include <algorithm>
#include <charconv>

namespace xd::server {

using protocol::Element;
using protocol::Jid;

namespace {

int parse_priority(const Element& p) {
  const Element* pr = p.child("priority", "jabber:client");
  if (!pr) return 0;
  std::string text = pr->text();
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  // RFC 6121 §4.7.2.3: an integer in [-128, +127]; anything else counts as 0.
  if (ec != std::errc() || ptr != text.data() + text.size() || value < -128 || value > 127)
    return 0;
  return value;
}

}  // namespace

void PresenceManager::to_available(const Jid& bare, const Element& p) {
  if (!router_.is_local_domain(bare) || !bare.has_local()) return;
  for (Session* s : router_.sessions().resources(bare)) {
    if (s->available()) s->deliver(p);
  }
  router_.forward_live(bare, p);  // the account's sessions on other nodes
}

void PresenceManager::probe_elsewhere(const Jid& contact, const Jid& requester) {
  Element probe("jabber:client", "presence");
  probe.set_attr("type", "probe");
  probe.set_attr("from", requester.str());
  probe.set_attr("to", contact.bare_str());
  router_.forward_live(contact.bare(), probe);
}

void PresenceManager::send_presences_of(const Jid& contact, const Jid& recipient) {
  for (Session* s : router_.sessions().resources(contact)) {
    if (!s->available() || !s->last_presence()) continue;
    auto copy = s->last_presence()->clone();
    copy->set_attr("to", recipient.str());
    if (recipient.is_bare()) {
      to_available(recipient, *copy);
    } else {
      router_.deliver_to_local(recipient, *copy);
    }
  }
}

void PresenceManager::outbound(Session& origin, const Jid* to, std::unique_ptr<Element> p) {
  const std::string_view type = p->attr_or("type");
  if (!to) {
    if (type.empty()) {
      const bool initial = !origin.available();
      int priority = parse_priority(*p);
      origin.set_presence(p->clone(), priority);
      broadcast(origin, *p, initial, /*limited=*/true);
      if (initial && priority >= 0 && on_initial_) on_initial_(origin);
    } else if (type == "unavailable") {
      if (!origin.available()) return;
      origin.set_presence(nullptr, 0);
      broadcast(origin, *p, false, /*limited=*/true);
    }
    // Other types without 'to' are meaningless; drop them.
    return;
  }
  if (type == "subscribe" || type == "subscribed" || type == "unsubscribe" ||
      type == "unsubscribed") {
    subscription(origin, *to, *p);
    return;
  }
  if (type == "probe") return;  // probes are the server's business (RFC 6121 §4.3)
  // Directed presence (RFC 6121 §4.6) or a presence error.
  if (!router_.is_local_domain(*to) || !to->has_local()) return;
  if (!router_.account_exists(to->local())) return;  // silently, catalogue F48
  if (to->is_bare()) {
    to_available(*to, *p);
  } else {
    router_.deliver_to_local(*to, *p);
  }
}

void PresenceManager::broadcast(Session& origin, const Element& presence, bool initial,
                                bool limited) {
  const Jid bare = origin.jid().bare();
  const std::string& user = bare.local();
  bool fan_out = true;
  if (limited) {
    // Catalogue G51 / XEP-0205 §4.8: a flooding client's presence is not
    // fanned out beyond its budget. Its state is kept (probes and new
    // subscribers see the latest), and the latest one is broadcast when
    // the budget allows again (flush_deferred); the ones in between are
    // never sent.
    const uint64_t per_minute = router_.send_limits().max_presence_broadcasts_per_minute;
    BroadcastBucket& bucket = origin.broadcasts();
    const uint64_t now = router_.now_ms();
    fan_out = bucket.take(now, per_minute);
    if (fan_out) {
      bucket.deferred = false;
    } else if (!bucket.deferred) {
      bucket.deferred = true;
      deferred_.push_back(origin.jid());
      if (on_deferred_) on_deferred_(std::max<uint64_t>(1, bucket.wait_ms(now, per_minute)));
    }
  }
  // RFC 6121 §4.2.2 / §4.4.2: to every contact with a 'from' subscription,
  // and to the user's own available resources.
  for (const RosterItem& item : roster_.items(user)) {
    Jid contact;
    if (Jid::parse(item.jid, contact) != protocol::JidError::kOk) continue;
    if (fan_out && has_from(item.subscription)) {
      auto copy = presence.clone();
      copy->set_attr("to", contact.str());
      to_available(contact, *copy);
    }
    // Initial presence: probe contacts we are subscribed to (§4.2.3); for
    // local contacts the answer comes straight from the session table.
    if (initial && has_to(item.subscription) && router_.is_local_domain(contact)) {
      send_presences_of(contact, origin.jid());
      // The contact's sessions on other cluster nodes answer there
      // (Router::deliver_from_cluster).
      probe_elsewhere(contact, origin.jid());
    }
  }
  if (fan_out) {
    // The user's own resources on other cluster nodes.
    auto copy = presence.clone();
    copy->set_attr("to", bare.str());
    router_.forward_live(bare, *copy);
  }
  if (initial) probe_elsewhere(bare, origin.jid());
  for (Session* s : router_.sessions().resources(bare)) {
    if (s == &origin || !s->available()) continue;
    if (fan_out) {
      auto copy = presence.clone();
      copy->set_attr("to", s->jid().str());
      s->deliver(*copy);
    }
    if (initial && s->last_presence()) {
      auto theirs = s->last_presence()->clone();
      theirs->set_attr("to", origin.jid().str());
      origin.deliver(*theirs);
    }
  }
  if (initial) {
    // Pending inbound subscription requests are redelivered each time the
    // user comes online until answered (RFC 6121 §3.1.3).
    for (const std::string& requester : roster_.pending_requests(user)) {
      Element sub("jabber:client", "presence");
      sub.set_attr("type", "subscribe");
      sub.set_attr("from", requester);
      sub.set_attr("to", origin.jid().str());
      origin.deliver(sub);
    }
  }
}

void PresenceManager::subscription(Session& origin, const Jid& to, const Element& p) {
  const std::string_view type = p.attr_or("type");
  const Jid from_bare = origin.jid().bare();
  const std::string user = from_bare.local();
  const Jid contact = to.bare();
  const std::string contact_str = contact.bare_str();
  if (contact == from_bare) return;
  bool route = false;
  if (type == "subscribe") {
    route = roster_.outbound_subscribe(user, contact_str);
  } else if (type == "subscribed") {
    route = roster_.outbound_subscribed(user, contact_str);
  } else if (type == "unsubscribe") {
    route = roster_.outbound_unsubscribe(user, contact_str);
  } else {
    route = roster_.outbound_unsubscribed(user, contact_str);
  }
  if (!route) return;
  // RFC 6121 §3.1.2: subscription stanzas carry the bare JID as 'from'.
  Element out("jabber:client", "presence");
  out.set_attr("type", type);
  out.set_attr("from", from_bare.str());
  out.set_attr("to", contact_str);
  if (!router_.is_local_domain(contact) || !contact.has_local()) return;  // no s2s yet
  if (!router_.account_exists(contact.local())) return;                   // catalogue F48
  const std::string& c = contact.local();
  const std::string f = from_bare.bare_str();
  if (type == "subscribe") {
    switch (roster_.inbound_subscribe(c, f)) {
      case RosterService::Inbound::kDeliver:
        to_available(contact, out);
        break;
      case RosterService::Inbound::kAutoReplySubscribed: {
        Element reply("jabber:client", "presence");
        reply.set_attr("type", "subscribed");
        reply.set_attr("from", contact_str);
        reply.set_attr("to", from_bare.str());
        if (roster_.inbound_subscribed(user, contact_str)) to_available(from_bare, reply);
        break;
      }
      case RosterService::Inbound::kDrop:
        break;
    }
  } else if (type == "subscribed") {
    if (roster_.inbound_subscribed(c, f)) {
      to_available(contact, out);
      // The new subscriber learns the user's current presence (§3.1.5).
      send_presences_of(from_bare, contact);
    }
  } else if (type == "unsubscribe") {
    if (roster_.inbound_unsubscribe(c, f)) {
      to_available(contact, out);
      // The user no longer receives the contact's presence: it sees the
      // contact's resources go unavailable (RFC 6121 §3.3.3).
      for (Session* s : router_.sessions().resources(contact)) {
        if (!s->available()) continue;
        Element gone("jabber:client", "presence");
        gone.set_attr("type", "unavailable");
        gone.set_attr("from", s->jid().str());
        gone.set_attr("to", f);
        to_available(from_bare, gone);
      }
    }
  } else {  // unsubscribed
    if (roster_.inbound_unsubscribed(c, f)) {
      to_available(contact, out);
      for (Session* s : router_.sessions().resources(from_bare)) {
        if (!s->available()) continue;
        Element gone("jabber:client", "presence");
        gone.set_attr("type", "unavailable");
        gone.set_attr("from", s->jid().str());
        gone.set_attr("to", contact_str);
        to_available(contact, gone);
      }
    }
  }
}

void PresenceManager::session_ended(Session& session) {
  // A held-back 'unavailable' goes out now: contacts may still see the
  // session available. The end of a session is never rate-limited.
  const bool held_back = session.broadcasts().deferred;
  session.broadcasts().deferred = false;
  if (!session.available() && !held_back) return;
  Element gone("jabber:client", "presence");
  gone.set_attr("type", "unavailable");
  gone.set_attr("from", session.jid().str());
  session.set_presence(nullptr, 0);
  broadcast(session, gone, false, /*limited=*/false);
}

uint64_t PresenceManager::flush_deferred() {
  const uint64_t per_minute = router_.send_limits().max_presence_broadcasts_per_minute;
  const uint64_t now = router_.now_ms();
  uint64_t next = 0;
  std::vector<Jid> waiting = std::move(deferred_);
  deferred_.clear();
  for (Jid& jid : waiting) {
    Session* s = router_.sessions().find(jid);
    // Ended, replaced, or its state went out with a later broadcast.
    if (!s || !s->broadcasts().deferred) continue;
    BroadcastBucket& bucket = s->broadcasts();
    if (!bucket.take(now, per_minute)) {
      const uint64_t wait = std::max<uint64_t>(1, bucket.wait_ms(now, per_minute));
      next = next == 0 ? wait : std::min(next, wait);
      deferred_.push_back(std::move(jid));
      continue;
    }
    bucket.deferred = false;
    if (s->available() && s->last_presence()) {
      broadcast(*s, *s->last_presence(), false, /*limited=*/false);
    } else {
      Element gone("jabber:client", "presence");
      gone.set_attr("type", "unavailable");
      gone.set_attr("from", s->jid().str());
      broadcast(*s, gone, false, /*limited=*/false);
    }
  }
  return next;
}

}  // namespace xd::server
