// Router, presence and roster behaviour with in-memory stores and fake
// sessions: RFC 6121 §8 routing rules, error bounces, and the subscription
// handshake (RFC 6121 §3).
#include "server/router.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "protocol/sasl/plain.h"
#include "protocol/xml/serializer.h"
#include "server/modules/modules.h"
#include "server/presence_manager.h"
#include "server/roster_service.h"
#include "server/storage/memory_account_store.h"
#include "server/storage/memory_roster_store.h"

using namespace xd::server;
using xd::protocol::Element;
using xd::protocol::Jid;

namespace {

class FakeSession final : public Session {
 public:
  explicit FakeSession(const std::string& full) { Jid::parse(full, jid_); }
  const Jid& jid() const override { return jid_; }
  void deliver(const Element& stanza) override {
    got.push_back(xd::protocol::to_xml(stanza, "jabber:client"));
  }
  void kick(xd::protocol::StreamCondition, std::string_view) override { kicked = true; }
  std::vector<std::string> got;
  bool kicked = false;

  bool saw(std::string_view needle) const {
    for (const auto& s : got) {
      if (s.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  Jid jid_;
};

// Counts the account reads that reach the store (Router::account_exists).
class CountingAccountStore final : public AccountStore {
 public:
  explicit CountingAccountStore(AccountStore& inner) : inner_(inner) {}
  StorageError create(const StoredAccount& account) override { return inner_.create(account); }
  StorageError get(std::string_view username, StoredAccount& out) override {
    ++gets;
    return inner_.get(username, out);
  }
  StorageError update_credentials(const StoredAccount& account) override {
    return inner_.update_credentials(account);
  }
  StorageError remove(std::string_view username) override { return inner_.remove(username); }
  StorageError list(std::vector<std::string>& out) override { return inner_.list(out); }
  size_t count() override { return inner_.count(); }
  int gets = 0;

 private:
  AccountStore& inner_;
};

void fixed_random(uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(i * 7 + 1);
}

struct World {
  MemoryRosterStore rosters;
  MemoryAccountStore accounts{rosters};
  CountingAccountStore counted{accounts};
  SessionTable sessions;
  ModuleRegistry modules;
  Jid domain;
  std::unique_ptr<Router> router;
  std::unique_ptr<RosterService> roster;
  std::unique_ptr<PresenceManager> presence;
  int ids = 0;

  World() {
    Jid::parse("example.com", domain);
    for (const char* user : {"alice", "bob"}) {
      StoredAccount a;
      REQUIRE(make_account(user, "pw", fixed_random, a) == StorageError::kOk);
      REQUIRE(accounts.create(a) == StorageError::kOk);
    }
    router = std::make_unique<Router>(domain, counted, sessions, modules);
    roster = std::make_unique<RosterService>(rosters, *router,
                                             [this] { return "push" + std::to_string(++ids); });
    presence = std::make_unique<PresenceManager>(*router, *roster);
    router->set_presence_manager(presence.get());
    roster->install(modules);
    install_disco(modules, *router);
    install_ping(modules, *router);
    install_version(modules, *router);
  }

  FakeSession& online(const std::string& full, int priority = 0) {
    auto s = std::make_unique<FakeSession>(full);
    FakeSession& ref = *s;
    owned.push_back(std::move(s));
    REQUIRE(sessions.add(&ref) == nullptr);
    auto p = std::make_unique<Element>("jabber:client", "presence");
    p->set_attr("from", full);
    if (priority != 0) p->add_child("jabber:client", "priority").add_text(std::to_string(priority));
    router->route_from_client(ref, std::move(p));
    return ref;
  }

  void send(FakeSession& from, const std::string& xml_to, const std::string& kind,
            const std::string& type, const std::string& body = "") {
    auto e = std::make_unique<Element>("jabber:client", kind);
    e->set_attr("from", from.jid().str());
    if (!xml_to.empty()) e->set_attr("to", xml_to);
    if (!type.empty()) e->set_attr("type", type);
    e->set_attr("id", "x1");
    if (!body.empty()) e->add_child("jabber:client", "body").add_text(body);
    router->route_from_client(from, std::move(e));
  }

  std::vector<std::unique_ptr<FakeSession>> owned;
};

}  // namespace

TEST_CASE("router: full and bare JID delivery by priority (RFC 6121 §8.5)") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  FakeSession& b1 = w.online("bob@example.com/laptop", 5);
  FakeSession& b2 = w.online("bob@example.com/phone", 1);
  FakeSession& b3 = w.online("bob@example.com/bot", -1);
  w.send(a, "bob@example.com/phone", "message", "chat", "direct");
  CHECK(b2.saw("direct"));
  CHECK_FALSE(b1.saw("direct"));
  w.send(a, "bob@example.com", "message", "chat", "to-bare");
  CHECK(b1.saw("to-bare"));
  CHECK_FALSE(b2.saw("to-bare"));
  CHECK_FALSE(b3.saw("to-bare"));
  w.send(a, "bob@example.com", "message", "headline", "news");
  CHECK(b1.saw("news"));
  CHECK(b2.saw("news"));
  CHECK_FALSE(b3.saw("news"));
  // A vanished resource: chat falls back to the bare JID rules.
  w.send(a, "bob@example.com/gone", "message", "chat", "fallback");
  CHECK(b1.saw("fallback"));
  // 'from' is what the sender's session is bound to.
  CHECK(b1.saw("from='alice@example.com/phone'"));
}

TEST_CASE("router: unknown users, remote domains and no available resource bounce") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  w.send(a, "nobody@example.com", "message", "chat", "hi");
  CHECK(a.saw("type='error'"));
  CHECK(a.saw("service-unavailable"));
  CHECK_FALSE(a.saw(">hi<"));  // the payload is not echoed back
  a.got.clear();
  w.send(a, "someone@elsewhere.org", "message", "chat", "hi");
  CHECK(a.saw("remote-server-not-found"));
  a.got.clear();
  w.send(a, "bob@example.com", "message", "chat", "offline");
  CHECK(a.saw("service-unavailable"));  // until the delivery issue stores offline
  a.got.clear();
  // Presence to an unknown user is dropped silently (catalogue F48).
  w.send(a, "nobody@example.com", "presence", "");
  CHECK(a.got.empty());
}

TEST_CASE("F48: an IQ to a nonexistent user is answered as one the account does not handle") {
  // RFC 6121 §8.5.1: an IQ to an account that does not exist gets
  // service-unavailable. The reply must be the one an existing account gives
  // when nobody handles the IQ (no such resource, §8.5.3.2.3; no module for
  // the namespace at the bare JID, §8.5.2.1.3), which is also what XEP-0191
  // prescribes for a user who blocks the sender: so the error alone does
  // not tell "no such user" from "not handled" or "blocks you" (RFC 6120
  // §8.3.3.19, catalogue F48). Compared byte for byte with the addresses
  // swapped.
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  auto reply_to = [&](const std::string& to, const std::string& type, const std::string& ns) {
    a.got.clear();
    auto iq = std::make_unique<Element>("jabber:client", "iq");
    iq->set_attr("to", to);
    iq->set_attr("type", type);
    iq->set_attr("id", "h1");
    iq->add_child(ns, "query").add_text("payload");
    w.router->route_from_client(a, std::move(iq));
    REQUIRE(a.got.size() == 1);
    return a.got.front();
  };
  auto as_bob = [](std::string xml) {
    for (size_t at; (at = xml.find("nobody@")) != std::string::npos;) xml.replace(at, 6, "bob");
    return xml;
  };
  for (const char* type : {"get", "set"}) {
    CAPTURE(type);
    // bob exists and is offline.
    for (const char* resource : {"", "/desk"}) {
      CAPTURE(resource);
      const std::string ghost =
          reply_to(std::string("nobody@example.com") + resource, type, "urn:example:harvest");
      const std::string real =
          reply_to(std::string("bob@example.com") + resource, type, "urn:example:harvest");
      CHECK(ghost.find("type='error'") != std::string::npos);
      CHECK(ghost.find("<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>") !=
            std::string::npos);
      CHECK(ghost.find("type='cancel'") != std::string::npos);
      CHECK(ghost.find("payload") == std::string::npos);  // nothing echoed (G5)
      CHECK(as_bob(ghost) == real);
    }
  }
  // bob online: his resource answers for itself, but a resource he does not
  // have is still the same service-unavailable as for nobody.
  w.online("bob@example.com/laptop");
  CHECK(as_bob(reply_to("nobody@example.com/desk", "get", "urn:example:harvest")) ==
        reply_to("bob@example.com/desk", "get", "urn:example:harvest"));
}

TEST_CASE("F48: presence of any kind to a nonexistent user vanishes without an answer") {
  World w;
  StoredAccount carol;  // exists, offline, never answers
  REQUIRE(make_account("carol", "pw", fixed_random, carol) == StorageError::kOk);
  REQUIRE(w.accounts.create(carol) == StorageError::kOk);
  FakeSession& a = w.online("alice@example.com/phone");
  for (const char* type : {"", "probe", "subscribe", "unsubscribe", "subscribed", "unsubscribed",
                           "unavailable", "error"}) {
    CAPTURE(type);
    for (const char* to : {"nobody@example.com", "nobody@example.com/x"}) {
      CAPTURE(to);
      a.got.clear();
      w.send(a, to, "presence", type);
      for (const std::string& xml : a.got) {
        // A subscription request changes alice's own roster (a push to her,
        // RFC 6121 §3.1.2) exactly as for carol below; nothing else comes
        // back: no presence, no error.
        CHECK(xml.find("<presence") == std::string::npos);
        CHECK(xml.find("type='error'") == std::string::npos);
        CHECK(xml.find("jabber:iq:roster") != std::string::npos);
      }
    }
  }
  // The same sequence to carol gives alice the same kind of traffic: roster
  // pushes only.
  for (const char* type : {"", "probe", "subscribe", "unsubscribe", "subscribed", "unsubscribed",
                           "unavailable", "error"}) {
    CAPTURE(type);
    a.got.clear();
    w.send(a, "carol@example.com", "presence", type);
    for (const std::string& xml : a.got) {
      CHECK(xml.find("<presence") == std::string::npos);
      CHECK(xml.find("type='error'") == std::string::npos);
    }
  }
}

TEST_CASE("router: a bound session proves its account without a storage read") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  FakeSession& b = w.online("bob@example.com/laptop");
  w.counted.gets = 0;
  w.send(a, "bob@example.com", "message", "chat", "one");
  w.send(a, "BOB@example.com/laptop", "message", "chat", "two");
  CHECK(b.saw(">one<"));
  CHECK(b.saw(">two<"));
  CHECK(w.counted.gets == 0);
  // An offline account is read every time: positives are not cached.
  w.sessions.remove(&b);
  w.send(a, "bob@example.com", "message", "chat", "three");
  w.send(a, "bob@example.com", "message", "chat", "four");
  CHECK(w.counted.gets == 2);
  // Gone from storage and from the table: bounced, as for any unknown user.
  REQUIRE(w.accounts.remove("bob") == StorageError::kOk);
  a.got.clear();
  w.send(a, "bob@example.com", "message", "chat", "five");
  CHECK(a.saw("service-unavailable"));
  // The sender's own account is always read: after removing it (XEP-0077),
  // stanzas it pipelined are routed before its session leaves the table.
  REQUIRE(w.accounts.remove("alice") == StorageError::kOk);
  a.got.clear();
  w.counted.gets = 0;
  w.send(a, "alice@example.com", "message", "chat", "self");
  CHECK(w.counted.gets == 1);
  CHECK(a.saw("service-unavailable"));
  CHECK_FALSE(a.saw(">self<"));
}

