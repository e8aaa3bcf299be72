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
