// The hostile-inputs.md catalogue cases that belong to the c2s stream
// (A1-A10, D31-D34, E37-E40, F42-F44, F46-F47, G49-G50), each asserting
// the exact condition and that nothing of the offending input reaches the
// server (no kStanza, no credential lookup, no authentication).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "c2s_test_support.h"
#include "protocol/c2s/c2s_stream.h"

namespace xd::protocol::test {
namespace {

using Strings = std::vector<std::string>;

// Opens a stream with |header| and returns the stream error ("" if none).
std::string header_error(std::string_view header, C2sConfig config = test_config()) {
  Client c(config);
  c.send(header);
  if (c.stream_error().empty()) return "";
  // G4: our header first, then the error, then the end of our stream.
  CHECK(c.headers_seen() == 1);
  CHECK(c.server_closed_stream());
  CHECK(c.closed.has_value());
  CHECK_FALSE(c.closed_clean);
  return c.stream_error();
}

std::string header_with(std::string_view attrs) {
  return "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' " + std::string(attrs) +
         ">";
}

// A logged-in client (TLS, SCRAM-SHA-256-PLUS, bound to juliet@example.com/balcony).
struct Session : Client {
  Session() { REQUIRE(login() == "juliet@example.com/balcony"); }
  size_t routed() const { return events_of(C2sEvent::Type::kStanza).size(); }
  const Element& last_routed() const { return *events_of(C2sEvent::Type::kStanza).back()->stanza; }
};

// A client that finished STARTTLS and sees the SASL features.
struct Secured : Client {
  Secured() { secure(); }
};

// The exact bytes a size-limit violation ends the stream with: the
// condition, then the XEP-0182 application condition (RFC 6120 §4.9.4).
constexpr std::string_view kTooBig =
    "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    "<stanza-too-big xmlns='urn:xmpp:errors'/></stream:error></stream:stream>";

bool ends_with(std::string_view wire, std::string_view tail) {
  return wire.size() >= tail.size() && wire.substr(wire.size() - tail.size()) == tail;
}

TEST_SUITE("c2s_hostile") {
  // ------------------------------------------------------------------ A

  TEST_CASE("A1: non-XML first bytes -> header + not-well-formed, at once") {
    const std::vector<std::string> inputs = {
        "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // TLS ClientHello
        std::string("\x8f\x01\xff\x10 random", 11),
        "hello",
    };
    for (const std::string& in : inputs) {
      CAPTURE(in);
      Client c;
      c.stream().receive(in);  // no flush: must not wait for more bytes
      c.pump();
      REQUIRE(c.closed.has_value());
      CHECK(c.headers_seen() == 1);
      const std::string e = c.stream_error();
      CHECK((e == "not-well-formed" || e == "unsupported-encoding"));
      CHECK(c.server_closed_stream());
    }
  }

  TEST_CASE("A2/A3: wrong stream or content namespace -> invalid-namespace") {
    CHECK(header_error("<stream:stream xmlns:stream='urn:foo' xmlns='jabber:client' "
                       "to='example.com' version='1.0'>") == "invalid-namespace");
    CHECK(header_error(header_with("xmlns='jabber:server' to='example.com' version='1.0'")) ==
          "invalid-namespace");
    CHECK(header_error(header_with("to='example.com' version='1.0'")) == "invalid-namespace");
    // A root other than <stream/> in the stream namespace.
    CHECK(header_error("<stream:foo xmlns:stream='http://etherx.jabber.org/streams' "
                       "xmlns='jabber:client' to='example.com' version='1.0'>") ==
          "invalid-namespace");
    // Namespace checks come before addressing checks.
    CHECK(header_error(header_with("xmlns='jabber:server'")) == "invalid-namespace");
  }

  TEST_CASE("A2: any prefix for the stream namespace is accepted") {
    Client c;
    CHECK(c.open("<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' "
                 "to='example.com' version='1.0'>") != nullptr);
    CHECK(c.stream_error().empty());
  }

  TEST_CASE("A4: missing or empty 'to' -> improper-addressing") {
    CHECK(header_error(header_with("xmlns='jabber:client' version='1.0'")) ==
          "improper-addressing");
    CHECK(header_error(header_with("xmlns='jabber:client' to='' version='1.0'")) ==
          "improper-addressing");
  }

  TEST_CASE("A5: unknown host and IP literals -> host-unknown; EXAMPLE.com. is ours") {
    for (const char* to : {"evil.example", "127.0.0.1", "[::1]", "[::1", "juliet@example.com",
                           "example.com/res", "example.com.evil", "@example.com"}) {
      CAPTURE(to);
      CHECK(header_error(open_to(to)) == "host-unknown");
    }
    for (const char* to : {"EXAMPLE.com.", "example.com", "Example.COM"}) {
      CAPTURE(to);
      Client c;
      CHECK(c.open(open_to(to)) != nullptr);
      CHECK(c.stream_error().empty());
    }
  }

  TEST_CASE("A6: version missing or below 1.0 -> unsupported-version; 2.0 -> 1.0") {
    for (const char* v : {"", "version='0.9'", "version='1'", "version='abc'", "version='1.x'",
                          "version='-1.0'", "version='0.99999999999999999999'"}) {
      CAPTURE(v);
      CHECK(header_error(header_with(std::string("xmlns='jabber:client' to='example.com' ") + v)) ==
            "unsupported-version");
    }
    for (const char* v : {"2.0", "1.1", "01.0", "1.00", "99999999999999999999.0"}) {
      CAPTURE(v);
      Client c;
      REQUIRE(c.open(header_with(std::string("xmlns='jabber:client' to='example.com' version='") +
                                 v + "'")) != nullptr);
      std::string version;
      for (const Attribute& a : c.last_header().attrs) {
        if (a.name == "version") version = a.value;
      }
      CHECK(version == "1.0");
    }
  }

  TEST_CASE("A7: restart after SASL with a different 'to' -> not-authorized") {
    for (const char* to : {"other.example", "127.0.0.1", ""}) {
      CAPTURE(to);
      Secured c;
      REQUIRE(c.plain() == "success");
      c.send(open_to(to));
      CHECK(c.stream_error() ==
            (std::string(to).empty() ? "improper-addressing" : "not-authorized"));
      CHECK(c.stream().bound_jid().str() == "juliet@example.com");
      CHECK(c.events_of(C2sEvent::Type::kBound).empty());
    }
    // The same service in another spelling is the same 'to'.
    Secured ok;
    REQUIRE(ok.plain() == "success");
    CHECK(ok.open(open_to("EXAMPLE.COM.")) != nullptr);
  }

  TEST_CASE("A8: stanzas before SASL -> not-authorized, never processed") {
    for (const char* stanza :
         {"<message to='romeo@example.com'><body>x</body></message>", "<presence/>",
          "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
          "<iq type='set' id='1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"}) {
      CAPTURE(stanza);
      Secured c;
      c.send(stanza);
      CHECK(c.stream_error() == "not-authorized");
      CHECK(c.events_of(C2sEvent::Type::kStanza).empty());
      CHECK(c.host.bind_requests.empty());
    }
  }

  TEST_CASE("A8: anything but bind/session after SASL and before bind -> not-authorized") {
    for (const char* stanza :
         {"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
          "<iq type='get' id='1' to='romeo@example.com'><bind "
          "xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
          "<message to='romeo@example.com'><body>x</body></message>", "<presence/>",
          "<iq type='result' id='1'/>",
          "<iq type='set' id='1'><query xmlns='jabber:iq:register'><username>x</username>"
          "<password>y</password></query></iq>"}) {
      CAPTURE(stanza);
      Secured c;
      REQUIRE(c.plain() == "success");
      REQUIRE(c.open());
      c.send(stanza);
      CHECK(c.stream_error() == "not-authorized");
      CHECK(c.events_of(C2sEvent::Type::kStanza).empty());
      CHECK(c.host.registrations.empty());
    }
  }

  TEST_CASE("A9: unknown top-level element after auth -> unsupported-stanza-type") {
    for (const char* element : {"<foo xmlns='jabber:client'/>", "<x xmlns='urn:y'/>",
                                "<stream:features/>", "<sm xmlns='urn:xmpp:sm:3'/>"}) {
      CAPTURE(element);
      Session s;
      s.send(element);
      CHECK(s.stream_error() == "unsupported-stanza-type");
      CHECK(s.routed() == 0);
    }
    // Also between SASL and bind.
    Secured c;
    REQUIRE(c.plain() == "success");
    REQUIRE(c.open());
    c.send("<foo xmlns='jabber:client'/>");
    CHECK(c.stream_error() == "unsupported-stanza-type");
  }

  TEST_CASE("A9: unknown elements before auth are not-authorized (RFC 6120 §4.9.3.12)") {
    Secured c;
    c.send("<foo xmlns='jabber:client'/>");
    CHECK(c.stream_error() == "not-authorized");
  }

  TEST_CASE("A10: the peer's </stream:stream> or <stream:error/> -> our close, clean") {
    for (const char* end : {"</stream:stream>",
                            "<stream:error><conflict "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"}) {
      CAPTURE(end);
      Session s;
      s.wire.clear();
      s.send(end);
      CHECK(s.wire == "</stream:stream>");  // no error reply, no loop
      CHECK(s.closed_clean);
      CHECK_FALSE(s.closed_error.has_value());
      CHECK(s.stream().state() == C2sState::kClosed);
    }
    // Before authentication too.
    Client c;
    REQUIRE(c.open());
    c.send("</stream:stream>");
    CHECK(c.server_closed_stream());
    CHECK(c.closed_clean);
  }

  TEST_CASE("A10: an in-progress stanza is discarded when the stream ends") {
    Session s;
    s.send("<message to='romeo@example.com'><body>partial");
    s.send("</stream:stream>");
    CHECK(s.routed() == 0);
    CHECK(s.stream_error() == "not-well-formed");  // mismatched end tag
    Session e;
    e.send("<message to='romeo@example.com'><body>partial");
    e.stream().peer_closed();
    e.pump();
    CHECK(e.routed() == 0);
    CHECK(e.closed.has_value());
  }

  // ------------------------------------------------------------------ B/C

  TEST_CASE("B11: DOCTYPE after each restart is still restricted-xml") {
    Client tls;
    REQUIRE(tls.open());
    tls.starttls();
    tls.send("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>");
    CHECK(tls.stream_error() == "restricted-xml");

    Secured sasl;
    REQUIRE(sasl.plain() == "success");
    sasl.send("<!DOCTYPE stream:stream SYSTEM 'file:///etc/passwd'>");
    CHECK(sasl.stream_error() == "restricted-xml");
  }

  TEST_CASE("C28: pre-auth limit 8 KiB; post-auth limit applies after SASL") {
    Secured c;
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
           std::string(20 * 1024, 'A') + "</auth>");
    CHECK(c.stream_error() == "policy-violation");
    CHECK(c.host.lookups.empty());

    Session s;
    s.send("<message to='romeo@example.com'><body>" + std::string(20 * 1024, 'x') +
           "</body></message>");
    CHECK(s.routed() == 1);
    CHECK(s.stream_error().empty());
  }

  TEST_CASE("C25: oversize stanza -> policy-violation + <stanza-too-big/>, stream closed") {
    // (a) One complete 300 KiB stanza after authentication.
    Session a;
    a.wire.clear();
    a.send("<message to='romeo@example.com'><body>" + std::string(300 * 1024, 'x') +
           "</body></message>");
    CHECK(a.wire == kTooBig);
    CHECK(a.routed() == 0);
    CHECK(a.closed_error == StreamCondition::kPolicyViolation);
    // (b) A stanza that never ends, fed in 4 KiB reads.
    Session b;
    b.wire.clear();
    b.send("<message to='romeo@example.com'><body>");
    for (int i = 0; i < 100 && !b.closed; ++i) b.send(std::string(4096, 'y'));
    CHECK(b.wire == kTooBig);
    CHECK(b.routed() == 0);
    // Before authentication the 8 KiB limit, with the same error (C28).
    Secured c;
    c.wire.clear();
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
           std::string(20 * 1024, 'A') + "</auth>");
    CHECK(c.wire == kTooBig);
    // Before our header: the header first, then the same error.
    Client d;
    d.send(std::string(kOpen).substr(0, 58) + std::string(9 * 1024, ' '));
    CHECK(d.headers_seen() == 1);
    CHECK(ends_with(d.wire, kTooBig));
  }