TEST_CASE("router: never an error in answer to an error (RFC 6120 §8.3.1)") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  w.send(a, "nobody@example.com", "message", "error");
  w.send(a, "nobody@example.com", "iq", "error");
  w.send(a, "alice@example.com/phone", "iq", "error");
  CHECK(a.got.size() == 1);  // only its own error iq came back to itself
}

TEST_CASE("router: IQs to the server: modules answer, others are service-unavailable") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  auto ping = std::make_unique<Element>("jabber:client", "iq");
  ping->set_attr("from", "alice@example.com/phone");
  ping->set_attr("to", "example.com");
  ping->set_attr("type", "get");
  ping->set_attr("id", "p1");
  ping->add_child("urn:xmpp:ping", "ping");
  w.router->route_from_client(a, std::move(ping));
  CHECK(a.saw("<iq type='result' id='p1' to='alice@example.com/phone' from='example.com'/>"));
  auto odd = std::make_unique<Element>("jabber:client", "iq");
  odd->set_attr("to", "example.com");
  odd->set_attr("type", "get");
  odd->set_attr("id", "q1");
  odd->add_child("urn:unknown", "query");
  w.router->route_from_client(a, std::move(odd));
  CHECK(a.saw("id='q1'"));
  CHECK(a.saw("service-unavailable"));
  a.got.clear();
  // An unsolicited result to the server is dropped (catalogue G49).
  w.send(a, "example.com", "iq", "result");
  CHECK(a.got.empty());
  // disco#info lists the modules' features.
  auto disco = std::make_unique<Element>("jabber:client", "iq");
  disco->set_attr("to", "example.com");
  disco->set_attr("type", "get");
  disco->set_attr("id", "d1");
  disco->add_child("http://jabber.org/protocol/disco#info", "query");
  w.router->route_from_client(a, std::move(disco));
  CHECK(a.saw("var='urn:xmpp:ping'"));
  CHECK(a.saw("var='jabber:iq:version'"));
  CHECK(a.saw("category='server'"));
}

