// IqTracker (client/chat/iq_tracker.h): a reply is handed to its request's
// callback only when it comes from the entity the request went to (RFC 6120
// §8.1.2.1; hostile-inputs.md catalogue 76, CVE-2013-6483), JIDs compared
// in canonical form; a spoofed reply leaves the request pending; expiry and
// fail_all run each callback exactly once with null.
#include "client/chat/iq_tracker.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/xml/element.h"

namespace xd::client {
namespace {

constexpr std::string_view kClientNs = "jabber:client";
constexpr const char* kOwnFull = "alice@example.com/phone";

// <iq type='result' id='|id|' from='|from|'/>; |from| null: no 'from'.
struct Reply {
  protocol::Element iq{kClientNs, "iq"};
  Reply(std::string_view id, const char* from, std::string_view type = "result") {
    iq.set_attr("type", type);
    iq.set_attr("id", id);
    if (from != nullptr) iq.set_attr("from", from);
  }
};

// Records every callback run: the reply's id, or "null".
struct Recorder {
  std::vector<std::string> calls;
  IqCallback callback() {
    return [this](const protocol::Element* reply) {
      calls.push_back(reply == nullptr ? "null" : std::string(reply->attr_or("id")));
    };
  }
};

IqTracker tracker_for(std::string own = kOwnFull) {
  IqTracker t;
  t.set_own_jid(std::move(own));
  return t;
}

TEST_SUITE("client.chat.iq_tracker") {
  TEST_CASE("a reply from the entity the request went to is accepted") {
    const char* to = nullptr;
    SUBCASE("a full JID") { to = "bob@example.org/laptop"; }
    SUBCASE("the bare JID of another user") { to = "bob@example.org"; }
    SUBCASE("the server domain") { to = "example.com"; }
    SUBCASE("a component") { to = "upload.example.com"; }
    CAPTURE(to);
    IqTracker t = tracker_for();
    Recorder r;
    t.add("q1", to, 1000, r.callback());
    CHECK(t.pending() == 1);
    Reply reply("q1", to);
    CHECK(t.on_reply(reply.iq));
    CHECK(r.calls == std::vector<std::string>{"q1"});
    CHECK(t.pending() == 0);
    // The same reply again matches nothing: the callback ran once.
    CHECK_FALSE(t.on_reply(reply.iq));
    CHECK(r.calls.size() == 1);
  }

  TEST_CASE("the callback receives the reply element itself, error replies included") {
    IqTracker t = tracker_for();
    const protocol::Element* seen = nullptr;
    t.add("e1", "example.com", 1000, [&](const protocol::Element* reply) { seen = reply; });
    Reply reply("e1", "example.com", "error");
    CHECK(t.on_reply(reply.iq));
    CHECK(seen == &reply.iq);
  }

  TEST_CASE("a request without 'to' may be answered by the account itself") {
    const char* from = nullptr;
    SUBCASE("no 'from'") { from = nullptr; }
    SUBCASE("the own bare JID") { from = "alice@example.com"; }
    SUBCASE("the own full JID") { from = kOwnFull; }
    CAPTURE(from);
    IqTracker t = tracker_for();
    Recorder r;
    t.add("roster", "", 1000, r.callback());
    Reply reply("roster", from);
    CHECK(t.on_reply(reply.iq));
    CHECK(r.calls == std::vector<std::string>{"roster"});
  }

  TEST_CASE("a request to the own bare JID may be answered by the account itself") {
    const char* from = nullptr;
    SUBCASE("no 'from'") { from = nullptr; }
    SUBCASE("the own bare JID") { from = "alice@example.com"; }
    SUBCASE("the own full JID") { from = kOwnFull; }
    CAPTURE(from);
    IqTracker t = tracker_for();
    Recorder r;
    t.add("keys", "alice@example.com", 1000, r.callback());
    Reply reply("keys", from);
    CHECK(t.on_reply(reply.iq));
    CHECK(r.calls.size() == 1);
  }

  TEST_CASE("a request without 'to' is not answered by anybody else") {
    const char* from = nullptr;
    SUBCASE("another user") { from = "mallory@example.com"; }
    SUBCASE("another resource's full JID is not the own full JID") {
      from = "alice@example.com/laptop";
    }
    SUBCASE("a remote domain") { from = "evil.example"; }
    CAPTURE(from);
    IqTracker t = tracker_for();
    Recorder r;
    t.add("roster", "", 1000, r.callback());
    Reply spoof("roster", from);
    CHECK_FALSE(t.on_reply(spoof.iq));
    CHECK(r.calls.empty());
    CHECK(t.pending() == 1);
  }

  TEST_CASE("a reply from the wrong sender is ignored and the genuine one still lands") {
    const char* spoofer = nullptr;
    SUBCASE("no 'from' for a request to someone else") { spoofer = nullptr; }
    SUBCASE("the requester's own bare JID") { spoofer = "alice@example.com"; }
    SUBCASE("the bare JID of a full-JID target") { spoofer = "bob@example.org"; }
    SUBCASE("another resource of the target") { spoofer = "bob@example.org/desktop"; }
    SUBCASE("the target's server") { spoofer = "example.org"; }
    SUBCASE("a third party") { spoofer = "mallory@evil.example/x"; }
    SUBCASE("a string that is not a JID") { spoofer = "@@@"; }
    CAPTURE(spoofer);
    IqTracker t = tracker_for();
    Recorder r;
    t.add("d1", "bob@example.org/laptop", 1000, r.callback());
    Reply spoof("d1", spoofer);
    CHECK_FALSE(t.on_reply(spoof.iq));
    CHECK(r.calls.empty());
    CHECK(t.pending() == 1);
    Reply genuine("d1", "bob@example.org/laptop");
    CHECK(t.on_reply(genuine.iq));
    CHECK(r.calls == std::vector<std::string>{"d1"});
    CHECK(t.pending() == 0);
  }

  TEST_CASE("a reply with an unknown id, or none, is ignored") {
    IqTracker t = tracker_for();
    Recorder r;
    t.add("known", "example.com", 1000, r.callback());
    Reply unknown("other", "example.com");
    CHECK_FALSE(t.on_reply(unknown.iq));
    protocol::Element no_id(kClientNs, "iq");
    no_id.set_attr("type", "result");
    no_id.set_attr("from", "example.com");
    CHECK_FALSE(t.on_reply(no_id));
    CHECK(r.calls.empty());
    CHECK(t.pending() == 1);
  }

  TEST_CASE("JIDs are compared in canonical form") {
    IqTracker t = tracker_for("Alice@EXAMPLE.com/phone");
    Recorder r;
    SUBCASE("an upper-case domain in the reply") {
      t.add("c1", "bob@example.org/laptop", 1000, r.callback());
      Reply reply("c1", "bob@EXAMPLE.ORG/laptop");
      CHECK(t.on_reply(reply.iq));
    }
    SUBCASE("an upper-case domain and local part in the request") {
      t.add("c2", "Bob@Example.Org", 1000, r.callback());
      Reply reply("c2", "bob@example.org");
      CHECK(t.on_reply(reply.iq));
    }
    SUBCASE("the own JID set in mixed case answers for itself in lower case") {
      t.add("c3", "", 1000, r.callback());
      Reply reply("c3", "alice@example.com/phone");
      CHECK(t.on_reply(reply.iq));
    }
    SUBCASE("a request to the own bare JID in another case") {
      t.add("c4", "ALICE@example.COM", 1000, r.callback());
      Reply reply("c4", "alice@example.com");
      CHECK(t.on_reply(reply.iq));
    }
    SUBCASE("the resource stays case-sensitive") {
      t.add("c5", "bob@example.org/Laptop", 1000, r.callback());
      Reply wrong("c5", "bob@example.org/laptop");
      CHECK_FALSE(t.on_reply(wrong.iq));
      Reply right("c5", "BOB@example.org/Laptop");
      CHECK(t.on_reply(right.iq));
    }
    CHECK(r.calls.size() == 1);
    CHECK(t.pending() == 0);
  }

  TEST_CASE("expire() runs the callbacks of due requests with null, exactly once") {
    IqTracker t = tracker_for();
    Recorder r;
    t.add("early", "example.com", 100, r.callback());
    t.add("exact", "example.com", 200, r.callback());
    t.add("late", "example.com", 300, r.callback());
    t.expire(99);
    CHECK(r.calls.empty());
    CHECK(t.pending() == 3);
    t.expire(200);  // the deadline itself is due
    CHECK(r.calls == std::vector<std::string>{"null", "null"});
    CHECK(t.pending() == 1);
    t.expire(250);
    CHECK(r.calls.size() == 2);
    // A reply after expiry matches nothing.
    Reply stale("early", "example.com");
    CHECK_FALSE(t.on_reply(stale.iq));
    CHECK(r.calls.size() == 2);
    // The remaining one still gets its reply.
    Reply reply("late", "example.com");
    CHECK(t.on_reply(reply.iq));
    CHECK(r.calls == std::vector<std::string>{"null", "null", "late"});
    t.expire(1'000'000);
    CHECK(r.calls.size() == 3);
    CHECK(t.pending() == 0);
  }

  TEST_CASE("a callback may add a request while expire() or fail_all() runs") {
    IqTracker t = tracker_for();
    int nulls = 0;
    int retried = 0;
    auto retry = [&](const protocol::Element* reply) {
      if (reply == nullptr) ++nulls;
      t.add("retry", "example.com", 5000, [&](const protocol::Element*) { ++retried; });
    };
    t.add("first", "example.com", 100, retry);
    t.expire(100);
    CHECK(nulls == 1);
    CHECK(t.pending() == 1);
    t.fail_all();
    CHECK(retried == 1);
    CHECK(t.pending() == 0);
  }

  TEST_CASE("fail_all() runs every pending callback with null once") {
    IqTracker t = tracker_for();
    Recorder r;
    t.add("a", "example.com", 100, r.callback());
    t.add("b", "", 200, r.callback());
    t.add("c", "bob@example.org/x", 300, r.callback());
    Reply reply("b", nullptr);
    CHECK(t.on_reply(reply.iq));
    t.fail_all();
    CHECK(r.calls == std::vector<std::string>{"b", "null", "null"});
    CHECK(t.pending() == 0);
    t.fail_all();
    t.expire(1'000'000);
    CHECK(r.calls.size() == 3);
  }
}

}  // namespace
}  // namespace xd::client