  TEST_CASE("C29: other limit errors carry no <stanza-too-big/>") {
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "<a>";
    Session s;
    s.wire.clear();
    s.send("<message>" + deep);
    CHECK(s.wire ==
          "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "</stream:error></stream:stream>");
    std::string many;
    for (int i = 0; i < 40; ++i) many += "<x/>";
    Secured c;
    c.wire.clear();
    c.send("<iq type='get' id='1'>" + many + "</iq>");
    CHECK(c.wire ==
          "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
          "</stream:error></stream:stream>");
  }

  // ------------------------------------------------------------------ D

  TEST_CASE("D31: <auth/> before TLS when required -> encryption-required, nothing checked") {
    Client c;
    REQUIRE(c.open());
    CHECK(c.plain() == "encryption-required");
    CHECK(c.scram(ScramHash::kSha256, false) == "encryption-required");
    CHECK(c.host.lookups.empty());
    CHECK(c.host.failures.empty());
    CHECK(c.events_of(C2sEvent::Type::kAuthenticated).empty());
  }

  TEST_CASE("D32: plaintext injected after <starttls/> in the same segment has no effect") {
    Client c;
    REQUIRE(c.open());
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" +
           Client::plain_auth("", "juliet", "r0m30myr0m30") +
           "<message to='romeo@example.com'><body>injected</body></message>" + kOpen);
    REQUIRE(c.last()->is("proceed", "urn:ietf:params:xml:ns:xmpp-tls"));
    // More plaintext before the handshake completes is ignored as well.
    c.send(Client::plain_auth("", "juliet", "r0m30myr0m30"));
    c.handshake();
    const Element* f = c.open();
    REQUIRE(f != nullptr);  // a fresh, TLS-level stream: the features, not an auth result
    CHECK(f->child("mechanisms", kSaslNs) != nullptr);
    CHECK(c.host.lookups.empty());
    CHECK(c.host.successes.empty());
    CHECK(c.events_of(C2sEvent::Type::kAuthenticated).empty());
    CHECK(c.events_of(C2sEvent::Type::kStanza).empty());
    CHECK_FALSE(c.stream().authenticated());
    CHECK(c.wire.find("injected") == std::string::npos);
  }