TEST_CASE("presence: subscription handshake, roster pushes and presence (RFC 6121 §3)") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  FakeSession& b = w.online("bob@example.com/laptop");
  // Both resources requested the roster, so they get pushes.
  for (FakeSession* s : {&a, &b}) {
    auto get = std::make_unique<Element>("jabber:client", "iq");
    get->set_attr("type", "get");
    get->set_attr("id", "r1");
    get->add_child("jabber:iq:roster", "query");
    w.router->route_from_client(*s, std::move(get));
    s->got.clear();
  }
  w.send(a, "bob@example.com", "presence", "subscribe");
  CHECK(a.saw("ask='subscribe'"));  // roster push with the pending request
  CHECK(b.saw("type='subscribe'"));
  CHECK(b.saw("from='alice@example.com'"));  // bare JID (RFC 6121 §3.1.2)
  a.got.clear();
  b.got.clear();
  w.send(b, "alice@example.com", "presence", "subscribed");
  CHECK(b.saw("subscription='from'"));  // bob's push
  CHECK(a.saw("subscription='to'"));    // alice's push
  CHECK(a.saw("type='subscribed'"));
  // Alice now receives bob's current presence, and his future broadcasts.
  CHECK(a.saw("<presence from='bob@example.com/laptop' to='alice@example.com"));
  a.got.clear();
  auto away = std::make_unique<Element>("jabber:client", "presence");
  away->add_child("jabber:client", "show").add_text("away");
  w.router->route_from_client(b, std::move(away));
  CHECK(a.saw("<show>away</show>"));
  // Bob does not see alice's presence: he has no 'to' subscription.
  b.got.clear();
  auto hers = std::make_unique<Element>("jabber:client", "presence");
  w.router->route_from_client(a, std::move(hers));
  CHECK_FALSE(b.saw("<presence"));
  // Roster get shows the item for alice.
  auto get = std::make_unique<Element>("jabber:client", "iq");
  get->set_attr("type", "get");
  get->set_attr("id", "r2");
  get->add_child("jabber:iq:roster", "query");
  w.router->route_from_client(a, std::move(get));
  CHECK(a.saw("<item jid='bob@example.com' subscription='to'/>"));
  // Unsubscribe: alice stops seeing bob.
  a.got.clear();
  w.send(a, "bob@example.com", "presence", "unsubscribe");
  CHECK(a.saw("subscription='none'"));
  CHECK(a.saw("type='unavailable'"));
}

