// The durable delivery path of server/delivery_queue.h (spec/delivery.md):
// what is storable (§3), the XEP-0203 delay stamp, and a DeliveryQueue on a
// real NetLoop with the memory store and fake sessions: group commit in the
// prepare phase before any delivery or ack (§1.1-1.2), quota and full-store
// bounces (§1.4), origin-id de-duplication (§2.2), removal on delivery,
// hand-over of released entries (§1.3) and the catch-up backlog (§4).
#include "server/delivery_queue.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "net/net_loop.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"
#include "server/metrics.h"
#include "server/module_registry.h"
#include "server/router.h"
#include "server/session.h"
#include "server/session_table.h"
#include "server/storage/memory_account_store.h"
#include "server/storage/memory_message_store.h"
#include "server/storage/memory_roster_store.h"
#include "server/stored_stanza.h"

namespace xd::server {
namespace {

using protocol::Element;
using protocol::Jid;
using protocol::JidError;
using protocol::parse_fragment;

constexpr std::string_view kCatchupNs = "urn:xmppd:catchup:0";

// The XML of a queue entry (stored in the compact form).
std::string xml_of(const QueuedStanza& q) {
  auto e = decode_stored(q.data, "example.com");
  REQUIRE(e);
  return protocol::to_xml(*e, "jabber:client");
}

// A session that records what the queue and the router hand it.
class QueueSession final : public Session {
 public:
  explicit QueueSession(const std::string& full) {
    REQUIRE(Jid::parse(full, jid_) == JidError::kOk);
  }
  const Jid& jid() const override { return jid_; }
  void deliver(const Element& stanza) override {
    stanzas.push_back(protocol::to_xml(stanza, "jabber:client"));
    log.push_back("stanza");
  }
  void kick(protocol::StreamCondition, std::string_view) override { kicked = true; }
  bool deliver_queued(const QueuedStanza& q, bool delayed,
                      const protocol::Element* /*live*/) override {
    if (refuse) return false;
    queued.push_back(q);
    delayed_flags.push_back(delayed);
    log.push_back("queued:" + std::to_string(q.seq));
    return true;
  }
  uint64_t hold_ack() override {
    holds.push_back(next_token_++);
    return holds.back();
  }
  void release_ack(uint64_t token) override { released.push_back(token); }

  std::vector<uint64_t> queued_seqs() const {
    std::vector<uint64_t> out;
    for (const auto& q : queued) out.push_back(q.seq);
    return out;
  }
  // Stanzas (not queue entries) that contain |needle|.
  size_t stanzas_with(std::string_view needle) const {
    size_t n = 0;
    for (const auto& s : stanzas) n += s.find(needle) != std::string::npos;
    return n;
  }

  std::vector<std::string> stanzas;
  std::vector<QueuedStanza> queued;
  std::vector<bool> delayed_flags;
  std::vector<std::string> log;  // "stanza" and "queued:SEQ", in order
  std::vector<uint64_t> holds;
  std::vector<uint64_t> released;
  bool refuse = false;
  bool kicked = false;
  bool offline = false;  // connected() is false (hibernating)
  bool connected() const override { return !offline; }
  size_t room = SIZE_MAX;  // what queue_room() reports
  size_t queue_room() override { return room; }

 private:
  Jid jid_;
  uint64_t next_token_ = 100;
};

// Valid stored credentials without PBKDF2.
StoredAccount account(std::string name) {
  StoredAccount a;
  a.username = std::move(name);
  a.sha1.hash = protocol::ScramHash::kSha1;
  a.sha1.salt = std::string(16, 's');
  a.sha1.iterations = 4096;
  a.sha1.stored_key = std::string(20, 'k');
  a.sha1.server_key = std::string(20, 'l');
  a.sha256 = a.sha1;
  a.sha256.hash = protocol::ScramHash::kSha256;
  a.sha256.stored_key = std::string(32, 'k');
  a.sha256.server_key = std::string(32, 'l');
  return a;
}

QueuePolicy committed_first() {
  QueuePolicy p;
  p.early_delivery = false;
  return p;
}

QueuePolicy early() { return QueuePolicy{}; }

struct World {
  net::NetLoop loop;
  MemoryRosterStore rosters;
  MemoryAccountStore accounts{rosters};
  SessionTable sessions;
  ModuleRegistry modules;
  Jid domain;
  std::unique_ptr<Router> router;
  MemoryMessageStore store;
  std::unique_ptr<DeliveryQueue> queue;
  std::vector<std::unique_ptr<QueueSession>> owned;

  // Most cases pin the committed path (early_delivery off); the §1.5 cases
  // turn it on.
  explicit World(QueuePolicy policy = committed_first()) {
    REQUIRE(Jid::parse("example.com", domain) == JidError::kOk);
    for (const char* user : {"alice", "bob"})
      REQUIRE(accounts.create(account(user)) == StorageError::kOk);
    router = std::make_unique<Router>(domain, accounts, sessions, modules);
    queue = std::make_unique<DeliveryQueue>(loop, store, *router, policy);
    router->set_delivery(queue.get());
  }