  TEST_CASE("D33: second <starttls/> after TLS, or when not offered -> <failure/> + close") {
    Secured c;
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    REQUIRE(c.last() != nullptr);
    CHECK(c.last()->is("failure", "urn:ietf:params:xml:ns:xmpp-tls"));
    CHECK(c.server_closed_stream());
    CHECK(c.closed.has_value());
    CHECK(c.events_of(C2sEvent::Type::kStartTls).size() == 1);

    C2sConfig config = test_config();
    config.tls_available = false;
    config.tls_required = false;
    Client plain(config);
    REQUIRE(plain.open());
    plain.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    CHECK(plain.last()->is("failure", "urn:ietf:params:xml:ns:xmpp-tls"));
    CHECK(plain.events_of(C2sEvent::Type::kStartTls).empty());
    CHECK(plain.closed.has_value());

    Session s;
    s.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    CHECK(s.last()->is("failure", "urn:ietf:params:xml:ns:xmpp-tls"));
    CHECK(s.events_of(C2sEvent::Type::kStartTls).size() == 1);
    CHECK(s.closed.has_value());
  }

  TEST_CASE("D34: compression before TLS is refused and never advertised") {
    Client c;
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    CHECK(f->child("compression", "http://jabber.org/features/compress") == nullptr);
    c.send(
        "<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method>"
        "</compress>");
    CHECK(c.stream_error() == "not-authorized");
  }

