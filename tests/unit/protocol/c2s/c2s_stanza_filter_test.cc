// The per-stanza checks of protocol/c2s/c2s_stanza_filter.h in isolation:
// 'from' stamping, 'to' normalisation and its one-entry cache, IQ shape
// (RFC 6120 §8.2.3), stanza-id stripping (XEP-0359) and never answering an
// error with an error (§8.3.1); plus the feature lists of c2s_features.h.
#include "protocol/c2s/c2s_stanza_filter.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "protocol/c2s/c2s_features.h"
#include "protocol/jid/jid.h"
#include "protocol/xml/element.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol {
namespace {

// Parses one stanza written in jabber:client.
std::unique_ptr<Element> parse(std::string_view xml) {
  StreamParser p(post_auth_parser_limits());
  p.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
  p.feed(xml);
  auto open = p.next();
  REQUIRE(open.has_value());
  auto ev = p.next();
  if (!ev) {
    p.flush();
    ev = p.next();
  }
  REQUIRE(ev.has_value());
  REQUIRE(ev->type == StreamEvent::Type::kStanza);
  return std::move(ev->stanza);
}

C2sStanzaFilter make_filter() {
  Jid full;
  REQUIRE(Jid::parse("juliet@example.com/balcony", full) == JidError::kOk);
  return C2sStanzaFilter(full, "example.com");
}

std::string run(C2sStanzaFilter& f, std::string_view xml, C2sStanzaFilter::Verdict expect) {
  auto stanza = parse(xml);
  std::unique_ptr<Element> reply;
  CHECK(f.filter(*stanza, reply) == expect);
  if (expect == C2sStanzaFilter::Verdict::kReply) {
    REQUIRE(reply != nullptr);
    return to_xml(*reply, "jabber:client");
  }
  CHECK(reply == nullptr);
  return to_xml(*stanza, "jabber:client");
}

constexpr auto kRoute = C2sStanzaFilter::Verdict::kRoute;
constexpr auto kReply = C2sStanzaFilter::Verdict::kReply;
constexpr auto kDrop = C2sStanzaFilter::Verdict::kDrop;

TEST_SUITE("c2s_stanza_filter") {
  TEST_CASE("from is stamped whether absent or forged") {
    C2sStanzaFilter f = make_filter();
    CHECK(run(f, "<presence/>", kRoute) == "<presence from='juliet@example.com/balcony'/>");
    CHECK(run(f, "<message from='romeo@example.com/x'/>", kRoute) ==
          "<message from='juliet@example.com/balcony'/>");
  }

  TEST_CASE("to is normalised; the cache returns the same answers as parsing") {
    C2sStanzaFilter f = make_filter();
    CHECK(run(f, "<message to='ROMEO@Example.Com.'/>", kRoute) ==
          "<message to='romeo@example.com' from='juliet@example.com/balcony'/>");
    CHECK(run(f, "<message to='ROMEO@Example.Com.'/>", kRoute) ==
          "<message to='romeo@example.com' from='juliet@example.com/balcony'/>");
    CHECK(run(f, "<message to='nurse@example.com'/>", kRoute) ==
          "<message to='nurse@example.com' from='juliet@example.com/balcony'/>");
    // A bad 'to' right after a cached good one is still refused.
    CHECK(run(f, "<message to='ROMEO@@Example.Com.'/>", kReply) ==
          "<message to='juliet@example.com/balcony' type='error'><error type='modify'>"
          "<jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
  }

  TEST_CASE("long addresses bypass the cache and still normalise") {
    C2sStanzaFilter f = make_filter();
    const std::string res(300, 'R');
    const std::string xml = "<message to='Romeo@Example.com/" + res + "'/>";
    for (int i = 0; i < 2; ++i) {
      CHECK(run(f, xml, kRoute) ==
            "<message to='romeo@example.com/" + res + "' from='juliet@example.com/balcony'/>");
    }
  }

  TEST_CASE("an error stanza with a bad 'to' is dropped, never answered") {
    C2sStanzaFilter f = make_filter();
    run(f, "<message type='error' to='@x'/>", kDrop);
    run(f, "<iq type='error' id='1'/>", kRoute);
    run(f, "<iq type='error'/>", kDrop);  // malformed and an error: no reply
  }

  TEST_CASE("iq shape") {
    auto ok = [](std::string_view xml) { return c2s_iq_well_formed(*parse(xml)); };
    CHECK(ok("<iq type='get' id='1'><q xmlns='urn:q'/></iq>"));
    CHECK(ok("<iq type='set' id='1'>  <q xmlns='urn:q'/> </iq>"));  // whitespace is not a child
    CHECK(ok("<iq type='result' id='1'/>"));
    CHECK(ok("<iq type='result' id='1'><q xmlns='urn:q'/></iq>"));
    CHECK(ok("<iq type='error' id='1'><q xmlns='urn:q'/><r xmlns='urn:r'/></iq>"));
    CHECK_FALSE(ok("<iq type='get' id='1'/>"));
    CHECK_FALSE(ok("<iq type='set' id='1'><q xmlns='urn:q'/><r xmlns='urn:r'/></iq>"));
    CHECK_FALSE(ok("<iq type='get'><q xmlns='urn:q'/></iq>"));
    CHECK_FALSE(ok("<iq type='get' id=''><q xmlns='urn:q'/></iq>"));
    CHECK_FALSE(ok("<iq type='GET' id='1'><q xmlns='urn:q'/></iq>"));
    CHECK_FALSE(ok("<iq id='1'><q xmlns='urn:q'/></iq>"));
    CHECK_FALSE(ok("<iq type='result' id='1'><q xmlns='urn:q'/><r xmlns='urn:r'/></iq>"));
  }

  TEST_CASE("stanza-id: ours and our users' are stripped, others kept, order of rest kept") {
    C2sStanzaFilter f = make_filter();
    CHECK(run(f,
              "<message><a xmlns='urn:a'/><stanza-id xmlns='urn:xmpp:sid:0' by='example.com' "
              "id='1'/><b xmlns='urn:b'/><stanza-id xmlns='urn:xmpp:sid:0' by='x@Example.com' "
              "id='2'/><stanza-id xmlns='urn:xmpp:sid:0' by='not a jid@' id='3'/></message>",
              kRoute) ==
          "<message from='juliet@example.com/balcony'><a xmlns='urn:a'/><b xmlns='urn:b'/>"
          "</message>");
    CHECK(run(f,
              "<message><stanza-id xmlns='urn:xmpp:sid:0' by='room@chat.other' id='k'/>"
              "<stanza-id xmlns='urn:xmpp:sid:0' by='example.com' id='f'/></message>",
              kRoute) ==
          "<message from='juliet@example.com/balcony'><stanza-id xmlns='urn:xmpp:sid:0' "
          "by='room@chat.other' id='k'/></message>");
    // Same local name in another namespace is not touched.
    CHECK(run(f, "<message><stanza-id xmlns='urn:other' by='example.com'/></message>", kRoute) ==
          "<message from='juliet@example.com/balcony'><stanza-id xmlns='urn:other' "
          "by='example.com'/></message>");
  }
}

TEST_SUITE("c2s_features") {
  TEST_CASE("exact bytes of each stage") {
    std::string out;
    C2sFeatures pre;
    pre.starttls = true;
    pre.starttls_required = true;
    append_c2s_features(pre, out);
    CHECK(out ==
          "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
          "</starttls></stream:features>");

    out.clear();
    C2sFeatures bind;
    bind.bind = true;
    append_c2s_features(bind, out);
    CHECK(out ==
          "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session "
          "xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>");

    out.clear();
    C2sFeatures limits;
    limits.max_bytes = 262144;
    limits.idle_seconds = 840;
    append_c2s_features(limits, out);
    CHECK(out ==
          "<stream:features><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>262144</max-bytes>"
          "<idle-seconds>840</idle-seconds></limits></stream:features>");

    // Before authentication: the tighter limit, no idle time (XEP-0478 §3).
    out.clear();
    limits.max_bytes = 8192;
    limits.idle_seconds = 0;
    append_c2s_features(limits, out);
    CHECK(out ==
          "<stream:features><limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>8192</max-bytes>"
          "</limits></stream:features>");
  }
}

}  // namespace
}  // namespace xd::protocol
