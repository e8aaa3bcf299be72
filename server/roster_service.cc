#include "server/roster_service.h"

#include "server/session.h"

namespace xd::server {

using protocol::Element;
using protocol::Jid;
using protocol::StanzaCondition;
using Sub = RosterItem::Subscription;

bool has_to(Sub s) { return s == Sub::kTo || s == Sub::kBoth; }
bool has_from(Sub s) { return s == Sub::kFrom || s == Sub::kBoth; }

namespace {

Sub with_to(Sub s, bool on) {
  bool from = has_from(s);
  if (on) return from ? Sub::kBoth : Sub::kTo;
  return from ? Sub::kFrom : Sub::kNone;
}

Sub with_from(Sub s, bool on) {
  bool to = has_to(s);
  if (on) return to ? Sub::kBoth : Sub::kFrom;
  return to ? Sub::kTo : Sub::kNone;
}

// A record that only remembers an inbound request is not a roster item.
// COMPAT: the store has no explicit "in roster" flag, so a contact the user
// added with neither name nor group while a request from it is pending reads
// as pending-only until either side acts on the request.
bool pending_only(const RosterItem& item) {
  return item.pending_in && item.subscription == Sub::kNone && !item.ask_subscribe &&
         item.name.empty() && item.groups.empty();
}

}  // namespace

void RosterService::install(ModuleRegistry& modules) {
  modules.on_iq(iq_event_key("get", "bare", kRosterNs, "query"),
                [this](const IqRequest& r) { handle_get(r); });
  modules.on_iq(iq_event_key("set", "bare", kRosterNs, "query"),
                [this](const IqRequest& r) { handle_set(r); });
}

std::vector<RosterItem> RosterService::items(const std::string& user) {
  std::vector<RosterItem> all, out;
  if (store_.get_all(user, all) != StorageError::kOk) return out;
  for (auto& item : all) {
    if (!pending_only(item)) out.push_back(std::move(item));
  }
  return out;
}

std::vector<std::string> RosterService::pending_requests(const std::string& user) {
  std::vector<RosterItem> all;
  std::vector<std::string> out;
  if (store_.get_all(user, all) != StorageError::kOk) return out;
  for (const RosterItem& item : all) {
    if (item.pending_in) out.push_back(item.jid);
  }
  return out;
}

bool RosterService::find(const std::string& user, const std::string& contact, RosterItem& out) {
  return store_.get(user, contact, out) == StorageError::kOk;
}

bool RosterService::store(const std::string& user, const RosterItem& item) {
  return store_.put(user, item) == StorageError::kOk;
}

std::unique_ptr<Element> RosterService::item_element(const RosterItem& item) const {
  auto e = std::make_unique<Element>(kRosterNs, "item");
  e->set_attr("jid", item.jid);
  if (!item.name.empty()) e->set_attr("name", item.name);
  e->set_attr("subscription", roster_subscription_name(item.subscription));
  if (item.ask_subscribe) e->set_attr("ask", "subscribe");
  for (const std::string& g : item.groups) e->add_child(kRosterNs, "group").add_text(g);
  return e;
}

void RosterService::push(const std::string& user, const RosterItem& item) {
  // RFC 6121 §2.1.6: pushes go to interested resources, from the bare JID
  // (or no 'from'), each an IQ set the client answers with a result.
  Jid bare;
  if (Jid::from_parts(user, router_.domain().domain(), "", bare) != protocol::JidError::kOk) return;
  for (Session* s : router_.sessions().resources(bare)) {
    if (!s->interested_in_roster()) continue;
    Element iq("jabber:client", "iq");
    iq.set_attr("type", "set");
    iq.set_attr("id", make_id_());
    iq.set_attr("to", s->jid().str());
    Element& query = iq.add_child(kRosterNs, "query");
    query.add_child(item_element(item));
    s->deliver(iq);
  }
}

void RosterService::handle_get(const IqRequest& request) {
  // Only the account itself may read its roster (RFC 6121 §2.1.3).
  if (request.from.bare() != request.to) {
    router_.reply_error(request, StanzaCondition::kForbidden);
    return;
  }
  if (request.origin) request.origin->set_interested_in_roster();
  auto reply = std::make_unique<Element>("jabber:client", "iq");
  Element& query = reply->add_child(kRosterNs, "query");
  for (const RosterItem& item : items(request.to.local())) query.add_child(item_element(item));
  router_.reply(request, std::move(reply));
}

void RosterService::handle_set(const IqRequest& request) {
  if (request.from.bare() != request.to) {
    router_.reply_error(request, StanzaCondition::kForbidden);
    return;
  }
  // RFC 6121 §2.3.3: exactly one <item/>, with a valid JID; the client may
  // not set the subscription except to 'remove'.
  const Element* item_el = nullptr;
  size_t count = 0;
  for (const auto& n : request.payload.children()) {
    if (n.element && n.element->is("item", kRosterNs)) {
      item_el = n.element.get();
      ++count;
    }
  }
  Jid contact;
  if (count != 1 || !item_el->attr("jid") ||
      Jid::parse(*item_el->attr("jid"), contact) != protocol::JidError::kOk) {
    router_.reply_error(request, StanzaCondition::kBadRequest);
    return;
  }
  const std::string user = request.to.local();
  const std::string contact_str = contact.bare_str();
  if (contact_str == request.to.bare_str()) {
    router_.reply_error(request, StanzaCondition::kNotAllowed);
    return;
  }
  RosterItem item;
  bool existed = find(user, contact_str, item);
  item.jid = contact_str;
  if (item_el->attr_or("subscription") == "remove") {
    if (!existed) {
      router_.reply_error(request, StanzaCondition::kItemNotFound);
      return;
    }
    // RFC 6121 §2.5.2: cancel both directions on behalf of the user.
    Jid from_user;
    Jid::from_parts(user, router_.domain().domain(), "", from_user);
    if (has_to(item.subscription) || item.ask_subscribe) {
      Element p("jabber:client", "presence");
      p.set_attr("type", "unsubscribe");
      p.set_attr("from", from_user.str());
      p.set_attr("to", contact_str);
      if (inbound_unsubscribe(contact.local(), from_user.str()) &&
          router_.is_local_domain(contact)) {
        router_.deliver_to_local(contact, p);
      }
    }
    if (has_from(item.subscription)) {
      Element p("jabber:client", "presence");
      p.set_attr("type", "unsubscribed");
      p.set_attr("from", from_user.str());
      p.set_attr("to", contact_str);
      if (inbound_unsubscribed(contact.local(), from_user.str()) &&
          router_.is_local_domain(contact)) {
        router_.deliver_to_local(contact, p);
      }
    }
    store_.remove(user, contact_str);
    router_.reply_result(request);
    RosterItem removed;
    removed.jid = contact_str;
    removed.subscription = Sub::kRemove;
    push(user, removed);
    return;
  }
  item.name = item_el->attr_or("name");
  item.groups.clear();
  for (const auto& n : item_el->children()) {
    if (n.element && n.element->is("group", kRosterNs)) item.groups.push_back(n.element->text());
  }
  if (!store(user, item)) {
    router_.reply_error(request, StanzaCondition::kResourceConstraint);
    return;
  }
  router_.reply_result(request);
  push(user, item);
}

bool RosterService::outbound_subscribe(const std::string& user, const std::string& contact) {
  RosterItem item;
  find(user, contact, item);
  item.jid = contact;
  if (has_to(item.subscription)) return true;  // already subscribed: route, no change
  if (!item.ask_subscribe) {
    item.ask_subscribe = true;
    if (store(user, item)) push(user, item);
  }
  return true;
}

bool RosterService::outbound_subscribed(const std::string& user, const std::string& contact) {
  RosterItem item;
  find(user, contact, item);
  item.jid = contact;
  // RFC 6121 §3.1.5: only approve an actual pending request; otherwise the
  // server MAY pre-approve. We keep it simple: approval creates 'from'.
  if (has_from(item.subscription) && !item.pending_in) return false;
  item.subscription = with_from(item.subscription, true);
  item.pending_in = false;
  if (store(user, item)) push(user, item);
  return true;
}

bool RosterService::outbound_unsubscribe(const std::string& user, const std::string& contact) {
  RosterItem item;
  if (!find(user, contact, item)) return true;
  if (!has_to(item.subscription) && !item.ask_subscribe) return true;
  item.subscription = with_to(item.subscription, false);
  item.ask_subscribe = false;
  if (store(user, item)) push(user, item);
  return true;
}

bool RosterService::outbound_unsubscribed(const std::string& user, const std::string& contact) {
  RosterItem item;
  if (!find(user, contact, item)) return true;
  if (!has_from(item.subscription) && !item.pending_in) return true;
  item.subscription = with_from(item.subscription, false);
  item.pending_in = false;
  if (store(user, item)) push(user, item);
  return true;
}

RosterService::Inbound RosterService::inbound_subscribe(const std::string& user,
                                                        const std::string& contact) {
  RosterItem item;
  find(user, contact, item);
  item.jid = contact;
  // RFC 6121 §3.1.3: already approved → answer 'subscribed' for the user.
  if (has_from(item.subscription)) return Inbound::kAutoReplySubscribed;
  if (!item.pending_in) {
    item.pending_in = true;
    store(user, item);
  }
  return Inbound::kDeliver;
}

bool RosterService::inbound_subscribed(const std::string& user, const std::string& contact) {
  RosterItem item;
  if (!find(user, contact, item)) return false;
  // RFC 6121 §3.1.6: only meaningful after our own request.
  if (!item.ask_subscribe) return false;
  item.subscription = with_to(item.subscription, true);
  item.ask_subscribe = false;
  if (store(user, item)) push(user, item);
  return true;
}

bool RosterService::inbound_unsubscribe(const std::string& user, const std::string& contact) {
  RosterItem item;
  if (!find(user, contact, item)) return false;
  if (!has_from(item.subscription) && !item.pending_in) return false;
  item.subscription = with_from(item.subscription, false);
  item.pending_in = false;
  if (store(user, item)) push(user, item);
  return true;
}

bool RosterService::inbound_unsubscribed(const std::string& user, const std::string& contact) {
  RosterItem item;
  if (!find(user, contact, item)) return false;
  if (!has_to(item.subscription) && !item.ask_subscribe) return false;
  item.subscription = with_to(item.subscription, false);
  item.ask_subscribe = false;
  if (store(user, item)) push(user, item);
  return true;
}

}  // namespace xd::server