  // ------------------------------------------------------------------ E

  TEST_CASE("E37: wrong password and unknown user fail identically") {
    Secured c;
    c.wire.clear();
    CHECK(c.plain("juliet", "wrong") == "not-authorized");
    const std::string wrong_password = c.wire;
    c.wire.clear();
    CHECK(c.plain("nobody", "wrong") == "not-authorized");
    CHECK(c.wire == wrong_password);
    CHECK(c.host.failures == Strings{"PLAIN", "PLAIN"});
    CHECK(c.stream().state() == C2sState::kNegotiating);
  }

  TEST_CASE("E37: SCRAM for an unknown user shows a salt and count like a real one") {
    Secured c;
    auto challenge_for = [&](const char* user) {
      c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" +
             b64(std::string("n,,n=") + user + ",r=abcdefgh") + "</auth>");
      auto first = base64_decode(c.last()->text());
      REQUIRE(first.has_value());
      c.send("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
      // r=<nonce>,s=<salt>,i=<count>: compare everything after the nonce's length.
      std::string s = *first;
      return s.substr(s.find(",s="));
    };
    const std::string real = challenge_for("juliet");
    const std::string fake = challenge_for("nobody");
    CHECK(real.size() == fake.size());
    CHECK(real.substr(real.find(",i=")) == fake.substr(fake.find(",i=")));
    CHECK(c.scram(ScramHash::kSha256, true, "anything", "nobody") == "not-authorized");
  }