  // A bound session in the table; available with |priority| unless
  // |available| is false.
  QueueSession& online(const std::string& full, int priority = 0, bool available = true) {
    owned.push_back(std::make_unique<QueueSession>(full));
    QueueSession& s = *owned.back();
    REQUIRE(sessions.add(&s) == nullptr);
    if (available) s.set_presence(std::make_unique<Element>("jabber:client", "presence"), priority);
    return s;
  }

  // One loop iteration: the prepare phase runs the group commit.
  void iterate() { loop.run_nowait(); }

  // conventions.md §13: the loop ends empty.
  void finish() {
    queue.reset();
    CHECK(loop.close());
  }

  size_t queued_for(std::string_view user) {
    size_t n = 0;
    REQUIRE(store.count(user, n) == StorageError::kOk);
    return n;
  }
};

std::unique_ptr<Element> chat(std::string_view from, std::string_view to, std::string_view body,
                              std::string_view extra = {}) {
  auto m = parse_fragment("<message from='" + std::string(from) + "' to='" + std::string(to) +
                          "' type='chat' id='m-" + std::string(body) + "'><body>" +
                          std::string(body) + "</body>" + std::string(extra) + "</message>");
  REQUIRE(m != nullptr);
  return m;
}

Jid jid(std::string_view s) {
  Jid j;
  REQUIRE(Jid::parse(s, j) == JidError::kOk);
  return j;
}

bool storable(std::string_view xml) {
  auto m = parse_fragment(xml);
  REQUIRE_MESSAGE(m != nullptr, xml);
  return is_storable(*m);
}

TEST_SUITE("delivery_queue") {
  TEST_CASE("is_storable: chat and normal with content; spec §3 exclusions") {
    struct Case {
      const char* xml;
      bool stored;
    };
    const Case cases[] = {
        {"<message type='chat'><body>x</body></message>", true},
        {"<message type='normal'><body>x</body></message>", true},
        {"<message><body>x</body></message>", true},  // no type is normal
        {"<message type='chat'><subject>s</subject></message>", true},
        {"<message type='chat'><body>x</body><thread>t</thread>"
         "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
         true},
        {"<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>", true},
        // XEP-0184 receipts and XEP-0333 markers are content.
        {"<message type='chat'><received xmlns='urn:xmpp:receipts' id='r1'/></message>", true},
        {"<message><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/></message>", true},
        {"<message type='chat'><x xmlns='jabber:x:oob'><url>u</url></x></message>", true},
        // Nothing of their own (XEP-0160 §3).
        {"<message type='chat'/>", false},
        {"<message type='chat'><composing "
         "xmlns='http://jabber.org/protocol/chatstates'/></message>",
         false},
        {"<message type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/>"
         "<thread>t</thread><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>",
         false},
        {"<message type='chat'><thread>t</thread><origin-id xmlns='urn:xmpp:sid:0' id='o'/>"
         "</message>",
         false},
        {"<message type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/>"
         "<store xmlns='urn:xmpp:hints'/></message>",
         false},
        // XEP-0334 hints.
        {"<message type='chat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>", false},
        {"<message type='chat'><body>x</body><no-permanent-store "
         "xmlns='urn:xmpp:hints'/></message>",
         false},
        // Never stored.
        {"<message type='headline'><body>x</body></message>", false},
        {"<message type='groupchat'><body>x</body></message>", false},
        {"<message type='error'><body>x</body></message>", false},
    };
    for (const Case& c : cases) {
      CAPTURE(c.xml);
      CHECK(storable(c.xml) == c.stored);
    }
  }

  TEST_CASE("xmpp_timestamp: XEP-0082 UTC with milliseconds") {
    CHECK(xmpp_timestamp(0) == "1970-01-01T00:00:00.000Z");
    CHECK(xmpp_timestamp(999) == "1970-01-01T00:00:00.999Z");
    CHECK(xmpp_timestamp(1795837267123ull) == "2026-11-28T03:41:07.123Z");  // spec §4 example
    CHECK(xmpp_timestamp(951782400000ull + 7) == "2000-02-29T00:00:00.007Z");
    CHECK(xmpp_timestamp(4102444799999ull) == "2099-12-31T23:59:59.999Z");
    const uint64_t now = wall_clock_ms();
    CHECK(now > 1700000000000ull);  // after 2023
    CHECK(xmpp_timestamp(now).size() == 24);
  }

  TEST_CASE("stored form: the compact encoding round-trips; legacy XML entries still read") {
    auto m = parse_fragment(
        "<message to='bob@example.com' from='alice@example.com/phone' type='chat'>"
        "<body>x</body><stanza-id xmlns='urn:xmpp:sid:0' id='42' by='bob@example.com'/>"
        "</message>");
    REQUIRE(m);
    std::string data;
    REQUIRE(encode_stored(*m, "example.com", data));
    CHECK(data[0] == '\x01');
    CHECK(data.size() < protocol::to_xml(*m, "jabber:client").size() / 2);
    CHECK(!stored_compact_body(data).empty());
    auto back = decode_stored(data, "example.com");
    REQUIRE(back);
    CHECK(back->equals(*m));
    // An entry an earlier version stored as XML.
    const std::string legacy = protocol::to_xml(*m, "jabber:client");
    CHECK(stored_compact_body(legacy).empty());
    auto old = decode_stored(legacy, "example.com");
    REQUIRE(old);
    CHECK(old->equals(*m));
    CHECK(decode_stored("", "example.com") == nullptr);
    CHECK(decode_stored(std::string("\x01\xff", 2), "example.com") == nullptr);
  }

  TEST_CASE("add_delay: XEP-0203 from the domain, with the acceptance time") {
    auto m = parse_fragment("<message to='bob@example.com'><body>x</body></message>");
    REQUIRE(m);
    add_delay(*m, 1795837267123ull, "example.com");
    CHECK(protocol::to_xml(*m, "jabber:client") ==
          "<message to='bob@example.com'><body>x</body>"
          "<delay xmlns='urn:xmpp:delay' from='example.com' stamp='2026-11-28T03:41:07.123Z'>"
          "Offline Storage</delay></message>");
  }

  TEST_CASE("accept: nothing happens before the commit; then one delivery and the ack release") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    const uint64_t before = wall_clock_ms();
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "one"));
    REQUIRE(alice.holds.size() == 1);
    CHECK(alice.released.empty());
    CHECK(bob.queued.empty());
    CHECK(w.queued_for("bob") == 0);