TEST_CASE("roster: only the account itself reads or writes its roster") {
  World w;
  FakeSession& a = w.online("alice@example.com/phone");
  auto get = std::make_unique<Element>("jabber:client", "iq");
  get->set_attr("to", "bob@example.com");
  get->set_attr("type", "get");
  get->set_attr("id", "r1");
  get->add_child("jabber:iq:roster", "query");
  w.router->route_from_client(a, std::move(get));
  CHECK(a.saw("forbidden"));
}

TEST_CASE("account module: password change and removal by the account itself (XEP-0077 §3.2-3.3)") {
  World w;
  std::vector<std::string> removed;
  install_account(w.modules, *w.router, w.accounts, fixed_random,
                  [&](const Jid& bare) { removed.push_back(bare.str()); });
  FakeSession& a = w.online("alice@example.com/phone");
  auto change = std::make_unique<Element>("jabber:client", "iq");
  change->set_attr("to", "example.com");
  change->set_attr("type", "set");
  change->set_attr("id", "c1");
  Element& q = change->add_child("jabber:iq:register", "query");
  q.add_child("jabber:iq:register", "username").add_text("alice");
  q.add_child("jabber:iq:register", "password").add_text("new password");
  w.router->route_from_client(a, std::move(change));
  CHECK(a.saw("<iq type='result' id='c1'"));
  StoredAccount stored;
  REQUIRE(w.accounts.get("alice", stored) == StorageError::kOk);
  CHECK(xd::protocol::plain_verify(stored.sha256, "new password"));
  CHECK_FALSE(xd::protocol::plain_verify(stored.sha256, "pw"));

  // Someone else's username is refused.
  auto other = std::make_unique<Element>("jabber:client", "iq");
  other->set_attr("to", "example.com");
  other->set_attr("type", "set");
  other->set_attr("id", "c2");
  Element& q2 = other->add_child("jabber:iq:register", "query");
  q2.add_child("jabber:iq:register", "username").add_text("bob");
  q2.add_child("jabber:iq:register", "password").add_text("hijack");
  w.router->route_from_client(a, std::move(other));
  CHECK(a.saw("id='c2'"));
  CHECK(a.saw("not-authorized"));
  REQUIRE(w.accounts.get("bob", stored) == StorageError::kOk);
  CHECK(xd::protocol::plain_verify(stored.sha256, "pw"));

  auto remove = std::make_unique<Element>("jabber:client", "iq");
  remove->set_attr("to", "example.com");
  remove->set_attr("type", "set");
  remove->set_attr("id", "c3");
  remove->add_child("jabber:iq:register", "query").add_child("jabber:iq:register", "remove");
  w.router->route_from_client(a, std::move(remove));
  CHECK(a.saw("<iq type='result' id='c3'"));
  CHECK(w.accounts.get("alice", stored) == StorageError::kNotFound);
  CHECK(removed == std::vector<std::string>{"alice@example.com"});
}