  TEST_CASE("E37: the third failure closes the stream with not-authorized") {
    Secured c;
    CHECK(c.plain("juliet", "a") == "not-authorized");
    CHECK(c.scram(ScramHash::kSha1, false, "b") == "not-authorized");
    CHECK(c.stream_error().empty());
    CHECK(c.plain("juliet", "c") == "not-authorized");
    CHECK(c.stream_error() == "not-authorized");
    CHECK(c.server_closed_stream());
    CHECK(c.closed_error == StreamCondition::kNotAuthorized);
    CHECK(c.host.failures.size() == 3);
  }

  TEST_CASE("E37: the per-address throttle answers temporary-auth-failure, checks nothing") {
    Secured c;
    c.host.allow_auth = false;
    CHECK(c.plain() == "temporary-auth-failure");
    CHECK(c.host.lookups.empty());
    CHECK(c.host.failures.empty());
    c.host.allow_auth = true;
    CHECK(c.plain() == "success");
  }

  TEST_CASE("E38: authzid other than the authcid -> invalid-authzid, no session") {
    Secured c;
    CHECK(c.plain("juliet", "r0m30myr0m30", "romeo@example.com") == "invalid-authzid");
    ScramClientConfig cc;
    cc.hash = ScramHash::kSha256;
    cc.username = "juliet";
    cc.password = "r0m30myr0m30";
    cc.authzid = "romeo@example.com";
    cc.client_nonce = "abcdefgh";
    ScramClient client(cc);
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
           b64(client.client_first().value()) + "</auth>");
    CHECK(Client::failure_name(*c.last()) == "invalid-authzid");
    CHECK(c.events_of(C2sEvent::Type::kAuthenticated).empty());
    CHECK(c.host.successes.empty());
    // The authzid naming oneself is fine.
    CHECK(c.plain("juliet", "r0m30myr0m30", "juliet@example.com") == "success");
  }