    w.iterate();
    REQUIRE(bob.queued.size() == 1);
    CHECK(bob.delayed_flags[0] == false);
    const QueuedStanza& q = bob.queued[0];
    CHECK(q.user == "bob");
    CHECK(q.stamp_ms >= before);
    CHECK(q.stamp_ms <= wall_clock_ms());
    CHECK(xml_of(q).find("<body>one</body>") != std::string::npos);
    CHECK(xml_of(q).find("<stanza-id xmlns='urn:xmpp:sid:0' id='" + std::to_string(q.seq) +
                         "' by='bob@example.com'/>") != std::string::npos);
    CHECK(alice.released == alice.holds);
    CHECK(alice.stanzas.empty());  // no error
    CHECK(w.queued_for("bob") == 1);
    CHECK(w.queue->in_flight() == 1);

    // Nothing more on later iterations.
    w.iterate();
    CHECK(bob.queued.size() == 1);
    CHECK(alice.released.size() == 1);
    w.finish();
  }

  TEST_CASE("§1.5 early delivery: written before the commit, the ack still after it") {
    World w(early());
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    QueueSession& tablet = w.online("bob@example.com/tablet");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "one"));
    // Both of bob's sessions have it before any commit...
    REQUIRE(bob.queued.size() == 1);
    REQUIRE(tablet.queued.size() == 1);
    CHECK(bob.delayed_flags[0] == false);
    CHECK(xml_of(bob.queued[0]).find("<body>one</body>") != std::string::npos);
    CHECK(xml_of(bob.queued[0]).find("by='bob@example.com'") != std::string::npos);
    CHECK(w.queue->in_flight() == 1);
    // ...but alice's ack waits for the commit, which stores it.
    REQUIRE(alice.holds.size() == 1);
    CHECK(alice.released.empty());
    CHECK(w.queued_for("bob") == 0);
    w.iterate();
    CHECK(alice.released == alice.holds);
    CHECK(w.queued_for("bob") == 1);
    CHECK(bob.queued.size() == 1);  // not handed over a second time
    CHECK(tablet.queued.size() == 1);
    w.queue->delivered("bob", bob.queued[0].seq);
    w.iterate();
    CHECK(w.queued_for("bob") == 0);
    w.finish();
  }

  TEST_CASE("§1.5: delivered before its commit, the entry is stored and removed in one commit") {
    World w(early());
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "fast"));
    REQUIRE(bob.queued.size() == 1);
    w.queue->delivered("bob", bob.queued[0].seq);  // the write completed at once
    CHECK(w.queue->in_flight() == 0);
    w.iterate();
    CHECK(w.queued_for("bob") == 0);
    CHECK(alice.released == alice.holds);
    w.finish();
  }

  TEST_CASE(
      "§1.5: a hibernating or catching-up recipient, and what follows it, wait for the "
      "commit") {
    World w(early());
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    bob.offline = true;
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "1"));
    CHECK(bob.queued.empty());
    // Back online within the same iteration: the next message would be
    // deliverable now, but must not overtake the first.
    bob.offline = false;
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "2"));
    CHECK(bob.queued.empty());
    w.iterate();
    REQUIRE(bob.queued.size() == 2);
    CHECK(xml_of(bob.queued[0]).find("<body>1</body>") != std::string::npos);
    CHECK(xml_of(bob.queued[1]).find("<body>2</body>") != std::string::npos);
    // The next batch starts afresh: early again.
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "3"));
    CHECK(bob.queued.size() == 3);
    w.iterate();
    // A session catching up gets its backlog first.
    QueueSession& phone = w.online("bob@example.com/phone");
    phone.room = 0;  // its backlog stays in progress
    w.queue->deliver_backlog(phone);
    REQUIRE(w.queue->catching_up(phone));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "4"));
    CHECK(bob.queued.size() == 3);
    w.iterate();
    CHECK(bob.queued.size() == 4);
    w.finish();
  }

  TEST_CASE("§1.5 and §2.2: a repeated origin-id is never written early, nor delivered") {
    World w(early());
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    const std::string oid = "<origin-id xmlns='urn:xmpp:sid:0' id='o-9'/>";
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "a", oid));
    CHECK(bob.queued.size() == 1);  // new: early
    // The same id again in the same batch, and after the commit.
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "b", oid));
    CHECK(bob.queued.size() == 1);
    w.iterate();
    CHECK(bob.queued.size() == 1);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "c", oid));
    CHECK(bob.queued.size() == 1);
    w.iterate();
    CHECK(bob.queued.size() == 1);
    CHECK(alice.released.size() == 3);  // each acknowledged
    CHECK(w.queued_for("bob") == 1);
    w.finish();
  }

  TEST_CASE("§1.5: kFull after an early write: no bounce, no second copy") {
    World w(early());
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.store.fail_next_commit(StorageError::kFull);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "live"));
    w.iterate();
    CHECK(bob.queued.size() == 1);
    CHECK(bob.stanzas_with("live") == 0);
    CHECK(alice.stanzas_with("resource-constraint") == 0);
    CHECK(alice.released == alice.holds);
    w.finish();
  }

  TEST_CASE("§1.5: released before its commit, an early entry goes to another session") {
    World w(early());
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& laptop = w.online("bob@example.com/laptop", 5);
    QueueSession& phone = w.online("bob@example.com/phone", 1);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    REQUIRE(laptop.queued.size() == 1);
    const uint64_t seq = laptop.queued[0].seq;
    w.sessions.remove(&laptop);
    w.queue->release(laptop, {seq});
    REQUIRE(phone.queued.size() == 1);
    CHECK(phone.queued[0].seq == seq);
    w.iterate();
    CHECK(w.queued_for("bob") == 1);
    CHECK(w.queue->in_flight() == 1);
    w.finish();
  }

  TEST_CASE("delivered() removes the entry at the next commit") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    w.iterate();
    REQUIRE(bob.queued.size() == 1);
    w.queue->delivered("bob", bob.queued[0].seq);
    CHECK(w.queue->in_flight() == 0);
    w.iterate();
    CHECK(w.queued_for("bob") == 0);
    w.finish();
  }

  TEST_CASE("route_from_client: storable messages go through the queue, headlines do not") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.router->route_from_client(alice,
                                chat("alice@example.com/phone", "bob@example.com", "routed"));
    CHECK(bob.queued.empty());
    auto headline = parse_fragment(
        "<message from='alice@example.com/phone' to='bob@example.com' type='headline'>"
        "<body>news</body></message>");
    w.router->route_from_client(alice, std::move(headline));
    CHECK(bob.stanzas_with("news") == 1);  // live, at once
    w.iterate();
    REQUIRE(bob.queued.size() == 1);
    CHECK(xml_of(bob.queued[0]).find("routed") != std::string::npos);
    CHECK(w.queued_for("bob") == 1);
    w.finish();
  }

  TEST_CASE("a message to a full JID goes to that resource only") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& laptop = w.online("bob@example.com/laptop", 5);
    QueueSession& phone = w.online("bob@example.com/phone", 1);
    w.queue->accept(&alice, jid("bob@example.com/phone"),
                    chat("alice@example.com/phone", "bob@example.com/phone", "direct"));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "bare"));
    w.iterate();
    REQUIRE(phone.queued.size() == 1);
    CHECK(xml_of(phone.queued[0]).find("direct") != std::string::npos);
    REQUIRE(laptop.queued.size() == 1);  // highest priority for the bare JID
    CHECK(xml_of(laptop.queued[0]).find("bare") != std::string::npos);
    CHECK(alice.released.size() == 2);
    w.finish();
  }

  TEST_CASE("nobody online: the entry waits in the queue, the ack is still released") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& away = w.online("bob@example.com/away", 0, /*available=*/false);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "later"));
    w.iterate();
    CHECK(away.queued.empty());
    CHECK(alice.released == alice.holds);
    CHECK(alice.stanzas.empty());
    CHECK(w.queued_for("bob") == 1);
    CHECK(w.queue->in_flight() == 0);
    w.finish();
  }

  TEST_CASE("a session that refuses the entry leaves it queued and not in flight") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    bob.refuse = true;
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    w.iterate();
    CHECK(bob.queued.empty());
    CHECK(w.queue->in_flight() == 0);
    CHECK(w.queued_for("bob") == 1);
    w.finish();
  }

  TEST_CASE("quota: resource-constraint to the origin, and the ack is released anyway") {
    QueuePolicy policy;
    policy.quota = 1;
    World w(policy);
    QueueSession& alice = w.online("alice@example.com/phone");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "first"));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "second"));
    w.iterate();
    CHECK(w.queued_for("bob") == 1);
    REQUIRE(alice.stanzas.size() == 1);
    const std::string& error = alice.stanzas[0];
    CHECK(error.find("type='error'") != std::string::npos);
    CHECK(error.find("m-second") != std::string::npos);
    CHECK(error.find("<error type='wait'><resource-constraint "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>") != std::string::npos);
    CHECK(alice.holds.size() == 2);
    CHECK(alice.released == alice.holds);
    w.finish();
  }

  TEST_CASE("a commit that fails with kFull bounces resource-constraint and releases the ack") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    // Bob is bound but not available: nobody takes the message live.
    QueueSession& bob = w.online("bob@example.com/laptop", 0, /*available=*/false);
    w.store.fail_next_commit(StorageError::kFull);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "lost"));
    w.iterate();
    CHECK(bob.queued.empty());
    CHECK(bob.stanzas.empty());
    CHECK(w.queued_for("bob") == 0);
    CHECK(alice.stanzas_with("resource-constraint") == 1);
    CHECK(alice.released == alice.holds);
    // Available again: the next one is stored and queued for him.
    bob.set_presence(std::make_unique<Element>("jabber:client", "presence"), 0);
    // The next one goes through.
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "next"));
    w.iterate();
    CHECK(bob.queued.size() == 1);
    w.finish();
  }

  TEST_CASE("kFull with the recipient online: delivered live, no error, ack released") {
    // spec §1.4 / catalogue K70: a full store does not stop online chat.
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.store.fail_next_commit(StorageError::kFull);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "live"));
    w.iterate();
    CHECK(bob.queued.empty());             // not through the queue...
    CHECK(bob.stanzas_with("live") == 1);  // ...but delivered
    CHECK(w.queued_for("bob") == 0);
    CHECK(alice.stanzas_with("resource-constraint") == 0);
    CHECK(alice.released == alice.holds);
    w.finish();
  }

  TEST_CASE("a repeated origin-id from the same sender is acknowledged, not delivered again") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    const std::string oid = "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>";
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "a", oid));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "b", oid));
    w.iterate();
    REQUIRE(bob.queued.size() == 1);
    CHECK(xml_of(bob.queued[0]).find("o-1") != std::string::npos);  // origin-id is kept
    CHECK(alice.released.size() == 2);
    CHECK(alice.stanzas.empty());
    // In a later commit, also after a reconnect of the sender (bare JID).
    QueueSession& alice2 = w.online("alice@example.com/tablet");
    w.queue->accept(&alice2, jid("bob@example.com"),
                    chat("alice@example.com/tablet", "bob@example.com", "c", oid));
    w.iterate();
    CHECK(bob.queued.size() == 1);
    CHECK(alice2.released == alice2.holds);
    CHECK(w.queued_for("bob") == 1);
    // Another sender may use the same id.
    w.queue->accept(&bob, jid("alice@example.com"),
                    chat("bob@example.com/laptop", "alice@example.com", "d", oid));
    w.iterate();
    CHECK(alice.queued.size() == 1);
    w.finish();
  }

  TEST_CASE("release() hands an undelivered entry to another available session") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& laptop = w.online("bob@example.com/laptop", 5);
    QueueSession& phone = w.online("bob@example.com/phone", 1);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    w.iterate();
    REQUIRE(laptop.queued.size() == 1);
    CHECK(phone.queued.empty());
    const uint64_t seq = laptop.queued[0].seq;

    // The laptop ends without delivering it.
    w.sessions.remove(&laptop);
    w.queue->release(laptop, {seq, seq + 1000});  // an unknown one is ignored
    REQUIRE(phone.queued.size() == 1);
    CHECK(phone.queued[0].seq == seq);
    CHECK(phone.delayed_flags[0] == true);
    CHECK(w.queue->in_flight() == 1);

    // The phone ends too, with nobody left: the entry stays for the next login.
    w.sessions.remove(&phone);
    w.queue->release(phone, {seq});
    CHECK(w.queue->in_flight() == 0);
    CHECK(w.queued_for("bob") == 1);
    // A second release of the same entry does nothing.
    w.queue->release(phone, {seq});
    w.finish();
  }

  TEST_CASE("release() of an entry another session still holds hands nothing over") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& one = w.online("bob@example.com/one", 1);
    QueueSession& two = w.online("bob@example.com/two", 1);  // equal priority: both get it
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    w.iterate();
    REQUIRE(one.queued.size() == 1);
    REQUIRE(two.queued.size() == 1);
    w.sessions.remove(&one);
    w.queue->release(one, {one.queued[0].seq});
    CHECK(two.queued.size() == 1);
    CHECK(w.queue->in_flight() == 1);
    w.finish();
  }

  TEST_CASE("deliver_backlog: start marker with the count, entries oldest first, done marker") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    for (const char* body : {"b1", "b2", "b3"}) {
      w.queue->accept(&alice, jid("bob@example.com"),
                      chat("alice@example.com/phone", "bob@example.com", body));
    }
    w.iterate();
    REQUIRE(w.queued_for("bob") == 3);

    QueueSession& bob = w.online("bob@example.com/phone");
    w.queue->deliver_backlog(bob);
    REQUIRE(bob.queued.size() == 3);
    REQUIRE(bob.log.size() == 5);
    CHECK(bob.log.front() == "stanza");
    CHECK(bob.log.back() == "stanza");
    CHECK(xml_of(bob.queued[0]).find("b1") != std::string::npos);
    CHECK(xml_of(bob.queued[2]).find("b3") != std::string::npos);
    CHECK(bob.queued[0].seq < bob.queued[1].seq);
    CHECK(bob.queued[1].seq < bob.queued[2].seq);
    for (bool delayed : bob.delayed_flags) CHECK(delayed);

    REQUIRE(bob.stanzas.size() == 2);
    auto start = parse_fragment(bob.stanzas[0]);
    auto done = parse_fragment(bob.stanzas[1]);
    REQUIRE(start != nullptr);
    REQUIRE(done != nullptr);
    for (const Element* m : {start.get(), done.get()}) {
      CHECK(m->attr_or("from") == "example.com");
      CHECK(m->attr_or("to") == "bob@example.com/phone");
      CHECK_FALSE(m->attr_or("id").empty());
    }
    CHECK(start->attr_or("id") != done->attr_or("id"));
    const Element* c1 = start->child("catchup", kCatchupNs);
    const Element* c2 = done->child("catchup", kCatchupNs);
    REQUIRE(c1 != nullptr);
    REQUIRE(c2 != nullptr);
    CHECK(c1->attr_or("state") == "start");
    CHECK(c1->attr_or("count") == "3");
    CHECK(c2->attr_or("state") == "done");
    CHECK(c2->attr_or("count") == "3");
    CHECK(w.queue->in_flight() == 3);
    w.finish();
  }

  TEST_CASE("deliver_backlog with nothing queued still sends both markers, count 0") {
    World w;
    QueueSession& bob = w.online("bob@example.com/phone");
    w.queue->deliver_backlog(bob);
    REQUIRE(bob.stanzas.size() == 2);
    CHECK(bob.stanzas[0].find("state='start' count='0'") != std::string::npos);
    CHECK(bob.stanzas[1].find("state='done' count='0'") != std::string::npos);
    CHECK(bob.queued.empty());
    w.finish();
  }

  TEST_CASE("deliver_backlog skips entries in flight to another session") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& laptop = w.online("bob@example.com/laptop", 5);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "live"));
    w.iterate();
    REQUIRE(laptop.queued.size() == 1);
    // A second resource logs in while the laptop has not acknowledged it.
    QueueSession& phone = w.online("bob@example.com/phone", 1);
    w.queue->deliver_backlog(phone);
    CHECK(phone.queued.empty());
    CHECK(phone.stanzas_with("count='0'") == 2);
    w.finish();
  }

  TEST_CASE("deliver_backlog does not resend an entry acknowledged in this iteration") {
    // Regression (found by these tests, fixed): delivered() drops the entry from the in-flight map
    // at once but only queues its removal for the next commit, and deliver_backlog() reads the
    // store, where the entry is still present. A session that logs in (initial presence) in the
    // same loop iteration as another resource's <a/> therefore receives an already acknowledged
    // stanza again. deliver_backlog() (and release()) should skip entries with a pending removal in
    // batch_.removals.
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& laptop = w.online("bob@example.com/laptop", 5);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "acked"));
    w.iterate();
    REQUIRE(laptop.queued.size() == 1);
    w.queue->delivered("bob", laptop.queued[0].seq);  // the laptop's <a/>
    QueueSession& phone = w.online("bob@example.com/phone", 1);
    w.queue->deliver_backlog(phone);  // same iteration
    CHECK(phone.queued.empty());
    w.iterate();
    CHECK(w.queued_for("bob") == 0);
    w.finish();
  }

  TEST_CASE("stanza-id: the sender's claim for the recipient is replaced by ours") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x",
                         "<stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='bob@example.com'/>"));
    w.iterate();
    REQUIRE(bob.queued.size() == 1);
    const std::string xml = xml_of(bob.queued[0]);
    CHECK(xml.find("forged") == std::string::npos);
    size_t ids = 0;
    for (size_t p = xml.find("<stanza-id"); p != std::string::npos;
         p = xml.find("<stanza-id", p + 1)) {
      ++ids;
    }
    CHECK(ids == 1);
    w.finish();
  }

  TEST_CASE("stanza-id: a stanza-id by another entity is kept (spec §2.1)") {
    // Regression (found by these tests, fixed): DeliveryQueue::accept removes every <stanza-id
    // xmlns='urn:xmpp:sid:0'/> (remove_children by name and namespace), while spec/delivery.md §2.1
    // says only "a stanza-id element the sender included with the same
    // 'by' is removed" (XEP-0359 §3.3 likewise). An id assigned by another
    // entity, e.g. a MUC service or the sender's own server archive, is lost.
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(
        &alice, jid("bob@example.com"),
        chat("alice@example.com/phone", "bob@example.com", "x",
             "<stanza-id xmlns='urn:xmpp:sid:0' id='muc-7' by='room@conference.example.org'/>"));
    w.iterate();
    REQUIRE(bob.queued.size() == 1);
    CHECK(xml_of(bob.queued[0]).find("muc-7") != std::string::npos);
    w.finish();
  }

  TEST_CASE("a message from the server itself (no origin) is queued and delivered") {
    World w;
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(nullptr, jid("bob@example.com"),
                    chat("example.com", "bob@example.com", "notice",
                         "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>"));
    w.queue->accept(nullptr, jid("bob@example.com"),
                    chat("example.com", "bob@example.com", "again",
                         "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>"));
    w.iterate();
    // Without an origin there is no sender to de-duplicate for.
    CHECK(bob.queued.size() == 2);
    CHECK(w.queued_for("bob") == 2);
    w.finish();
  }

  TEST_CASE(
      "accept_remote: stored, handed over, the first stamp kept, done(true) after the commit") {
    World w;
    QueueSession& bob = w.online("bob@example.com/laptop");
    std::vector<bool> done;
    DeliveryQueue::RemoteAccept how;
    how.stamp_ms = 1700000000123;
    uint64_t stored_seq = 0;
    how.done = [&](bool safe, uint64_t seq) {
      done.push_back(safe);
      stored_seq = seq;
    };
    w.queue->accept_remote(jid("bob@example.com"),
                           chat("alice@example.com/phone", "bob@example.com", "far"),
                           std::move(how));
    CHECK(done.empty());  // not before the commit
    CHECK(bob.queued.empty());
    w.iterate();
    REQUIRE(done.size() == 1);
    CHECK(done[0]);
    REQUIRE(bob.queued.size() == 1);
    CHECK(bob.queued[0].stamp_ms == 1700000000123);
    CHECK(bob.queued[0].seq == stored_seq);
    CHECK(xml_of(bob.queued[0]).find("far") != std::string::npos);
    CHECK(w.queued_for("bob") == 1);
    w.finish();
  }

  TEST_CASE("accept_remote queue_only: stored without a hand-over; the backlog brings it") {
    World w;  // early delivery on: queue_only must still wait for the backlog
    QueueSession& bob = w.online("bob@example.com/laptop");
    int safe = 0;
    for (const char* body : {"o1", "o2"}) {
      DeliveryQueue::RemoteAccept how;
      how.stamp_ms = 1000;
      how.queue_only = true;
      how.done = [&](bool ok, uint64_t) { safe += ok; };
      w.queue->accept_remote(jid("bob@example.com"),
                             chat("alice@example.com/phone", "bob@example.com", body),
                             std::move(how));
    }
    CHECK(w.queue->flush() == StorageError::kOk);
    CHECK(safe == 2);
    CHECK(bob.queued.empty());
    CHECK(w.queued_for("bob") == 2);
    w.queue->deliver_backlog(bob);
    REQUIRE(bob.queued.size() == 2);
    CHECK(xml_of(bob.queued[0]).find("o1") != std::string::npos);
    CHECK(xml_of(bob.queued[1]).find("o2") != std::string::npos);
    CHECK(bob.log.front() == "stanza");  // the start marker first
    w.finish();
  }

  TEST_CASE("accept_remote: a commit that fails reports done(false)") {
    World w;
    w.online("bob@example.com/laptop");
    w.store.fail_next_commit(StorageError::kFull);
    std::vector<bool> done;
    DeliveryQueue::RemoteAccept how;
    how.done = [&](bool safe, uint64_t seq) {
      done.push_back(safe);
      CHECK(seq == 0);
    };
    w.queue->accept_remote(jid("bob@example.com"),
                           chat("alice@example.com/phone", "bob@example.com", "x"), std::move(how));
    w.iterate();
    REQUIRE(done.size() == 1);
    CHECK_FALSE(done[0]);
    w.finish();
  }

  TEST_CASE("drop() removes an entry at the next commit, uncounted; the removal hook sees it") {
    World w;
    Metrics metrics;
    w.queue->set_metrics(&metrics);
    w.queue->accept(nullptr, jid("bob@example.com"), chat("example.com", "bob@example.com", "x"));
    w.iterate();
    std::vector<QueuedStanza> q;
    REQUIRE(w.store.load("bob", 0, 10, q) == StorageError::kOk);
    REQUIRE(q.size() == 1);
    std::vector<std::string> users;
    REQUIRE(w.store.queued_users(users) == StorageError::kOk);
    CHECK(users == std::vector<std::string>{"bob"});
    std::vector<std::pair<std::string, uint64_t>> removed;
    w.queue->set_removal_hook(
        [&](const std::string& user, uint64_t seq) { removed.emplace_back(user, seq); });
    w.queue->drop("bob", q[0].seq);
    CHECK(removed.empty());  // not before the commit
    w.iterate();
    CHECK(w.queued_for("bob") == 0);
    REQUIRE(removed.size() == 1);
    CHECK(removed[0] == std::make_pair(std::string("bob"), q[0].seq));
    CHECK(metrics.messages_delivered == 0);
    REQUIRE(w.store.queued_users(users) == StorageError::kOk);
    CHECK(users.empty());
    w.finish();
  }

  TEST_CASE("forget(origin): no ack release for a session that went away") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    w.queue->forget(alice);
    w.iterate();
    CHECK(alice.released.empty());
    CHECK(bob.queued.size() == 1);  // the message itself is still delivered
    w.finish();
  }

  TEST_CASE("flush() commits what is pending without waiting for the loop") {
    World w;
    QueueSession& alice = w.online("alice@example.com/phone");
    QueueSession& bob = w.online("bob@example.com/laptop");
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "x"));
    CHECK(w.queue->flush() == StorageError::kOk);
    CHECK(bob.queued.size() == 1);
    CHECK(alice.released.size() == 1);
    CHECK(w.queue->flush() == StorageError::kOk);  // nothing left
    w.iterate();
    CHECK(bob.queued.size() == 1);
    CHECK(alice.released.size() == 1);
    w.finish();
  }

  TEST_CASE("stream-management records go into the next commit") {
    World w;
    SmRecord r;
    r.id = "sm-1";
    r.user = "bob";
    r.resource = "laptop";
    r.inbound_h = 9;
    w.queue->persist_sm(r);
    SmRecord out;
    CHECK(w.store.get_sm("sm-1", out) == StorageError::kNotFound);
    w.iterate();
    REQUIRE(w.store.get_sm("sm-1", out) == StorageError::kOk);
    CHECK(out.inbound_h == 9);
    w.queue->forget_sm("sm-1");
    CHECK(w.store.get_sm("sm-1", out) == StorageError::kOk);
    w.iterate();
    CHECK(w.store.get_sm("sm-1", out) == StorageError::kNotFound);
    w.finish();
  }

  TEST_CASE("metrics: commits, stored (offline), delivered once per entry, not stored, errors") {
    QueuePolicy policy;
    policy.quota = 2;
    World w(policy);
    Metrics m;
    w.queue->set_metrics(&m);
    w.router->set_metrics(&m);
    QueueSession& alice = w.online("alice@example.com/phone");
    // Two resources of bob take the same entry; both report it delivered.
    QueueSession& laptop = w.online("bob@example.com/laptop");
    QueueSession& phone = w.online("bob@example.com/phone");
    const std::string oid = "<origin-id xmlns='urn:xmpp:sid:0' id='o-1'/>";
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "one", oid));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "dup", oid));
    w.iterate();
    CHECK(m.commits == 1);
    CHECK(m.messages_stored == 1);
    CHECK(m.messages_stored_offline == 0);
    CHECK(m.messages_not_stored[static_cast<size_t>(NotStoredReason::kDuplicate)] == 1);
    REQUIRE(laptop.queued.size() == 1);
    REQUIRE(phone.queued.size() == 1);
    w.queue->delivered("bob", laptop.queued[0].seq);
    w.queue->delivered("bob", phone.queued[0].seq);
    CHECK(m.messages_delivered == 1);
    w.iterate();  // the removal
    CHECK(m.commits == 2);
    // None of bob's resources is available: stored offline.
    laptop.set_presence(nullptr, 0);
    phone.set_presence(nullptr, 0);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "two"));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "three"));
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "four"));  // quota
    w.iterate();
    CHECK(m.commits == 3);
    CHECK(m.messages_stored == 3);
    CHECK(m.messages_stored_offline == 2);
    CHECK(m.messages_not_stored[static_cast<size_t>(NotStoredReason::kQuota)] == 1);
    // A full store: an error commit, nothing stored.
    w.store.fail_next_commit(StorageError::kFull);
    w.queue->accept(&alice, jid("bob@example.com"),
                    chat("alice@example.com/phone", "bob@example.com", "note"));
    w.iterate();
    CHECK(m.commits == 4);
    CHECK(m.commit_errors == 1);
    CHECK(m.messages_not_stored[static_cast<size_t>(NotStoredReason::kStorageFull)] == 1);
    CHECK(m.messages_stored == 3);
    // Every commit was timed.
    CHECK(m.commit_seconds.count() == m.commits);
    // The router's errors: the quota and the full store bounced, and so
    // does a message to nobody; an error to nobody is never answered.
    w.router->route_from_client(alice, chat("alice@example.com/phone", "nobody@example.com", "x"));
    w.router->route_from_client(
        alice, parse_fragment("<message from='alice@example.com/phone' to='nobody@example.com' "
                              "type='error'/>"));
    using protocol::StanzaCondition;
    auto errors = [&](StanzaCondition c) {
      return m.stanza_errors[static_cast<size_t>(c) -
                             static_cast<size_t>(StanzaCondition::kFirst_) - 1];
    };
    CHECK(errors(StanzaCondition::kResourceConstraint) == 2);
    CHECK(errors(StanzaCondition::kServiceUnavailable) == 1);
    CHECK(alice.stanzas_with("type='error'") == 3);
    w.finish();
  }
}

}  // namespace
}  // namespace xd::server
