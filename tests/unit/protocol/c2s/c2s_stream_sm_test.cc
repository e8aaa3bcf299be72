// The XEP-0198 part of protocol/c2s/c2s_stream.h (spec/delivery.md §5):
// the <sm/> feature, <enable/>, inbound numbering, <r/> and <a/>, the
// unacknowledged cap, resumption through C2sHost::resume_session, and a
// detached (hibernated) stream that keeps what it would have sent.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "c2s_test_support.h"
#include "protocol/c2s/c2s_stream.h"
#include "protocol/c2s/stream_management.h"

namespace xd::protocol::test {
namespace {

using Tags = std::vector<uint64_t>;
using Type = C2sEvent::Type;

constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr const char* kFull = "juliet@example.com/balcony";

C2sConfig sm_config(uint32_t max_unacked = 500, uint32_t resume_seconds = 300) {
  C2sConfig c = test_config();
  c.sm_max_unacked = max_unacked;
  c.sm_resume_seconds = resume_seconds;
  return c;
}

std::unique_ptr<Element> message(std::string_view id, std::string_view to = kFull) {
  auto m = std::make_unique<Element>("jabber:client", "message");
  m->set_attr("to", to);
  m->set_attr("id", id);
  m->add_child("jabber:client", "body").add_text("hi");
  return m;
}

// A stanza as the server would have serialized it for this stream.
std::string queued_xml(std::string_view id) {
  return "<message to='juliet@example.com/balcony' id='" + std::string(id) +
         "'><body>queued</body></message>";
}

// A client authenticated and restarted: the next step is bind or resume.
struct Authenticated : Client {
  explicit Authenticated(C2sConfig config = sm_config()) : Client(std::move(config)) {
    secure();
    REQUIRE(scram(ScramHash::kSha256, true) == "success");
    features = open();
    REQUIRE(features != nullptr);
    REQUIRE(stream().state() == C2sState::kAwaitBind);
  }
  const Element* features = nullptr;
};

// A bound client, stream management not enabled yet.
struct Bound : Client {
  explicit Bound(C2sConfig config = sm_config()) : Client(std::move(config)) {
    REQUIRE(login() == kFull);
  }

  // Sends <enable/> and returns the <enabled/> element.
  const Element* enable(std::string_view resume = "true") {
    std::string e = "<enable xmlns='urn:xmpp:sm:3'";
    if (!resume.empty()) e += " resume='" + std::string(resume) + "'";
    send(e + "/>");
    const Element* l = last();
    REQUIRE(l != nullptr);
    return l->is("enabled", kSmNs) ? l : nullptr;
  }

  void ack(std::string_view h) { send("<a xmlns='urn:xmpp:sm:3' h='" + std::string(h) + "'/>"); }