  TEST_CASE("E39: malformed SCRAM, and the next <auth/> starts clean") {
    struct Case {
      const char* mechanism;
      std::string payload;  // already base64 unless raw
      const char* expect;
    };
    const std::vector<Case> cases = {
        {"SCRAM-SHA-1", b64("x,,n=juliet,r=abc"), "malformed-request"},
        {"SCRAM-SHA-1", b64("n,,n=jul=2Xiet,r=abc"), "malformed-request"},
        {"SCRAM-SHA-1", "not base64!", "incorrect-encoding"},
        {"SCRAM-SHA-1", b64("y,,n=juliet,r=abc"), "not-authorized"},  // downgrade
        {"SCRAM-SHA-1-PLUS", b64("p=tls-unique,,n=juliet,r=abc"), "malformed-request"},
        {"SCRAM-SHA-1-PLUS", b64("p=foo,,n=juliet,r=abc"), "malformed-request"},
        {"SCRAM-MD5", b64("n,,n=juliet,r=abc"), "invalid-mechanism"},
        {"PLAIN", b64("no nul"), "malformed-request"},
    };
    for (const Case& k : cases) {
      CAPTURE(k.payload);
      Secured c;
      c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" +
             std::string(k.mechanism) + "'>" + k.payload + "</auth>");
      CHECK(Client::failure_name(*c.last()) == k.expect);
      CHECK(c.scram(ScramHash::kSha256, true) == "success");
    }
  }

  TEST_CASE("E39: client-final problems: nonce, channel binding") {
    // A nonce that does not extend ours.
    {
      Secured c;
      c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" +
             b64("n,,n=juliet,r=abcdefgh") + "</auth>");
      REQUIRE(c.last()->is("challenge", kSaslNs));
      c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
             b64("c=biws,r=abcdefghXXXX,p=" + b64(std::string(20, 'p'))) + "</response>");
      CHECK(Client::failure_name(*c.last()) == "not-authorized");
      CHECK(c.scram(ScramHash::kSha1, false) == "success");
    }
    // Wrong channel-binding data (a man in the middle has another channel).
    {
      Secured c;
      CHECK(c.scram(ScramHash::kSha256, true, "r0m30myr0m30", "juliet", "tls-exporter",
                    std::string(32, '\x99')) == "not-authorized");
      CHECK(c.scram(ScramHash::kSha256, true, "r0m30myr0m30", "juliet", "tls-server-end-point",
                    kEndPoint) == "success");
    }
  }

  TEST_CASE("E40: out-of-order SASL elements") {
    Secured c;
    c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + b64("c=biws") + "</response>");
    CHECK(Client::failure_name(*c.last()) == "malformed-request");

    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" +
           b64("n,,n=juliet,r=abcdefgh") + "</auth>");
    REQUIRE(c.last()->is("challenge", kSaslNs));
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" +
           b64("n,,n=juliet,r=abcdefgh") + "</auth>");
    CHECK(Client::failure_name(*c.last()) == "malformed-request");
    CHECK(c.stream_error().empty());
    CHECK(c.scram(ScramHash::kSha1, false) == "success");
  }

  TEST_CASE("E40: <abort/> mid-exchange -> aborted, and a retry works") {
    Secured c;
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
           b64("n,,n=juliet,r=abcdefgh") + "</auth>");
    REQUIRE(c.last()->is("challenge", kSaslNs));
    for (int i = 0; i < 5; ++i) {  // aborts do not count toward the failure limit
      c.send("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
      CHECK(Client::failure_name(*c.last()) == "aborted");
    }
    CHECK(c.stream_error().empty());
    CHECK(c.scram(ScramHash::kSha256, true) == "success");
  }

  TEST_CASE("E40: <auth/> after success without a restart -> not-authorized") {
    Secured c;
    REQUIRE(c.plain() == "success");
    c.send(Client::plain_auth("", "juliet", "r0m30myr0m30"));
    CHECK(c.stream_error() == "not-authorized");
    CHECK(c.host.successes.size() == 1);

    // And after the restart.
    Secured r;
    REQUIRE(r.plain() == "success");
    REQUIRE(r.open());
    r.send(Client::plain_auth("", "juliet", "r0m30myr0m30"));
    CHECK(r.stream_error() == "not-authorized");
  }

  // ------------------------------------------------------------------ F

  TEST_CASE("F42: a spoofed 'from' is replaced with the full JID") {
    Session s;
    s.send("<message from='victim@example.com/x' to='bob@example.com'><body>hi</body></message>");
    REQUIRE(s.routed() == 1);
    CHECK(s.last_routed().attr_or("from") == "juliet@example.com/balcony");
    s.send("<presence from='example.com'/>");
    CHECK(s.last_routed().attr_or("from") == "juliet@example.com/balcony");
    s.send("<iq type='get' id='p' from='admin@example.com'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK(s.last_routed().attr_or("from") == "juliet@example.com/balcony");
    CHECK(s.routed() == 3);
  }

  TEST_CASE("F43: client-supplied stanza-ids naming us or our users are stripped") {
    Session s;
    s.send(
        "<message to='bob@example.com'>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.com' id='1'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='EXAMPLE.com' id='2'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com' id='3'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' id='4'/>"
        "<body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>");
    REQUIRE(s.routed() == 1);
    const Element& m = s.last_routed();
    CHECK(m.child("stanza-id", "urn:xmpp:sid:0") == nullptr);
    CHECK(m.child("origin-id", "urn:xmpp:sid:0") != nullptr);  // the client's own id stays
    CHECK(m.child("body", "jabber:client") != nullptr);

    s.send(
        "<message to='room@muc.elsewhere'>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.elsewhere' id='k'/>"
        "<stanza-id xmlns='urn:xmpp:sid:0' by='example.com' id='x'/></message>");
    const Element& kept = s.last_routed();
    REQUIRE(kept.child_element_count() == 1);
    CHECK(kept.child("stanza-id", "urn:xmpp:sid:0")->attr_or("by") == "room@muc.elsewhere");
  }

  TEST_CASE("F44: malformed 'to' -> jid-malformed (modify), stream kept") {
    const std::vector<std::string> bad = {
        "@example.com",
        "a@@example.com",
        "a@example.com/",
        "a@",
        "[::1",
        std::string(1024, 'l') + "@example.com",
        "a@example.com/" + std::string(1024, 'r'),
        "a&quot;&amp;&apos;b@example.com",
        "a:b@example.com",
        "a&lt;b@example.com",
        std::string(254, 'd') + ".com",
        "",
    };
    Session s;
    for (const std::string& to : bad) {
      CAPTURE(to);
      s.send("<message to='" + to + "' id='m'><body>x</body></message>");
      const Element* r = s.last();
      REQUIRE(r != nullptr);
      CHECK(r->attr_or("type") == "error");
      CHECK(Client::stanza_error(*r) == "jid-malformed");
      CHECK(r->child("error", "jabber:client")->attr_or("type") == "modify");
      CHECK(r->attr_or("to") == "juliet@example.com/balcony");
      CHECK(r->attr("from") == nullptr);                    // the bad address is not echoed
      CHECK(r->child("body", "jabber:client") == nullptr);  // nor the payload (XEP-0205)
    }
    CHECK(s.routed() == 0);
    s.send("<message to='romeo@example.com'><body>still here</body></message>");
    CHECK(s.routed() == 1);
    CHECK(s.stream_error().empty());
  }

  TEST_CASE("F44: 'to' is normalised once, and the cache never mixes addresses") {
    Session s;
    for (const char* to : {"Romeo@Example.COM/Phone", "Romeo@Example.COM/Phone",
                           "romeo@example.com/phone", "Romeo@Example.COM/Phone"}) {
      s.send("<message to='" + std::string(to) + "'/>");
    }
    auto routed = s.events_of(C2sEvent::Type::kStanza);
    REQUIRE(routed.size() == 4);
    CHECK(routed[0]->stanza->attr_or("to") == "romeo@example.com/Phone");
    CHECK(routed[1]->stanza->attr_or("to") == "romeo@example.com/Phone");
    CHECK(routed[2]->stanza->attr_or("to") == "romeo@example.com/phone");  // resources keep case
    CHECK(routed[3]->stanza->attr_or("to") == "romeo@example.com/Phone");
  }

  TEST_CASE("F46: failed binds are answered, one more than the limit is policy-violation") {
    Secured c;
    REQUIRE(c.plain() == "success");
    REQUIRE(c.open());
    c.host.bind_refusal = StanzaCondition::kConflict;
    for (uint32_t i = 0; i < c.config().max_bind_failures; ++i) {
      CHECK(c.bind("r") == "");
      CHECK(Client::stanza_error(*c.last()) == "conflict");
      // Only the session cap carries <resource-limit-exceeded/> (F47).
      CHECK(c.last()->child("error", "jabber:client")->child_element_count() == 1);
      CHECK(c.stream_error().empty());
    }
    c.bind("r");
    CHECK(c.stream_error() == "policy-violation");
    CHECK(c.events_of(C2sEvent::Type::kBound).empty());
  }

  TEST_CASE("F47: too many sessions -> resource-constraint (wait), stream kept") {
    Secured c;
    REQUIRE(c.plain() == "success");
    REQUIRE(c.open());
    c.host.bind_refusal = StanzaCondition::kResourceConstraint;
    c.wire.clear();
    CHECK(c.bind("r") == "");
    CHECK(Client::stanza_error(*c.last()) == "resource-constraint");
    CHECK(c.last()->child("error", "jabber:client")->attr_or("type") == "wait");
    // XEP-0205: the application condition says it is the session cap.
    CHECK(c.wire ==
          "<iq id='b1' type='error'><error type='wait'><resource-constraint "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><resource-limit-exceeded "
          "xmlns='urn:xmpp:errors'/></error></iq>");
    CHECK(c.stream_error().empty());
    c.host.bind_refusal.reset();
    CHECK(c.bind("r") == "juliet@example.com/r");
  }

  TEST_CASE("F46: a malformed bind request is bad-request and counts as a failure") {
    Secured c;
    REQUIRE(c.plain() == "success");
    REQUIRE(c.open());
    c.send("<iq type='get' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    CHECK(Client::stanza_error(*c.last()) == "bad-request");
    c.send("<iq type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    CHECK(Client::stanza_error(*c.last()) == "bad-request");
    CHECK(c.host.bind_requests.empty());
    CHECK(c.bind("r") == "juliet@example.com/r");
  }

  TEST_CASE("a second bind on a bound stream is not-allowed, stream kept") {
    Session s;
    s.send(
        "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        "<resource>other</resource></bind></iq>");
    CHECK(Client::stanza_error(*s.last()) == "not-allowed");
    CHECK(s.stream().bound_jid().str() == "juliet@example.com/balcony");
    CHECK(s.host.bind_requests.size() == 1);
  }

  // ------------------------------------------------------------------ G

  TEST_CASE("G49: iq shape -> bad-request") {
    const std::vector<std::string> bad = {
        "<iq type='get' id='1'/>",
        "<iq type='set' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
        "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='get' id=''><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='fetch' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq type='result' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
    };
    Session s;
    for (const std::string& iq : bad) {
      CAPTURE(iq);
      s.send(iq);
      const Element* r = s.last();
      REQUIRE(r != nullptr);
      CHECK(Client::stanza_error(*r) == "bad-request");
    }
    CHECK(s.routed() == 0);
    CHECK(s.stream_error().empty());
    // Well-formed ones go through, unsolicited results included (the router drops them).
    s.send(
        "<iq type='get' id='2' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>"
        "<iq type='result' id='3'/>");
    CHECK(s.routed() == 2);
  }

  TEST_CASE("G50: error stanzas are never answered with errors") {
    Session s;
    s.wire.clear();
    s.send(
        "<message type='error' to='@@bad'><body>x</body></message>"
        "<iq type='error' to='[::1'/><iq type='error' id='e'/>");
    CHECK(s.wire.empty());
    CHECK(s.routed() == 1);  // the well-formed error iq is routed; the router decides
    CHECK(s.stream_error().empty());
  }

  TEST_CASE("H52: <r/> without enabled stream management is a stream error") {
    Session s;
    s.send("<r xmlns='urn:xmpp:sm:3'/>");
    CHECK(s.stream_error() == "unsupported-stanza-type");
    CHECK(s.routed() == 0);
  }
}

}  // namespace
}  // namespace xd::protocol::test