TEST_CASE("carbons: received and sent copies to the account's other resources (XEP-0280)") {
  World w;
  install_carbons(w.modules, *w.router);
  FakeSession& phone = w.online("alice@example.com/phone");
  FakeSession& laptop = w.online("alice@example.com/laptop");
  FakeSession& tablet = w.online("alice@example.com/tablet");  // never enables carbons
  FakeSession& bob = w.online("bob@example.com/desk");
  for (FakeSession* s : {&phone, &laptop}) {
    auto enable = std::make_unique<Element>("jabber:client", "iq");
    enable->set_attr("type", "set");
    enable->set_attr("id", "e1");
    enable->set_attr("to", "example.com");
    enable->add_child("urn:xmpp:carbons:2", "enable");
    w.router->route_from_client(*s, std::move(enable));
    CHECK(s->saw("<iq type='result' id='e1'"));
    s->got.clear();
  }
  tablet.got.clear();
  w.send(bob, "alice@example.com/phone", "message", "chat", "to-phone");
  CHECK(phone.saw(">to-phone<"));
  CHECK(laptop.saw("<received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"));
  CHECK(laptop.saw(">to-phone<"));
  CHECK_FALSE(tablet.saw("to-phone"));
  laptop.got.clear();
  w.send(phone, "bob@example.com/desk", "message", "chat", "from-phone");
  CHECK(bob.saw(">from-phone<"));
  CHECK(laptop.saw("<sent xmlns='urn:xmpp:carbons:2'>"));
  CHECK(laptop.saw(">from-phone<"));
  CHECK_FALSE(phone.saw("<sent"));  // never back to the sender itself
  laptop.got.clear();
  // Private messages are not copied (XEP-0280 §7).
  auto secret = std::make_unique<Element>("jabber:client", "message");
  secret->set_attr("to", "alice@example.com/phone");
  secret->set_attr("type", "chat");
  secret->add_child("jabber:client", "body").add_text("psst");
  secret->add_child("urn:xmpp:carbons:2", "private");
  w.router->route_from_client(bob, std::move(secret));
  CHECK(phone.saw("psst"));
  CHECK_FALSE(laptop.saw("psst"));
}

