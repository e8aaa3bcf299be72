#include "server/push_notifier.h"

#include "protocol/xml/fragment_parser.h"
#include "server/log.h"
#include "server/router.h"

namespace xd::server {

using protocol::Element;
using protocol::Jid;

namespace {

constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kPubsubNs = "http://jabber.org/protocol/pubsub";
constexpr std::string_view kPushNs = "urn:xmpp:push:0";
constexpr std::string_view kDataNs = "jabber:x:data";
// The body field is cut to this many octets (at a UTF-8 boundary).
constexpr size_t kMaxBodyBytes = 256;

void add_field(Element& form, std::string_view var, std::string_view value) {
  Element& f = form.add_child(kDataNs, "field");
  f.set_attr("var", var);
  f.add_child(kDataNs, "value").add_text(value);
}

std::string cut_utf8(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

}  // namespace

PushNotifier::PushNotifier(net::NetLoop& loop, MessageStore& store, Router& router,
                           PushOptions options)
    : loop_(loop), store_(store), router_(router), options_(options), timer_(loop, [this] {
        on_timer();
      }) {}

void PushNotifier::stored(const std::string& user, const Element& message,
                          std::string_view sender) {
  std::string body;
  if (options_.include_body) {
    if (const Element* b = message.child("body", kClientNs))
      body = cut_utf8(b->text(), kMaxBodyBytes);
  }
  want(user, sender, body);
}

void PushNotifier::stalled(const std::string& user) { want(user, {}, {}); }

void PushNotifier::want(const std::string& user, std::string_view sender, std::string_view body) {
  std::vector<PushRegistration> regs;
  if (store_.get_push(user, regs) != StorageError::kOk || regs.empty()) return;
  Account& a = accounts_[user];
  if (!sender.empty()) {
    a.last_sender = std::string(sender);
    a.last_body = std::string(body);
  }
  const uint64_t now = loop_.now_ms();
  if (a.last_sent_ms == 0 || now >= a.last_sent_ms + options_.min_interval_ms) {
    send(user, a);
    return;
  }
  // Coalesced: the timer sends the latest summary when the interval ends.
  a.dirty = true;
  arm();
}

void PushNotifier::send(const std::string& user, Account& a) {
  a.dirty = false;
  a.last_sent_ms = loop_.now_ms();
  if (a.last_sent_ms == 0) a.last_sent_ms = 1;
  std::vector<PushRegistration> regs;
  if (store_.get_push(user, regs) != StorageError::kOk || regs.empty()) return;
  size_t count = 0;
  store_.count(user, count);
  Jid account;
  if (Jid::from_parts(user, router_.domain().domain(), {}, account) != protocol::JidError::kOk) {
    return;
  }
  for (const PushRegistration& reg : regs) {
    Jid to;
    if (Jid::parse(reg.jid, to) != protocol::JidError::kOk) continue;
    // XEP-0357 §7: a pubsub publish of a summary form to the app server.
    Element iq(kClientNs, "iq");
    iq.set_attr("type", "set");
    iq.set_attr("from", account.bare_str());
    iq.set_attr("to", to.str());
    iq.set_attr("id", "push" + std::to_string(++next_id_));
    Element& pubsub = iq.add_child(kPubsubNs, "pubsub");
    Element& publish = pubsub.add_child(kPubsubNs, "publish");
    publish.set_attr("node", reg.node);
    Element& form = publish.add_child(kPubsubNs, "item")
                        .add_child(kPushNs, "notification")
                        .add_child(kDataNs, "x");
    form.set_attr("type", "submit");
    add_field(form, "FORM_TYPE", "urn:xmpp:push:summary");
    add_field(form, "message-count", std::to_string(count));
    if (!a.last_sender.empty()) add_field(form, "last-message-sender", a.last_sender);
    if (!a.last_body.empty()) add_field(form, "last-message-body", a.last_body);
    if (!reg.options_xml.empty()) {
      if (auto options = protocol::parse_fragment(reg.options_xml)) {
        pubsub.add_child(kPubsubNs, "publish-options").add_child(std::move(options));
      }
    }
    router_.deliver_to_local(to, iq);
    ++sent_;
    XD_INFO("push: notified %s for %s (%zu pending)", to.str().c_str(), user.c_str(), count);
  }
}

void PushNotifier::arm() {
  if (timer_.active()) return;
  timer_.start(options_.min_interval_ms);
}

void PushNotifier::on_timer() {
  const uint64_t now = loop_.now_ms();
  bool more = false;
  for (auto it = accounts_.begin(); it != accounts_.end();) {
    Account& a = it->second;
    if (a.dirty && now >= a.last_sent_ms + options_.min_interval_ms) {
      send(it->first, a);
    } else if (a.dirty) {
      more = true;
    } else if (now >= a.last_sent_ms + options_.min_interval_ms) {
      // Quiet for a whole interval: forget it (bounded memory).
      it = accounts_.erase(it);
      continue;
    }
    ++it;
  }
  if (more || !accounts_.empty()) timer_.start(options_.min_interval_ms);
}

}  // namespace xd::server
