// Complete c2s sessions through protocol/c2s/c2s_stream.h: stream headers,
// features at each stage (RFC 6120 §4.3.2), STARTTLS (§5), every SASL
// mechanism (§6) driven by ScramClient, the restart, resource binding (§7),
// registration (XEP-0077) and stanza stamping, fed whole, byte by byte and
// split at every offset.
#include "protocol/c2s/c2s_stream.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "c2s_test_support.h"

namespace xd::protocol::test {
namespace {

constexpr std::string_view kTls = "urn:ietf:params:xml:ns:xmpp-tls";

std::vector<std::string> mechanisms(const Element& features) {
  std::vector<std::string> out;
  if (const Element* m = features.child("mechanisms", kSaslNs)) {
    for (const Node& n : m->children()) {
      if (n.element) out.push_back(n.element->text());
    }
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST_SUITE("c2s_stream") {
  TEST_CASE("response header: fresh id, our domain, version 1.0, xml:lang") {
    Client c;
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    CHECK(c.wire.rfind("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                       "xmlns:stream='http://etherx.jabber.org/streams' id='",
                       0) == 0);
    const StreamHeader& h = c.last_header();
    CHECK(h.ns == kStreamNs);
    CHECK(h.content_namespace() == "jabber:client");
    std::string id, from, version, lang;
    for (const Attribute& a : h.attrs) {
      if (a.name == "id") id = a.value;
      if (a.name == "from") from = a.value;
      if (a.name == "version") version = a.value;
      if (a.name == "lang" && a.ns == kXmlNs) lang = a.value;
    }
    CHECK(id.size() == 32);
    CHECK(from == "example.com");
    CHECK(version == "1.0");
    CHECK(lang == "en");
    CHECK(c.stream().state() == C2sState::kNegotiating);
  }

  TEST_CASE("features: TLS required offers only <starttls><required/>") {
    Client c;
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    const Element* st = f->child("starttls", kTls);
    REQUIRE(st != nullptr);
    CHECK(st->child("required", kTls) != nullptr);
    CHECK(f->child("mechanisms", kSaslNs) == nullptr);  // catalogue D31
    CHECK(f->child("register", "http://jabber.org/features/iq-register") == nullptr);
    // Nothing else negotiable, e.g. no compression (D34); only the XEP-0478
    // limits the client must keep to.
    CHECK(f->child_element_count() == 2);
    CHECK(f->child("limits", kStreamLimitsNs) != nullptr);
  }

  TEST_CASE("features: XEP-0478 limits of each stage, pre-auth then post-auth") {
    // The text of <limits/>'s |name| child, or "" when absent.
    auto limit = [](const Element* f, std::string_view name) -> std::string {
      REQUIRE(f != nullptr);
      const Element* limits = f->child("limits", kStreamLimitsNs);
      REQUIRE(limits != nullptr);
      const Element* e = limits->child(name, kStreamLimitsNs);
      return e ? e->text() : "";
    };
    C2sConfig config = test_config();
    config.pre_auth.max_outstanding_bytes = 5000;
    config.post_auth.max_outstanding_bytes = 100000;
    config.idle_seconds = 840;
    Client c(config);
    const Element* f = c.open();
    CHECK(limit(f, "max-bytes") == "5000");
    // Before authentication only a negotiation deadline applies, no idle time.
    CHECK(limit(f, "idle-seconds") == "");
    c.starttls();
    f = c.open();
    CHECK(limit(f, "max-bytes") == "5000");
    CHECK(limit(f, "idle-seconds") == "");
    REQUIRE(c.scram(ScramHash::kSha256, true) == "success");
    f = c.open();
    CHECK(limit(f, "max-bytes") == "100000");
    CHECK(limit(f, "idle-seconds") == "840");
    // The advertised numbers are the ones enforced: 100000 bytes pass,
    // one more is a policy-violation (with <stanza-too-big/>).
    REQUIRE(c.bind() == "juliet@example.com/balcony");
    const std::string head = "<message to='romeo@example.com'><body>";
    const std::string tail = "</body></message>";
    c.send(head + std::string(100000 - head.size() - tail.size(), 'x') + tail);
    CHECK(c.events_of(C2sEvent::Type::kStanza).size() == 1);
    CHECK(c.stream_error().empty());
    c.send(head + std::string(100001 - head.size() - tail.size(), 'x') + tail);
    CHECK(c.stream_error() == "policy-violation");
    CHECK(c.events_of(C2sEvent::Type::kStanza).size() == 1);

    // The defaults: 8 KiB and 256 KiB; no idle time unless the owner has one.
    Client d;
    CHECK(limit(d.open(), "max-bytes") == "8192");
    d.starttls();
    CHECK(limit(d.open(), "max-bytes") == "8192");
    REQUIRE(d.plain() == "success");
    f = d.open();
    CHECK(limit(f, "max-bytes") == "262144");
    CHECK(limit(f, "idle-seconds") == "");
  }

  TEST_CASE("features after TLS: -PLUS first, PLAIN, registration, channel-binding types") {
    Client c;
    const Element* f = c.secure();
    CHECK(f->child("starttls", kTls) == nullptr);
    CHECK(mechanisms(*f) == Strings{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                    "SCRAM-SHA-1", "PLAIN"});
    CHECK(f->child("register", "http://jabber.org/features/iq-register") != nullptr);
    const Element* cb = f->child("sasl-channel-binding", "urn:xmpp:sasl-cb:0");
    REQUIRE(cb != nullptr);
    Strings types;
    for (const Node& n : cb->children()) types.emplace_back(n.element->attr_or("type"));
    CHECK(types == Strings{"tls-server-end-point", "tls-exporter"});
    CHECK(c.stream().tls_active());
  }

  TEST_CASE("features after TLS without channel-binding data: no -PLUS") {
    Client c;
    REQUIRE(c.open());
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    c.handshake(/*with_bindings=*/false);
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    CHECK(mechanisms(*f) == Strings{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"});
    CHECK(f->child("sasl-channel-binding", "urn:xmpp:sasl-cb:0") == nullptr);
  }

  TEST_CASE("TLS 1.2: tls-exporter is not offered, tls-server-end-point is") {
    Client c;
    REQUIRE(c.open());
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    c.handshake(true, /*tls13=*/false);
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    CHECK(mechanisms(*f)[0] == "SCRAM-SHA-256-PLUS");
    const Element* cb = f->child("sasl-channel-binding", "urn:xmpp:sasl-cb:0");
    REQUIRE(cb != nullptr);
    CHECK(cb->child_element_count() == 1);
    CHECK(c.scram(ScramHash::kSha256, true) == "malformed-request");
    CHECK(c.scram(ScramHash::kSha256, true, "r0m30myr0m30", "juliet", "tls-server-end-point",
                  kEndPoint) == "success");
  }

  TEST_CASE("optional TLS: SCRAM and registration before TLS, PLAIN only after") {
    C2sConfig config = test_config();
    config.tls_required = false;
    Client c(config);
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    const Element* st = f->child("starttls", kTls);
    REQUIRE(st != nullptr);
    CHECK(st->child("required", kTls) == nullptr);
    CHECK(mechanisms(*f) == Strings{"SCRAM-SHA-256", "SCRAM-SHA-1"});
    CHECK(f->child("register", "http://jabber.org/features/iq-register") != nullptr);
    // PLAIN was not offered, so it is not accepted either.
    CHECK(c.plain() == "invalid-mechanism");
    CHECK(c.scram(ScramHash::kSha1, false) == "success");
  }

  TEST_CASE("plaintext-only listener offers PLAIN") {
    C2sConfig config = test_config();
    config.tls_available = false;
    config.tls_required = false;
    Client c(config);
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    CHECK(f->child("starttls", kTls) == nullptr);
    CHECK(mechanisms(*f) == Strings{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"});
  }

  TEST_CASE("complete sessions with each mechanism") {
    struct Case {
      const char* name;
      ScramHash hash;
      bool plus;
      bool plain;
    };
    for (const Case& k : {Case{"SCRAM-SHA-1", ScramHash::kSha1, false, false},
                          Case{"SCRAM-SHA-256", ScramHash::kSha256, false, false},
                          Case{"SCRAM-SHA-1-PLUS", ScramHash::kSha1, true, false},
                          Case{"SCRAM-SHA-256-PLUS", ScramHash::kSha256, true, false},
                          Case{"PLAIN", ScramHash::kSha1, false, true}}) {
      CAPTURE(k.name);
      Client c;
      c.secure();
      CHECK((k.plain ? c.plain() : c.scram(k.hash, k.plus)) == "success");
      auto auth = c.events_of(C2sEvent::Type::kAuthenticated);
      REQUIRE(auth.size() == 1);
      CHECK(auth[0]->jid.str() == "juliet@example.com");
      CHECK(auth[0]->mechanism == k.name);
      CHECK(c.host.successes == Strings{"juliet@example.com " + std::string(k.name)});
      CHECK(c.stream().state() == C2sState::kAwaitHeader);
      CHECK(c.stream().authenticated());

      // The restart: a new header, a new id, bind and session features.
      const Element* f = c.open();
      REQUIRE(f != nullptr);
      CHECK(c.headers_seen() == 3);
      CHECK(f->child("bind", "urn:ietf:params:xml:ns:xmpp-bind") != nullptr);
      const Element* session = f->child("session", "urn:ietf:params:xml:ns:xmpp-session");
      REQUIRE(session != nullptr);
      CHECK(session->child("optional", "urn:ietf:params:xml:ns:xmpp-session") != nullptr);
      CHECK(f->child("mechanisms", kSaslNs) == nullptr);
      CHECK(c.stream().state() == C2sState::kAwaitBind);

      CHECK(c.bind("balcony") == "juliet@example.com/balcony");
      auto bound = c.events_of(C2sEvent::Type::kBound);
      REQUIRE(bound.size() == 1);
      CHECK(bound[0]->jid.str() == "juliet@example.com/balcony");
      CHECK(c.stream().bound_jid().str() == "juliet@example.com/balcony");
      CHECK(c.stream().state() == C2sState::kBound);

      c.send("<message to='Romeo@Example.COM' type='chat' id='m1'><body>hi</body></message>");
      auto stanzas = c.events_of(C2sEvent::Type::kStanza);
      REQUIRE(stanzas.size() == 1);
      CHECK(to_xml(*stanzas[0]->stanza, "jabber:client") ==
            "<message to='romeo@example.com' type='chat' id='m1' "
            "from='juliet@example.com/balcony'><body>hi</body></message>");

      c.send("</stream:stream>");
      CHECK(c.server_closed_stream());
      REQUIRE(c.closed.has_value());
      CHECK(c.closed_clean);
      CHECK_FALSE(c.closed_error.has_value());
      CHECK(c.stream().state() == C2sState::kClosed);
    }
  }

  TEST_CASE("SCRAM success carries the server-final message; PLAIN success is empty") {
    Client c;
    c.secure();
    REQUIRE(c.scram(ScramHash::kSha256, false) == "success");
    const Element* success = c.last();
    auto data = base64_decode(success->text());
    REQUIRE(data.has_value());
    CHECK(data->rfind("v=", 0) == 0);

    Client p;
    p.secure();
    REQUIRE(p.plain() == "success");
    CHECK(p.last()->text().empty());
  }

  TEST_CASE("SASL without an initial response: empty challenge, then the response") {
    Client c;
    c.secure();
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>");
    REQUIRE(c.last()->is("challenge", kSaslNs));
    CHECK(c.last()->text().empty());
    std::string m("\0juliet\0r0m30myr0m30", 20);
    c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + b64(m) + "</response>");
    CHECK(c.last()->is("success", kSaslNs));
  }

  TEST_CASE("PRECIS: the login name is enforced before lookup") {
    Client c;
    c.secure();
    // Fullwidth and upper-case spellings reach the one account (catalogue F45).
    CHECK(c.plain("\xEF\xBC\xAA\xEF\xBD\x95LIET") == "success");
    CHECK(c.host.lookups.back() == "juliet");
    CHECK(c.events_of(C2sEvent::Type::kAuthenticated)[0]->jid.str() == "juliet@example.com");
  }

  TEST_CASE("PRECIS: a name that fails enforcement never reaches the host") {
    Client c;
    c.secure();
    // U+1D2E MODIFIER LETTER CAPITAL B etc.: not in IdentifierClass.
    CHECK(c.plain("\xE1\xB4\xAE\xE1\xB4\xB5\xE1\xB4\xB3") == "not-authorized");
    CHECK(c.host.lookups.empty());
  }

  TEST_CASE("bind: requested resource kept exactly, case preserved") {
    Client c;
    CHECK(c.login("Balcony Phone") == "juliet@example.com/Balcony Phone");
    CHECK(c.host.bind_requests == Strings{"juliet@example.com/Balcony Phone"});
  }

  TEST_CASE("bind: no resource, or an unusable one, gets a generated resource") {
    // No <resource/>, an empty one, and one with a control character
    // (FreeformClass disallows Cc, RFC 8264 §9.11).
    for (std::string_view bind :
         {std::string_view("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"),
          std::string_view("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource/></bind>"),
          std::string_view(
              "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>a\tb</resource></bind>")}) {
      CAPTURE(bind);
      Client c;
      c.secure();
      REQUIRE(c.scram(ScramHash::kSha1, false) == "success");
      REQUIRE(c.open());
      c.send("<iq type='set' id='b'>" + std::string(bind) + "</iq>");
      auto bound = c.events_of(C2sEvent::Type::kBound);
      REQUIRE(bound.size() == 1);
      const std::string& res = bound[0]->jid.resource();
      CHECK(res.size() == 24);
      CHECK(res.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
  }

  TEST_CASE("bind and session addressed to the domain in any spelling") {
    Client c;
    c.secure();
    REQUIRE(c.plain() == "success");
    REQUIRE(c.open());
    c.send(
        "<iq type='set' id='s0' to='EXAMPLE.com.'><session "
        "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    CHECK(c.last()->attr_or("type") == "result");
    c.send(
        "<iq type='set' id='b1' to='Example.COM'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        "<resource>r</resource></bind></iq>");
    CHECK(c.stream().bound_jid().str() == "juliet@example.com/r");
  }

  TEST_CASE("legacy session establishment is answered with an empty result") {
    Client c;
    REQUIRE(!c.login().empty());
    c.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    const Element* r = c.last();
    REQUIRE(r != nullptr);
    CHECK(to_xml(*r, "jabber:client") == "<iq id='s1' type='result'/>");
    CHECK(c.events_of(C2sEvent::Type::kStanza).empty());
  }

  TEST_CASE("send_stanza: serialized once with the default namespace, only when bound") {
    Client c;
    Element msg("jabber:client", "message");
    msg.set_attr("to", "juliet@example.com/balcony");
    msg.add_child("jabber:client", "body").add_text("a < b");
    CHECK_FALSE(c.stream().send_stanza(msg));
    REQUIRE(!c.login().empty());
    c.wire.clear();
    CHECK(c.stream().send_stanza(msg));
    c.pump();
    CHECK(c.wire == "<message to='juliet@example.com/balcony'><body>a &lt; b</body></message>");
    REQUIRE(c.last()->is("message", "jabber:client"));
  }

  TEST_CASE("server close: system-shutdown after the header, error, stream end") {
    Client c;
    REQUIRE(!c.login().empty());
    c.stream().close(StreamCondition::kSystemShutdown);
    c.pump();
    CHECK(c.stream_error() == "system-shutdown");
    CHECK(c.server_closed_stream());
    CHECK(c.closed_error == StreamCondition::kSystemShutdown);
    CHECK_FALSE(c.closed_clean);
    // Nothing after kClosed: input is ignored.
    c.send("<message to='romeo@example.com'><body>x</body></message>");
    CHECK(c.events_of(C2sEvent::Type::kStanza).empty());
    CHECK(c.events.back().type == C2sEvent::Type::kClosed);
  }

  TEST_CASE("server close before any header writes our header first") {
    Client c;
    c.stream().close(StreamCondition::kConnectionTimeout);
    c.pump();
    CHECK(c.headers_seen() == 1);
    CHECK(c.stream_error() == "connection-timeout");
  }

  TEST_CASE("server close while TLS is being negotiated writes nothing") {
    Client c;
    REQUIRE(c.open());
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    c.wire.clear();
    c.stream().close(StreamCondition::kConnectionTimeout);
    c.pump();
    CHECK(c.wire.empty());
    CHECK(c.closed.has_value());
  }

  TEST_CASE("peer EOF: kClosed, not clean, nothing written") {
    Client c;
    REQUIRE(!c.login().empty());
    c.wire.clear();
    c.stream().peer_closed();
    c.pump();
    CHECK(c.wire.empty());
    CHECK(c.closed.has_value());
    CHECK_FALSE(c.closed_clean);
  }

  TEST_CASE("direct TLS: tls_established first, then the TLS-level features") {
    C2sConfig config = test_config();
    config.direct_tls = true;
    Client c(config);
    CHECK(c.stream().state() == C2sState::kAwaitTls);
    c.handshake();
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    CHECK(f->child("starttls", kTls) == nullptr);
    CHECK(mechanisms(*f)[0] == "SCRAM-SHA-256-PLUS");
    CHECK(c.scram(ScramHash::kSha256, true) == "success");
    REQUIRE(c.open());
    CHECK(c.bind() == "juliet@example.com/balcony");
  }

  TEST_CASE("direct TLS: bytes before tls_established are ignored") {
    C2sConfig config = test_config();
    config.direct_tls = true;
    Client c(config);
    c.send(kOpen);
    CHECK(c.wire.empty());
    c.handshake();
    CHECK(c.open() != nullptr);
  }

  TEST_CASE("registration, then login with the new account") {
    Client c;
    c.secure();
    c.send("<iq type='get' id='r1' from='evil@elsewhere'><query xmlns='jabber:iq:register'/></iq>");
    const Element* form = c.last();
    REQUIRE(form != nullptr);
    CHECK(form->attr_or("type") == "result");
    CHECK(form->attr("to") == nullptr);  // the client's claimed 'from' is not echoed
    const Element* q = form->child("query", "jabber:iq:register");
    REQUIRE(q != nullptr);
    CHECK(q->child("instructions", "jabber:iq:register") != nullptr);
    CHECK(q->child("username", "jabber:iq:register") != nullptr);
    CHECK(q->child("password", "jabber:iq:register") != nullptr);

    c.send(
        "<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>Romeo</username>"
        "<password>s3cret</password></query></iq>");
    CHECK(to_xml(*c.last(), "jabber:client") == "<iq id='r2' type='result'/>");
    CHECK(c.host.registrations == Strings{"romeo"});
    CHECK(c.scram(ScramHash::kSha256, true, "s3cret", "romeo") == "success");
  }

  TEST_CASE("registration errors: conflict (also via PRECIS), not-acceptable, remove") {
    Client c;
    c.secure();
    auto reg = [&](std::string_view user, std::string_view pass) {
      c.send("<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>" +
             std::string(user) + "</username><password>" + std::string(pass) +
             "</password></query></iq>");
      const Element* r = c.last();
      REQUIRE(r != nullptr);
      if (r->attr_or("type") == "result") return std::string("ok");
      const Element* e = r->child("error", "jabber:client");
      REQUIRE(e != nullptr);
      return Client::stanza_error(*r) + "/" + std::string(e->attr_or("type"));
    };
    CHECK(reg("juliet", "x") == "conflict/cancel");
    CHECK(reg("JULIET", "x") == "conflict/cancel");  // catalogue F45
    CHECK(reg("", "x") == "not-acceptable/modify");
    CHECK(reg("a@b", "x") == "not-acceptable/modify");
    CHECK(reg("nurse", "") == "not-acceptable/modify");
    c.send(
        "<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>x</username>"
        "</query></iq>");
    CHECK(Client::stanza_error(*c.last()) == "not-acceptable");
    c.send("<iq type='set' id='r'><query xmlns='jabber:iq:register'><remove/></query></iq>");
    CHECK(Client::stanza_error(*c.last()) == "not-allowed");
    CHECK(reg("nurse", "pw") == "ok");
    // The stream is still negotiating and usable.
    CHECK(c.stream().state() == C2sState::kNegotiating);
  }

  TEST_CASE("stanza errors the stream answers itself are reported to the host, once each") {
    Client c;
    c.secure();
    // Registration: a conflict and an unacceptable name; a success is not
    // an error.
    c.send(
        "<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>juliet</username>"
        "<password>x</password></query></iq>");
    c.send(
        "<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>a@b</username>"
        "<password>x</password></query></iq>");
    c.send(
        "<iq type='set' id='r3'><query xmlns='jabber:iq:register'><username>nurse</username>"
        "<password>pw</password></query></iq>");
    CHECK(c.host.stanza_errors == Strings{"conflict", "not-acceptable"});
    c.host.stanza_errors.clear();
    REQUIRE(c.plain() == "success");
    REQUIRE(c.open());
    // A refused bind, then a good one.
    c.host.bind_refusal = StanzaCondition::kResourceConstraint;
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    c.host.bind_refusal.reset();
    REQUIRE(c.bind("r") == "juliet@example.com/r");
    CHECK(c.host.stanza_errors == Strings{"resource-constraint"});
    c.host.stanza_errors.clear();
    // Bound: an unparsable 'to', an iq without an id, a second bind.
    c.send("<message to='a@b@c' id='m1'><body>x</body></message>");
    c.send("<iq type='get' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>");
    c.send("<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    // Routed stanzas, and an error stanza that is dropped, are not errors
    // of the stream's own.
    c.send("<message to='romeo@example.com' id='m2'><body>x</body></message>");
    c.send("<message to='a@b@c' type='error' id='m3'/>");
    CHECK(c.host.stanza_errors == Strings{"jid-malformed", "bad-request", "not-allowed"});
    CHECK(c.events_of(C2sEvent::Type::kStanza).size() == 1);
  }

  TEST_CASE("registration is refused when not offered") {
    C2sConfig config = test_config();
    config.allow_registration = false;
    Client c(config);
    c.secure();
    c.send("<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>");
    CHECK(c.stream_error() == "not-authorized");
  }

  TEST_CASE("registration before TLS when TLS is required is refused") {
    Client c;
    REQUIRE(c.open());
    c.send("<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>");
    CHECK(c.stream_error() == "not-authorized");
    CHECK(c.host.registrations.empty());
  }

  TEST_CASE("byte-by-byte: a whole session gives the same outcome as whole reads") {
    auto run = [](size_t chunk) {
      Client c;
      REQUIRE(c.open(kOpen) != nullptr);
      c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", chunk);
      c.handshake();
      c.send(kOpen, chunk);
      c.send(Client::plain_auth("", "juliet", "r0m30myr0m30"), chunk);
      c.send(kOpen, chunk);
      c.send(
          "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
          "<resource>r</resource></bind></iq>",
          chunk);
      c.send(
          "<message from='victim@example.com/x' to='romeo@example.com'><body>hi</body>"
          "</message>  <presence/>",
          chunk);
      c.send("</stream:stream>", chunk);
      std::string outcome = c.wire;
      for (const auto& e : c.events) {
        outcome += "|" + std::to_string(static_cast<int>(e.type)) + e.jid.str() + e.mechanism;
        if (e.stanza) outcome += to_xml(*e.stanza, "jabber:client");
      }
      return outcome;
    };
    const std::string whole = run(0);
    CHECK(whole.find("from='juliet@example.com/r'") != std::string::npos);
    CHECK(whole.find("victim") == std::string::npos);
    CHECK(run(1) == whole);
    CHECK(run(3) == whole);
    CHECK(run(7) == whole);
  }

  TEST_CASE("split at every offset: each client flight, two reads, same outcome") {
    // A plaintext-only listener so the whole script is fixed bytes.
    C2sConfig config = test_config();
    config.tls_available = false;
    config.tls_required = false;
    const std::vector<std::string> flights = {
        kOpen,
        Client::plain_auth("", "juliet", "r0m30myr0m30"),
        open_to("example.com"),
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r"
        "</resource></bind></iq>",
        "<message to='Romeo@example.com'><body>x</body></message><iq type='get' id='q'/>"
        "</stream:stream>",
    };
    auto run = [&](size_t flight, size_t cut) {
      Client c(config);
      for (size_t i = 0; i < flights.size(); ++i) {
        if (i == flight && cut > 0 && cut < flights[i].size()) {
          c.stream().receive(std::string_view(flights[i]).substr(0, cut));
          c.pump();
          c.send(std::string_view(flights[i]).substr(cut));
        } else {
          c.send(flights[i]);
        }
      }
      std::string outcome = c.wire;
      for (const auto& e : c.events) {
        outcome += "|" + std::to_string(static_cast<int>(e.type)) + e.jid.str();
        if (e.stanza) outcome += to_xml(*e.stanza, "jabber:client");
      }
      return outcome;
    };
    const std::string whole = run(flights.size(), 0);
    CHECK(whole.find("<bad-request") != std::string::npos);
    CHECK(whole.find("to='romeo@example.com'") != std::string::npos);
    size_t runs = 0;
    for (size_t f = 0; f < flights.size(); ++f) {
      for (size_t cut = 1; cut < flights[f].size(); ++cut) {
        CAPTURE(f);
        CAPTURE(cut);
        CHECK(run(f, cut) == whole);
        ++runs;
      }
    }
    CHECK(runs > 300);
  }

  TEST_CASE("idle memory: output buffers shrink once written") {
    Client c;
    REQUIRE(!c.login().empty());
    Element big("jabber:client", "message");
    big.add_child("jabber:client", "body").add_text(std::string(64 * 1024, 'x'));
    REQUIRE(c.stream().send_stanza(big));
    CHECK(c.stream().output().capacity() >= 64 * 1024);
    c.stream().clear_output();
    CHECK(c.stream().output().capacity() <= 4096);
  }
}

}  // namespace
}  // namespace xd::protocol::test