namespace {

size_t count_with(const FakeSession& s, std::string_view needle) {
  size_t n = 0;
  for (const auto& x : s.got) n += x.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

void enable_carbons(World& w, FakeSession& s) {
  auto enable = std::make_unique<Element>("jabber:client", "iq");
  enable->set_attr("type", "set");
  enable->set_attr("id", "e1");
  enable->set_attr("to", "example.com");
  enable->add_child("urn:xmpp:carbons:2", "enable");
  w.router->route_from_client(s, std::move(enable));
  REQUIRE(s.saw("<iq type='result' id='e1'"));
  s.got.clear();
}

}  // namespace

TEST_CASE("G51: messages to too many distinct recipients get unexpected-request + too-many-stanzas") {
  World w;
  uint64_t now = 1000;
  SendLimits limits;
  limits.max_recipients_per_minute = 3;
  w.router->set_send_limits(limits, [&now] { return now; });
  FakeSession& a = w.online("alice@example.com/phone");
  FakeSession& a2 = w.online("alice@example.com/laptop");
  FakeSession& b = w.online("bob@example.com/desk");
  const std::string too_many =
      "<error type='wait'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
      "<too-many-stanzas xmlns='urn:xmpp:errors'/></error>";
  w.send(a, "bob@example.com", "message", "chat", "one");
  CHECK(b.saw(">one<"));
  // Unknown accounts and other domains count: the limit cannot be probed
  // around.
  w.send(a, "nobody1@example.com", "message", "chat", "two");
  w.send(a, "nobody2@elsewhere.example", "message", "chat", "three");
  CHECK(count_with(a, "service-unavailable") == 1);
  CHECK(count_with(a, "remote-server-not-found") == 1);
  CHECK_FALSE(a.saw("too-many-stanzas"));
  a.got.clear();
  // The fourth distinct recipient within the minute is refused, with the
  // error of XEP-0205 and nothing routed.
  w.send(a, "nobody3@example.com", "message", "chat", "four");
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].find("type='error'") != std::string::npos);
  CHECK(a.got[0].find(too_many) != std::string::npos);
  CHECK(a.got[0].find("service-unavailable") == std::string::npos);
  CHECK(a.got[0].find("four") == std::string::npos);  // payload not echoed
  a.got.clear();
  // Known recipients and the own account still work; a full JID counts as
  // its bare JID.
  w.send(a, "bob@example.com/desk", "message", "chat", "five");
  CHECK(b.saw(">five<"));
  w.send(a, "alice@example.com/laptop", "message", "chat", "six");
  CHECK(a2.saw(">six<"));
  CHECK_FALSE(a.saw("too-many-stanzas"));
  // The limit is per session: another resource of the account has its own.
  w.send(a2, "nobody3@example.com", "message", "chat", "seven");
  CHECK(a2.saw("service-unavailable"));
  CHECK_FALSE(a2.saw("too-many-stanzas"));
  // A sliding window: recipients not messaged for a minute make room.
  now += 30000;
  w.send(a, "bob@example.com", "message", "chat", "eight");  // bob stays fresh
  now += 30000;
  a.got.clear();
  w.send(a, "nobody3@example.com", "message", "chat", "nine");
  CHECK(a.saw("service-unavailable"));
  CHECK_FALSE(a.saw("too-many-stanzas"));
  a.got.clear();
  w.send(a, "nobody4@example.com", "message", "chat", "ten");
  CHECK(a.saw("service-unavailable"));
  a.got.clear();
  w.send(a, "nobody5@example.com", "message", "chat", "eleven");  // bob, 3 and 4: full
  CHECK(a.saw("too-many-stanzas"));
  // An error is never answered with an error, even when refused.
  a.got.clear();
  w.send(a, "nobody6@example.com", "message", "error");
  CHECK(a.got.empty());
}