  Tags acked_tags() const {
    Tags out;
    for (const C2sEvent* e : events_of(Type::kSmAcked)) {
      CHECK_FALSE(e->tags.empty());  // an ack of nothing durable is no event
      out.insert(out.end(), e->tags.begin(), e->tags.end());
    }
    return out;
  }
};

// Bound with stream management enabled (resumable).
struct Managed : Bound {
  explicit Managed(C2sConfig config = sm_config()) : Bound(std::move(config)) {
    REQUIRE(enable() != nullptr);
    REQUIRE(stream().sm() != nullptr);
  }
};

// The <handled-count-too-high/> of the stream error, or null.
const Element* too_high_of(const Client& c) {
  for (const auto& e : c.elements) {
    if (e->is("error", kStreamNs)) return e->child("handled-count-too-high", kSmNs);
  }
  return nullptr;
}

bool is_failed_with(const Element* e, std::string_view condition) {
  return e && e->is("failed", kSmNs) && e->child(condition, kStanzasNs) != nullptr;
}

std::vector<Type> event_types(const Client& c) {
  std::vector<Type> out;
  for (const auto& e : c.events) out.push_back(e.type);
  return out;
}

// The number of times |needle| occurs in |hay|.
size_t occurrences(const std::string& hay, std::string_view needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST_SUITE("c2s_stream.sm") {
  TEST_CASE("<sm/> is offered after authentication only, and only when configured") {
    Client c;
    const Element* f = c.secure();
    CHECK(f->child("sm", kSmNs) == nullptr);
    Authenticated a;
    CHECK(a.features->child("sm", kSmNs) != nullptr);
    CHECK(a.features->child("bind", "urn:ietf:params:xml:ns:xmpp-bind") != nullptr);

    C2sConfig off = sm_config();
    off.stream_management = false;
    Authenticated b(off);
    CHECK(b.features->child("sm", kSmNs) == nullptr);
  }

  TEST_CASE("<enable/> before bind: <failed><unexpected-request/></failed>, the stream stays") {
    Authenticated a;
    a.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    CHECK(is_failed_with(a.last(), "unexpected-request"));
    CHECK_FALSE(a.closed.has_value());
    CHECK(a.stream().sm() == nullptr);
    CHECK_FALSE(a.has_event(Type::kSmEnabled));
    // The stream goes on: bind, then <enable/> works.
    REQUIRE(a.bind() == kFull);
    a.send("<enable xmlns='urn:xmpp:sm:3'/>");
    REQUIRE(a.last() != nullptr);
    CHECK(a.last()->is("enabled", kSmNs));
  }

  TEST_CASE("<enable resume='true'/>: <enabled id resume max/> and kSmEnabled with the id") {
    Bound b(sm_config(500, 300));
    const Element* e = b.enable("true");
    REQUIRE(e != nullptr);
    const std::string id(e->attr_or("id"));
    CHECK(id.size() == 32);  // 128 random bits as hex
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(e->attr_or("resume") == "true");
    CHECK(e->attr_or("max") == "300");
    auto enabled = b.events_of(Type::kSmEnabled);
    REQUIRE(enabled.size() == 1);
    CHECK(enabled[0]->sm_id == id);
    REQUIRE(b.stream().sm() != nullptr);
    CHECK(b.stream().sm()->id() == id);
    CHECK_FALSE(b.closed.has_value());

    // resume='1' is the other lexical form of xs:boolean true; max follows
    // the configuration.
    Bound one(sm_config(500, 60));
    e = one.enable("1");
    REQUIRE(e != nullptr);
    CHECK(e->attr("id") != nullptr);
    CHECK(e->attr_or("max") == "60");
  }

  TEST_CASE("<enable/> without resume, or with a zero window, is not resumable") {
    for (int variant = 0; variant < 3; ++variant) {
      CAPTURE(variant);
      Bound b(sm_config(500, variant == 2 ? 0 : 300));
      const Element* e = b.enable(variant == 0 ? "" : (variant == 1 ? "false" : "true"));
      REQUIRE(e != nullptr);
      CHECK(e->attr("id") == nullptr);
      CHECK(e->attr("resume") == nullptr);
      CHECK(e->attr("max") == nullptr);
      auto enabled = b.events_of(Type::kSmEnabled);
      REQUIRE(enabled.size() == 1);
      CHECK(enabled[0]->sm_id.empty());
      REQUIRE(b.stream().sm() != nullptr);
      CHECK(b.stream().sm()->id().empty());
    }
  }

  TEST_CASE("<enable/> when stream management is off: <failed/>, nothing enabled") {
    C2sConfig off = sm_config();
    off.stream_management = false;
    Bound b(off);
    CHECK(b.enable() == nullptr);
    CHECK(is_failed_with(b.last(), "unexpected-request"));
    CHECK(b.stream().sm() == nullptr);
    CHECK_FALSE(b.closed.has_value());
  }

  TEST_CASE("a second <enable/> is the stream error unsupported-stanza-type") {
    Managed m;
    m.send("<enable xmlns='urn:xmpp:sm:3'/>");
    CHECK(m.stream_error() == "unsupported-stanza-type");
    REQUIRE(m.closed.has_value());
    CHECK(m.closed_error == StreamCondition::kUnsupportedStanzaType);
    CHECK(m.events_of(Type::kSmEnabled).size() == 1);
  }

  TEST_CASE("without <enable/>, <r/> and <a/> are unsupported-stanza-type") {
    for (const char* element : {"<r xmlns='urn:xmpp:sm:3'/>", "<a xmlns='urn:xmpp:sm:3' h='0'/>"}) {
      CAPTURE(element);
      Bound b;
      b.send(element);
      CHECK(b.stream_error() == "unsupported-stanza-type");
      CHECK_FALSE(b.has_event(Type::kSmRequest));
    }
  }

  TEST_CASE("inbound stanzas are numbered; those the stream answers itself count too") {
    Bound b;
    // Before <enable/>: no numbers.
    b.send("<message to='romeo@example.com' id='0'><body>x</body></message>");
    auto routed = b.events_of(Type::kStanza);
    REQUIRE(routed.size() == 1);
    CHECK(routed[0]->seq == 0);
    REQUIRE(b.enable() != nullptr);
    REQUIRE(b.stream().sm() != nullptr);
    CHECK(b.stream().sm()->inbound() == 0);

    b.send("<message to='romeo@example.com' id='1'><body>x</body></message>");
    // An invalid 'to' is answered with an error by the stream itself.
    b.send("<message to='@@bad' id='2'><body>x</body></message>");
    REQUIRE(b.last() != nullptr);
    CHECK(Client::stanza_error(*b.last()) == "jid-malformed");
    // Legacy session establishment is answered by the stream too.
    b.send("<iq type='set' id='3'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    b.send("<presence/>");
    routed = b.events_of(Type::kStanza);
    REQUIRE(routed.size() == 3);
    CHECK(routed[1]->seq == 1);
    CHECK(routed[2]->seq == 4);
    CHECK(routed[2]->stanza->name() == "presence");
    CHECK(b.stream().sm()->inbound() == 4);

    // The two replies count as sent stanzas, with tag 0.
    const StreamManagement& sm = *b.stream().sm();
    CHECK(sm.sent() == 2);
    REQUIRE(sm.unacked_count() == 2);
    CHECK(sm.unacked()[0].tag == 0);
    CHECK(sm.unacked()[0].xml.find("jid-malformed") != std::string::npos);
    CHECK(sm.unacked()[1].tag == 0);
    CHECK(sm.unacked()[1].xml.find("id='3'") != std::string::npos);
    // Acknowledging them is fine and reports no tags.
    b.ack("2");
    CHECK_FALSE(b.has_event(Type::kSmAcked));
    CHECK(b.stream().sm()->unacked_count() == 0);
    CHECK_FALSE(b.closed.has_value());
  }

  TEST_CASE("<r/> is kSmRequest; send_sm_ack writes <a h/>, and nothing without SM") {
    Managed m;
    m.wire.clear();
    m.send("<r xmlns='urn:xmpp:sm:3'/>");
    CHECK(m.wire.empty());  // the owner answers, knowing what it has handled
    CHECK(m.events_of(Type::kSmRequest).size() == 1);
    m.stream().send_sm_ack(3);
    m.stream().send_sm_ack(UINT32_MAX);
    m.pump();
    CHECK(m.wire == "<a xmlns='urn:xmpp:sm:3' h='3'/><a xmlns='urn:xmpp:sm:3' h='4294967295'/>");
    // <a/> from the server is not a stanza: nothing was counted as sent.
    CHECK(m.stream().sm()->sent() == 0);

    Bound plain;
    plain.wire.clear();
    plain.stream().send_sm_ack(3);
    plain.pump();
    CHECK(plain.wire.empty());

    Authenticated unbound;
    unbound.wire.clear();
    unbound.stream().send_sm_ack(3);
    unbound.pump();
    CHECK(unbound.wire.empty());
  }

  TEST_CASE("<a h/> reports the tags of send_stanza and send_serialized, oldest first") {
    Managed m;
    m.wire.clear();
    REQUIRE(m.stream().send_stanza(*message("m1"), 7));
    REQUIRE(m.stream().send_serialized(queued_xml("m2"), 9));
    REQUIRE(m.stream().send_stanza(*message("m3")));  // tag 0: not durable
    REQUIRE(m.stream().send_serialized(queued_xml("m4"), 11));
    m.pump();
    const StreamManagement& sm = *m.stream().sm();
    CHECK(sm.sent() == 4);
    REQUIRE(sm.unacked_count() == 4);
    // Each kept copy is exactly what was written for it.
    std::string all;
    for (const auto& s : sm.unacked()) all += s.xml;
    CHECK(all == m.wire);
    CHECK(sm.unacked()[1].xml == queued_xml("m2"));

    m.ack("2");
    CHECK(m.acked_tags() == Tags{7, 9});
    m.ack("3");
    CHECK(m.acked_tags() == Tags{7, 9});  // m3 had tag 0
    m.ack("4");
    CHECK(m.acked_tags() == Tags{7, 9, 11});
    CHECK(m.stream().sm()->unacked_count() == 0);
    // Acknowledging the same count again is harmless.
    m.ack("4");
    CHECK(m.events_of(Type::kSmAcked).size() == 2);
    CHECK_FALSE(m.closed.has_value());
  }

  TEST_CASE("stanzas sent before <enable/> are not counted") {
    Bound b;
    REQUIRE(b.stream().send_stanza(*message("early"), 5));
    REQUIRE(b.enable() != nullptr);
    CHECK(b.stream().sm()->sent() == 0);
    b.ack("0");
    CHECK_FALSE(b.closed.has_value());
    b.ack("1");
    CHECK(b.stream_error() == "undefined-condition");
  }

  TEST_CASE("<a/> with a malformed h is bad-format") {
    for (const char* a :
         {"<a xmlns='urn:xmpp:sm:3'/>", "<a xmlns='urn:xmpp:sm:3' h=''/>",
          "<a xmlns='urn:xmpp:sm:3' h='-1'/>", "<a xmlns='urn:xmpp:sm:3' h='abc'/>",
          "<a xmlns='urn:xmpp:sm:3' h='4294967296'/>", "<a xmlns='urn:xmpp:sm:3' h=' 1'/>"}) {
      CAPTURE(a);
      Managed m;
      REQUIRE(m.stream().send_stanza(*message("x"), 1));
      m.send(a);
      CHECK(m.stream_error() == "bad-format");
      CHECK(m.closed_error == StreamCondition::kBadFormat);
      CHECK_FALSE(m.has_event(Type::kSmAcked));
    }
  }

  TEST_CASE("<a/> acknowledging more than was sent: undefined-condition, handled-count-too-high") {
    Managed m;
    REQUIRE(m.stream().send_stanza(*message("1"), 1));
    REQUIRE(m.stream().send_stanza(*message("2"), 2));
    m.ack("3");
    CHECK(m.stream_error() == "undefined-condition");
    CHECK(m.closed_error == StreamCondition::kUndefinedCondition);
    const Element* too_high = too_high_of(m);
    REQUIRE(too_high != nullptr);
    CHECK(too_high->attr_or("h") == "3");
    CHECK(too_high->attr_or("send-count") == "2");
    CHECK_FALSE(m.has_event(Type::kSmAcked));
    CHECK(m.server_closed_stream());
  }

  TEST_CASE("<a/> going backwards: undefined-condition without handled-count-too-high") {
    Managed m;
    for (uint64_t t = 1; t <= 3; ++t) REQUIRE(m.stream().send_stanza(*message("x"), t));
    m.ack("2");
    CHECK(m.acked_tags() == Tags{1, 2});
    m.ack("1");
    CHECK(m.stream_error() == "undefined-condition");
    CHECK(too_high_of(m) == nullptr);
    CHECK(m.closed.has_value());
  }

  TEST_CASE("more than sm_max_unacked unacknowledged stanzas: policy-violation") {
    Managed m(sm_config(3));
    for (uint64_t t = 1; t <= 3; ++t) REQUIRE(m.stream().send_stanza(*message("x"), t));
    m.pump();
    CHECK_FALSE(m.closed.has_value());
    // An acknowledgement makes room again.
    m.ack("3");
    for (uint64_t t = 4; t <= 6; ++t) REQUIRE(m.stream().send_serialized(queued_xml("q"), t));
    m.pump();
    CHECK_FALSE(m.closed.has_value());
    m.stream().send_serialized(queued_xml("one-too-many"), 7);
    m.pump();
    CHECK(m.stream_error() == "policy-violation");
    CHECK(m.closed_error == StreamCondition::kPolicyViolation);
    // Nothing more can be sent; the unacknowledged ones (7 included) stay
    // with the stream so the owner can re-queue them.
    CHECK_FALSE(m.stream().send_stanza(*message("late"), 8));
    REQUIRE(m.stream().sm() != nullptr);
    Tags held;
    for (const auto& s : m.stream().sm()->unacked()) held.push_back(s.tag);
    CHECK(held == Tags{4, 5, 6, 7});
  }

  TEST_CASE("replies the stream writes itself count toward the unacknowledged cap") {
    Managed m(sm_config(2));
    m.send("<message to='@@bad' id='1'><body>x</body></message>");
    m.send("<message to='@@bad' id='2'><body>x</body></message>");
    CHECK_FALSE(m.closed.has_value());
    CHECK(m.stream().sm()->unacked_count() == 2);
    m.send("<message to='@@bad' id='3'><body>x</body></message>");
    CHECK(m.stream_error() == "policy-violation");
  }

  TEST_CASE("outbound counting wraps at 2^32") {
    Authenticated a;
    C2sResumption r;
    REQUIRE(Jid::parse(kFull, r.full) == JidError::kOk);
    r.handled = 0;
    r.sm = StreamManagement(UINT32_MAX - 1);
    a.host.resumable_id = "wrap";
    a.host.resumption = std::move(r);
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='wrap' h='4294967294'/>");
    REQUIRE(a.stream().state() == C2sState::kBound);
    for (uint64_t t = 1; t <= 3; ++t) REQUIRE(a.stream().send_stanza(*message("w"), t));
    CHECK(a.stream().sm()->sent() == 1);
    a.send("<a xmlns='urn:xmpp:sm:3' h='4294967295'/>");
    a.send("<a xmlns='urn:xmpp:sm:3' h='1'/>");
    Tags tags;
    for (const C2sEvent* e : a.events_of(Type::kSmAcked)) {
      tags.insert(tags.end(), e->tags.begin(), e->tags.end());
    }
    CHECK(tags == Tags{1, 2, 3});
    CHECK_FALSE(a.closed.has_value());
    a.send("<a xmlns='urn:xmpp:sm:3' h='2'/>");
    CHECK(a.stream_error() == "undefined-condition");
    const Element* too_high = too_high_of(a);
    REQUIRE(too_high != nullptr);
    CHECK(too_high->attr_or("send-count") == "1");
  }

  TEST_CASE("inbound numbering wraps at 2^32") {
    // Regression (found by these tests, fixed): the 2^32nd stanza from the client gets C2sEvent::seq 0, which the
    // event contract (c2s_event.h) reserves for "no stream management".
    // C2sSession::hold_ack() therefore does not hold that stanza's ack, and
    // an <r/> answered before its group commit counts it in h although it
    // is not committed yet (spec/delivery.md §1.2). The inbound number needs
    // a way to say "stream management, number 0 mod 2^32" (e.g. a separate
    // flag or a 64-bit count).
    Authenticated a;
    C2sResumption r;
    REQUIRE(Jid::parse(kFull, r.full) == JidError::kOk);
    r.handled = UINT32_MAX - 1;
    a.host.resumable_id = "wrap";
    a.host.resumption = std::move(r);
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='wrap' h='0'/>");
    REQUIRE(a.stream().state() == C2sState::kBound);
    a.send("<message to='romeo@example.com'><body>1</body></message>");
    a.send("<message to='romeo@example.com'><body>2</body></message>");
    a.send("<message to='romeo@example.com'><body>3</body></message>");
    auto routed = a.events_of(Type::kStanza);
    REQUIRE(routed.size() == 3);
    CHECK(routed[0]->seq == UINT32_MAX);
    CHECK(routed[1]->seq == 0);
    CHECK(routed[1]->sm_counted);
    CHECK(routed[2]->seq == 1);
  }

  // ---------------------------------------------------------------- resume

  TEST_CASE("<resume/> before authentication is the stream error not-authorized") {
    Client c;
    c.secure();
    c.host.resumable_id = "prev";
    c.host.resumption.emplace();
    c.send("<resume xmlns='urn:xmpp:sm:3' previd='prev' h='0'/>");
    CHECK(c.stream_error() == "not-authorized");
    CHECK(c.host.resume_requests.empty());
    CHECK_FALSE(c.has_event(Type::kResumed));
  }

  TEST_CASE("<resume/> of an unknown id: <failed><item-not-found/></failed>; bind still works") {
    Authenticated a;
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='nosuchid' h='12'/>");
    CHECK(is_failed_with(a.last(), "item-not-found"));
    REQUIRE(a.host.resume_requests.size() == 1);
    CHECK(a.host.resume_requests[0].first == "nosuchid");
    CHECK(a.host.resume_requests[0].second == 12);
    CHECK_FALSE(a.closed.has_value());
    CHECK(a.stream().state() == C2sState::kAwaitBind);
    CHECK_FALSE(a.has_event(Type::kResumed));
    CHECK(a.bind() == kFull);
  }

  TEST_CASE("a previd over 128 bytes, or a bad h, never reaches the host") {
    const std::string long_id(129, 'a');
    const std::vector<std::string> resumes = {
        "<resume xmlns='urn:xmpp:sm:3' previd='" + long_id + "' h='0'/>",
        "<resume xmlns='urn:xmpp:sm:3' h='0'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='' h='0'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='prev'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='prev' h='-1'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='prev' h='x'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='prev' h='4294967296'/>",
    };
    for (const std::string& resume : resumes) {
      CAPTURE(resume);
      Authenticated a;
      // The host would accept either id: the stream must not even ask.
      a.host.resumable_id = resume.find(long_id) != std::string::npos ? long_id : "prev";
      a.host.resumption.emplace();
      REQUIRE(Jid::parse(kFull, a.host.resumption->full) == JidError::kOk);
      a.send(resume);
      CHECK(is_failed_with(a.last(), "item-not-found"));
      CHECK(a.host.resume_requests.empty());
      CHECK(a.stream().state() == C2sState::kAwaitBind);
      CHECK_FALSE(a.closed.has_value());
    }
    // 128 bytes is still asked about.
    Authenticated ok;
    const std::string id(128, 'b');
    ok.host.resumable_id = id;
    ok.host.resumption.emplace();
    REQUIRE(Jid::parse(kFull, ok.host.resumption->full) == JidError::kOk);
    ok.send("<resume xmlns='urn:xmpp:sm:3' previd='" + id + "' h='0'/>");
    CHECK(ok.host.resume_requests.size() == 1);
    CHECK(ok.stream().state() == C2sState::kBound);
  }

  TEST_CASE("resumption: <resumed previd h/>, the unacknowledged stanzas again, kBound") {
    Authenticated a;
    StreamManagement old;
    old.record(5, queued_xml("m1"));
    old.record(0, "<iq type='get' id='ping1' to='juliet@example.com/balcony'/>");
    old.record(6, queued_xml("m3"));
    old.count_inbound();
    C2sResumption r;
    REQUIRE(Jid::parse(kFull, r.full) == JidError::kOk);
    r.handled = 7;  // what the server handled of the client's stanzas
    r.sm = std::move(old);
    a.host.resumable_id = "prev123";
    a.host.resumption = std::move(r);
    a.wire.clear();
    const size_t before = a.elements.size();

    // The client received one stanza (m1).
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='prev123' h='1'/>");
    CHECK(a.wire ==
          "<resumed xmlns='urn:xmpp:sm:3' previd='prev123' h='7'/>"
          "<iq type='get' id='ping1' to='juliet@example.com/balcony'/>" +
              queued_xml("m3"));
    REQUIRE(a.elements.size() == before + 3);
    CHECK(a.elements[before]->is("resumed", kSmNs));
    REQUIRE(a.host.resume_requests.size() == 1);
    CHECK(a.host.resume_requests[0].second == 1);
    CHECK(a.stream().state() == C2sState::kBound);
    CHECK(a.stream().bound_jid().str() == kFull);

    CHECK(event_types(a) ==
          std::vector<Type>{Type::kStartTls, Type::kAuthenticated, Type::kResumed, Type::kSmAcked});
    auto resumed = a.events_of(Type::kResumed);
    CHECK(resumed[0]->jid.str() == kFull);
    CHECK(resumed[0]->sm_id == "prev123");
    CHECK(a.events_of(Type::kSmAcked)[0]->tags == Tags{5});

    const StreamManagement* sm = a.stream().sm();
    REQUIRE(sm != nullptr);
    CHECK(sm->id() == "prev123");
    CHECK(sm->inbound() == 7);
    CHECK(sm->sent() == 3);  // retransmissions are not new stanzas
    CHECK(sm->unacked_count() == 2);

    // The session goes on under the resumed JID and numbers.
    a.send("<message to='romeo@example.com' from='forged@example.com'><body>x</body></message>");
    auto routed = a.events_of(Type::kStanza);
    REQUIRE(routed.size() == 1);
    CHECK(routed[0]->seq == 8);
    CHECK(routed[0]->stanza->attr_or("from") == kFull);
    REQUIRE(a.stream().send_stanza(*message("m4"), 8));
    a.send("<a xmlns='urn:xmpp:sm:3' h='4'/>");
    Tags tags;
    for (const C2sEvent* e : a.events_of(Type::kSmAcked)) {
      tags.insert(tags.end(), e->tags.begin(), e->tags.end());
    }
    CHECK(tags == Tags{5, 6, 8});
    a.send("<r xmlns='urn:xmpp:sm:3'/>");
    CHECK(a.has_event(Type::kSmRequest));
    CHECK_FALSE(a.closed.has_value());
  }

  TEST_CASE("resumption with everything acknowledged writes only <resumed/>") {
    Authenticated a;
    C2sResumption r;
    REQUIRE(Jid::parse(kFull, r.full) == JidError::kOk);
    r.sm.record(0, "<presence/>");
    a.host.resumable_id = "p";
    a.host.resumption = std::move(r);
    a.wire.clear();
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='p' h='1'/>");
    CHECK(a.wire == "<resumed xmlns='urn:xmpp:sm:3' previd='p' h='0'/>");
    CHECK_FALSE(a.has_event(Type::kSmAcked));  // only a tag-0 stanza was acknowledged
    CHECK(a.has_event(Type::kResumed));
  }

  TEST_CASE("<resume/> whose h is too high: undefined-condition, nothing resent") {
    Authenticated a;
    C2sResumption r;
    REQUIRE(Jid::parse(kFull, r.full) == JidError::kOk);
    r.sm.record(5, queued_xml("m1"));
    a.host.resumable_id = "p";
    a.host.resumption = std::move(r);
    a.wire.clear();
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='p' h='2'/>");
    CHECK(a.stream_error() == "undefined-condition");
    const Element* too_high = too_high_of(a);
    REQUIRE(too_high != nullptr);
    CHECK(too_high->attr_or("h") == "2");
    CHECK(too_high->attr_or("send-count") == "1");
    CHECK(a.wire.find("<resumed") == std::string::npos);
    CHECK(a.wire.find("m1") == std::string::npos);
    // The stanza stays with the stream for the owner to re-queue.
    REQUIRE(a.stream().sm() != nullptr);
    CHECK(a.stream().sm()->unacked_count() == 1);
  }

  TEST_CASE("<resume/> after bind, or with stream management off: <failed/>") {
    Bound b;
    b.host.resumable_id = "p";
    b.host.resumption.emplace();
    b.send("<resume xmlns='urn:xmpp:sm:3' previd='p' h='0'/>");
    CHECK(is_failed_with(b.last(), "unexpected-request"));
    CHECK(b.host.resume_requests.empty());
    CHECK_FALSE(b.closed.has_value());

    C2sConfig off = sm_config();
    off.stream_management = false;
    Authenticated a(off);
    a.host.resumable_id = "p";
    a.host.resumption.emplace();
    a.send("<resume xmlns='urn:xmpp:sm:3' previd='p' h='0'/>");
    CHECK(is_failed_with(a.last(), "unexpected-request"));
    CHECK(a.host.resume_requests.empty());
  }

  // ------------------------------------------------------ detach and hold

  TEST_CASE("detach(): closed without an event or output; hold_serialized keeps stanzas") {
    Managed m(sm_config(3));
    REQUIRE(m.stream().send_stanza(*message("m1"), 1));
    m.stream().detach();
    CHECK(m.stream().state() == C2sState::kClosed);
    CHECK(m.stream().output().empty());
    CHECK_FALSE(m.stream().next_event().has_value());
    // Input is ignored, and so are sends and a close.
    m.stream().receive("<r xmlns='urn:xmpp:sm:3'/>");
    CHECK_FALSE(m.stream().send_stanza(*message("m2"), 2));
    m.stream().close(StreamCondition::kSystemShutdown);
    CHECK(m.stream().output().empty());
    CHECK_FALSE(m.stream().next_event().has_value());
    m.stream().detach();  // twice is harmless

    CHECK(m.stream().hold_serialized(queued_xml("h1"), 10));
    CHECK(m.stream().hold_serialized(queued_xml("h2"), 11));
    // At the cap (3 unacknowledged) nothing more is held.
    CHECK_FALSE(m.stream().hold_serialized(queued_xml("h3"), 12));
    StreamManagement* sm = m.stream().sm();
    REQUIRE(sm != nullptr);
    CHECK(sm->sent() == 3);
    Tags held;
    for (const auto& s : sm->unacked()) held.push_back(s.tag);
    CHECK(held == Tags{1, 10, 11});
    CHECK(sm->unacked()[2].xml == queued_xml("h2"));

    // A resumption takes the state over.
    std::unique_ptr<StreamManagement> taken = m.stream().take_sm();
    REQUIRE(taken != nullptr);
    CHECK(taken->unacked_count() == 3);
    CHECK(m.stream().sm() == nullptr);
    CHECK_FALSE(m.stream().hold_serialized(queued_xml("h4"), 13));
  }

  TEST_CASE("hold_serialized refuses while open, and when the stream is not resumable") {
    Managed open_one;
    CHECK_FALSE(open_one.stream().hold_serialized(queued_xml("x"), 1));
    CHECK(open_one.stream().sm()->unacked_count() == 0);

    Bound not_resumable;
    REQUIRE(not_resumable.enable("") != nullptr);
    not_resumable.stream().detach();
    CHECK_FALSE(not_resumable.stream().hold_serialized(queued_xml("x"), 1));

    Bound no_sm;
    no_sm.stream().detach();
    CHECK_FALSE(no_sm.stream().hold_serialized(queued_xml("x"), 1));
  }

  TEST_CASE("a stanza written once is counted once, also when sent byte by byte") {
    // The inbound count follows complete stanzas, not reads.
    Managed m;
    const std::string two =
        "<message to='romeo@example.com' id='a'><body>1</body></message>"
        "<message to='romeo@example.com' id='b'><body>2</body></message><r xmlns='urn:xmpp:sm:3'/>";
    m.send(two, 1);
    auto routed = m.events_of(Type::kStanza);
    REQUIRE(routed.size() == 2);
    CHECK(routed[0]->seq == 1);
    CHECK(routed[1]->seq == 2);
    CHECK(m.events_of(Type::kSmRequest).size() == 1);
    CHECK(occurrences(m.wire, "<a ") == 0);
  }
}

}  // namespace
}  // namespace xd::protocol::test