TEST_CASE("G51: a message to the own bare JID reaches each of 10 resources once, carbons included") {
  World w;
  install_carbons(w.modules, *w.router);
  std::vector<FakeSession*> rs;
  for (int i = 0; i < 10; ++i) {
    // Half at priority 1 (they get the message), half at 0 (carbons only).
    FakeSession& s = w.online("alice@example.com/r" + std::to_string(i), i < 5 ? 1 : 0);
    rs.push_back(&s);
  }
  for (int i = 0; i < 10; ++i) {
    if (i % 2 == 0 || i == 1) enable_carbons(w, *rs[i]);
  }
  for (FakeSession* s : rs) s->got.clear();
  w.send(*rs[0], "alice@example.com", "message", "chat", "note-to-self");
  size_t total = 0;
  for (int i = 0; i < 10; ++i) {
    const size_t n = count_with(*rs[i], "note-to-self");
    CAPTURE(i);
    CHECK(n <= 1);
    total += n;
    if (i < 5) CHECK(n == 1);  // the message itself, the sender included
    if (i >= 5 && (i % 2 == 0)) CHECK(n == 1);  // a 'received' copy
    if (i >= 5 && (i % 2 == 1)) CHECK(n == 0);  // neither target nor carbons
    CHECK(count_with(*rs[i], "<sent ") == 0);
  }
  CHECK(total <= 10);
  // To another resource of the own account by full JID: the target gets
  // the message, every other carbons resource one copy, the sender none.
  for (FakeSession* s : rs) s->got.clear();
  w.send(*rs[0], "alice@example.com/r1", "message", "chat", "to-r1");
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    const size_t n = count_with(*rs[i], "to-r1");
    if (i == 0) {
      CHECK(n == 0);
    } else if (i == 1 || i % 2 == 0) {
      CHECK(n == 1);
    } else {
      CHECK(n == 0);
    }
  }
}

TEST_CASE("G51: presence broadcasts beyond the limit are held back; the latest goes out later") {
  World w;
  uint64_t now = 5000;
  SendLimits limits;
  limits.max_presence_broadcasts_per_minute = 3;
  w.router->set_send_limits(limits, [&now] { return now; });
  std::vector<uint64_t> hooked;
  w.presence->set_deferred_hook([&hooked](uint64_t delay) { hooked.push_back(delay); });
  FakeSession& a = w.online("alice@example.com/phone");
  FakeSession& b = w.online("bob@example.com/laptop");  // broadcast 1 of 3
  w.send(a, "bob@example.com", "presence", "subscribe");
  w.send(b, "alice@example.com", "presence", "subscribed");
  a.got.clear();
  auto status = [&](int i) {
    auto p = std::make_unique<Element>("jabber:client", "presence");
    p->set_attr("from", b.jid().str());
    p->add_child("jabber:client", "status").add_text("s" + std::to_string(i));
    w.router->route_from_client(b, std::move(p));
  };
  for (int i = 0; i < 50; ++i) status(i);
  // Two were left in the budget: s0 and s1; the rest are held back and the
  // server is asked once to come back (a broadcast every 20 s).
  CHECK(count_with(a, "<presence from='bob@example.com/laptop'") == 2);
  CHECK(a.saw(">s0<"));
  CHECK(a.saw(">s1<"));
  CHECK_FALSE(a.saw(">s2<"));
  REQUIRE(hooked.size() == 1);
  CHECK(hooked[0] == 20000);
  // Probes see the latest state at once (it is kept, only not fanned out).
  CHECK(xd::protocol::to_xml(*b.last_presence(), "jabber:client").find(">s49<") != std::string::npos);
  // Too early: nothing; the next run is due when a broadcast is allowed.
  CHECK(w.presence->flush_deferred() == 20000);
  CHECK(count_with(a, "<presence") == 2);
  now += 20000;
  CHECK(w.presence->flush_deferred() == 0);
  CHECK(count_with(a, "<presence") == 3);
  CHECK(a.saw(">s49<"));  // the latest state wins
  CHECK_FALSE(a.saw(">s48<"));
  // Out of budget again: an 'unavailable' is held back, and the end of the
  // session still tells the contact (never rate-limited).
  a.got.clear();
  w.send(b, "", "presence", "unavailable");
  CHECK_FALSE(a.saw("type='unavailable'"));
  w.presence->session_ended(b);
  CHECK(a.saw("<presence type='unavailable' from='bob@example.com/laptop'"));
  w.sessions.remove(&b);
  CHECK(w.presence->flush_deferred() == 0);  // gone, nothing left
}
