// The compact dialect inside a c2s stream (spec/compact.md §3): the
// <compact/> feature after TLS and SASL, the switch with frames pipelined
// behind the request, stanzas, stream management and errors as frames,
// refusals, the direct port with its preface and OPEN frames, and a
// resumption that changes the wire format.
#include <doctest/doctest.h>

#include <string>

#include "c2s_test_support.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/compact/wire.h"

namespace xd::protocol::test {
namespace {

using Type = C2sEvent::Type;

constexpr std::string_view kCompactNs = "urn:xmppd:compact:1";
constexpr std::string_view kRequest =
    "<compact xmlns='urn:xmppd:compact:1' dictionary='1' compression='zstd'/>";
constexpr std::string_view kBind =
    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq>";

// Authenticated over TLS, restarted, features received.
const Element* authenticate(Client& c) {
  c.secure();
  REQUIRE(c.scram(ScramHash::kSha256, true) == "success");
  return c.open();
}

std::string frames_of(std::string_view xml, bool compress = false) {
  std::vector<std::unique_ptr<Element>> parsed;
  REQUIRE(parse_fragments(xml, parsed));
  std::string out;
  for (const auto& e : parsed) {
    REQUIRE(compact::append_element_frame(*e, out, compact::CodecContext{"example.com"}, compress));
  }
  return out;
}

std::string open_frame() {
  Element header(kStreamNs, "stream");
  header.set_attr("to", "example.com");
  header.set_attr("version", "1.0");
  std::string out;
  compact::append_open_frame(header, out, compact::CodecContext{});
  return out;
}

// The frames a stream error ends a compact stream with (spec §3): the
// <stream:error/> element, with |app| as its application condition, then
// CLOSE.
std::string error_frames(StreamCondition condition, std::unique_ptr<Element> app = nullptr) {
  std::string out;
  REQUIRE(compact::append_element_frame(*make_stream_error(condition, {}, std::move(app)), out,
                                        compact::CodecContext{"example.com"}, false));
  compact::append_close_frame(out);
  return out;
}

std::unique_ptr<Element> too_big() {
  return std::make_unique<Element>(kXmppErrorsNs, "stanza-too-big");
}

std::string preface(uint8_t version = 1, uint8_t dictionary = 1, uint8_t flags = 1) {
  return std::string{'X', 'C', static_cast<char>(version), static_cast<char>(dictionary),
                     static_cast<char>(flags)};
}

const Element* find(const Client& c, std::string_view name, std::string_view ns) {
  for (auto it = c.elements.rbegin(); it != c.elements.rend(); ++it) {
    if ((*it)->is(name, ns)) return it->get();
  }
  return nullptr;
}

}  // namespace

TEST_SUITE("c2s_stream compact") {
  TEST_CASE("offered only after TLS and SASL, with the dictionary version and zstd") {
    Client c;
    const Element* before = c.secure();
    CHECK(before->child("compact", kCompactNs) == nullptr);
    REQUIRE(c.scram(ScramHash::kSha256, true) == "success");
    const Element* f = c.open();
    REQUIRE(f != nullptr);
    const Element* offer = f->child("compact", kCompactNs);
    REQUIRE(offer != nullptr);
    CHECK(offer->attr_or("dictionary") == "1");
    REQUIRE(offer->child("compression", kCompactNs) != nullptr);
    CHECK(offer->child("compression", kCompactNs)->text() == "zstd");

    // Never without TLS (catalogue J, ejabberd CVE-2014-8760).
    C2sConfig plain = test_config();
    plain.tls_available = false;
    plain.tls_required = false;
    Client p(plain);
    REQUIRE(p.open() != nullptr);
    REQUIRE(p.scram(ScramHash::kSha256, false) == "success");
    const Element* pf = p.open();
    REQUIRE(pf != nullptr);
    CHECK(pf->child("bind", "urn:ietf:params:xml:ns:xmpp-bind") != nullptr);
    CHECK(pf->child("compact", kCompactNs) == nullptr);
    p.send(kRequest);
    CHECK(Client::failure_name(*p.last()) == "unexpected-request");
    CHECK_FALSE(p.stream().compact());
  }

  TEST_CASE("negotiated: bind, stanzas both ways, SM and a clean close, all in frames") {
    Client c;
    REQUIRE(authenticate(c) != nullptr);
    c.send(kRequest);
    REQUIRE(c.last()->is("compacted", kCompactNs));
    CHECK(c.last()->attr_or("compression") == "zstd");
    CHECK(c.has_event(Type::kCompact));
    CHECK(c.stream().compact());
    CHECK(c.stream().compact_compression());
    REQUIRE(c.client_compact());
    const size_t wire_before = c.wire.size();
    c.send_xml(kBind);
    CHECK(c.wire.find("<iq", wire_before) == std::string::npos);  // a frame, not XML
    REQUIRE(c.last() != nullptr);
    CHECK(c.last()->attr_or("type") == "result");
    CHECK(c.stream().state() == C2sState::kBound);

    c.send_xml(
        "<message to='romeo@example.com' type='chat' id='m1'><body>Wherefore art thou, Romeo? "
        "Deny thy father and refuse thy name.</body><request "
        "xmlns='urn:xmpp:receipts'/></message>");
    auto routed = c.events_of(Type::kStanza);
    REQUIRE(routed.size() == 1);
    CHECK(routed[0]->stanza->attr_or("from") == "juliet@example.com/balcony");
    CHECK(routed[0]->stanza->child("body", "jabber:client")->text().size() > 40);

    auto in = parse_fragment(
        "<message from='romeo@example.com/garden' to='juliet@example.com/balcony' type='chat'>"
        "<body>It is the east, and Juliet is the sun.</body></message>");
    REQUIRE(in);
    CHECK(c.stream().send_stanza(*in));
    c.pump();
    REQUIRE(c.last() != nullptr);
    CHECK(c.last()->equals(*in));

    c.send_xml("<enable xmlns='urn:xmpp:sm:3'/>");
    CHECK(c.last()->is("enabled", "urn:xmpp:sm:3"));
    c.send_xml("<r xmlns='urn:xmpp:sm:3'/>");
    CHECK(c.has_event(Type::kSmRequest));
    c.stream().send_sm_ack(7);
    c.pump();
    CHECK(c.last()->is("a", "urn:xmpp:sm:3"));
    CHECK(c.last()->attr_or("h") == "7");

    std::string close;
    compact::append_close_frame(close);
    c.send(close);
    CHECK(c.server_closed_stream());
    REQUIRE(c.closed.has_value());
    CHECK(c.closed_clean);
  }

  TEST_CASE("negotiated: frames pipelined behind <compact/> in the same read") {
    Client c;
    REQUIRE(authenticate(c) != nullptr);
    c.send(std::string(kRequest) + frames_of(kBind));
    CHECK(c.stream().compact());
    CHECK(c.stream().state() == C2sState::kBound);
    CHECK(c.last()->attr_or("type") == "result");
  }

  TEST_CASE("negotiated without compression: compressed frames are bad-format") {
    Client c;
    REQUIRE(authenticate(c) != nullptr);
    c.send("<compact xmlns='urn:xmppd:compact:1' dictionary='1'/>");
    REQUIRE(c.last()->is("compacted", kCompactNs));
    CHECK(c.last()->attr("compression") == nullptr);
    CHECK_FALSE(c.stream().compact_compression());
    const std::string compressible = frames_of(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
            std::string(200, 'a') + "</resource></bind></iq>",
        true);
    const size_t flags_at = (static_cast<uint8_t>(compressible[0]) & 0x80) ? 2 : 1;
    REQUIRE((static_cast<uint8_t>(compressible[flags_at]) & compact::kFrameCompressed) != 0);
    c.send(compressible);
    CHECK(c.stream_error() == "bad-format");
    CHECK(c.server_closed_stream());
  }

  TEST_CASE("refusals keep the stream in XML") {
    Client c;
    REQUIRE(authenticate(c) != nullptr);
    c.send("<compact xmlns='urn:xmppd:compact:1' dictionary='9'/>");
    CHECK(Client::failure_name(*c.last()) == "unsupported-dictionary");
    c.send("<compact xmlns='urn:xmppd:compact:1' dictionary='1' compression='lz4'/>");
    CHECK(Client::failure_name(*c.last()) == "unsupported-compression");
    CHECK_FALSE(c.stream().compact());
    CHECK(c.bind() == "juliet@example.com/balcony");
    // After binding it is too late.
    c.send(kRequest);
    CHECK(Client::failure_name(*c.last()) == "unexpected-request");
    CHECK_FALSE(c.stream().compact());
    CHECK_FALSE(c.closed.has_value());

    C2sConfig no_zstd = test_config();
    no_zstd.compact_compression = false;
    Client z(no_zstd);
    const Element* f = authenticate(z);
    REQUIRE(f != nullptr);
    CHECK(f->child("compact", kCompactNs)->child("compression", kCompactNs) == nullptr);
    z.send(kRequest);
    CHECK(Client::failure_name(*z.last()) == "unsupported-compression");

    // Before authentication it is data before authentication (RFC 6120 §4.9.3.12).
    Client early;
    early.secure();
    early.send(kRequest);
    CHECK(early.stream_error() == "not-authorized");
  }

  TEST_CASE("a hostile frame: the stream error as a frame, then CLOSE") {
    Client c;
    REQUIRE(authenticate(c) != nullptr);
    c.send(kRequest);
    c.wire.clear();
    c.send(std::string("\xFF\xFF\xFF\xFF\x0F", 5));
    CHECK(c.stream_error() == "policy-violation");
    CHECK(c.server_closed_stream());
    CHECK(c.closed_error == StreamCondition::kPolicyViolation);
    // A size limit (catalogue C25): <stanza-too-big/> goes out in the frame.
    CHECK(c.wire == error_frames(StreamCondition::kPolicyViolation, too_big()));
    Client d;
    REQUIRE(authenticate(d) != nullptr);
    d.send(kRequest);
    d.send(frames_of(kBind));
    // A <message> whose name is a raw "<script" string.
    d.wire.clear();
    d.send(std::string("\x0B\x00\x00\xF0\x07<script", 12));
    CHECK(d.stream_error() == "not-well-formed");
    CHECK(d.wire == error_frames(StreamCondition::kNotWellFormed));
  }

  TEST_CASE("C25 in frames: an oversize frame, complete or never ending, is stanza-too-big") {
    // A message with a 300 KiB body, framed; built as a tree, since the
    // fragment parser refuses a stanza this large.
    auto frame = [](char fill) {
      Element message("jabber:client", "message");
      message.set_attr("to", "romeo@example.com");
      message.add_child("jabber:client", "body").add_text(std::string(300 * 1024, fill));
      std::string out;
      REQUIRE(
          compact::append_element_frame(message, out, compact::CodecContext{"example.com"}, false));
      return out;
    };
    // '~' is stored raw (F0): the frame length itself is over 256 KiB, so
    // the first bytes of it suffice (spec §10.2 F3). 'x...' is base64 (F1),
    // stored in 3/4 of the size: the frame fits and its decoded size does
    // not (§11.2).
    const std::string raw = frame('~');
    const std::string packed = frame('x');
    REQUIRE(raw.size() > 256 * 1024);
    REQUIRE(packed.size() < 256 * 1024);
    for (const std::string& sent : {raw, raw.substr(0, 4096), packed}) {
      CAPTURE(sent.size());
      Client c;
      REQUIRE(authenticate(c) != nullptr);
      c.send(kRequest);
      c.send_xml(kBind);
      REQUIRE(c.has_event(Type::kBound));
      c.wire.clear();
      c.send(sent);
      CHECK(c.wire == error_frames(StreamCondition::kPolicyViolation, too_big()));
      CHECK(c.events_of(Type::kStanza).empty());
      CHECK(c.closed_error == StreamCondition::kPolicyViolation);
    }
  }

  TEST_CASE("direct port: preface, OPEN, SASL, restart, bind, stanzas") {
    C2sConfig config = test_config();
    config.direct_tls = true;
    config.compact_direct = true;
    Client c(config);
    c.expect_compact_direct();
    c.handshake();
    // The preface may arrive a byte at a time.
    c.send(preface(), 1);
    CHECK(c.server_preface == preface());
    c.send(open_frame());
    REQUIRE(c.headers_seen() == 1);
    const Element* f = find(c, "features", kStreamNs);
    REQUIRE(f != nullptr);
    CHECK(f->child("starttls", "urn:ietf:params:xml:ns:xmpp-tls") == nullptr);
    CHECK(f->child("compact", kCompactNs) == nullptr);
    CHECK(f->child("mechanisms", kSaslNs) != nullptr);
    // XEP-0478 limits in frames too: the frame limit is the stanza limit.
    const Element* limits = f->child("limits", kStreamLimitsNs);
    REQUIRE(limits != nullptr);
    CHECK(limits->child("max-bytes", kStreamLimitsNs)->text() == "8192");
    c.send_xml("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
               b64(std::string("\0juliet\0r0m30myr0m30", 20)) + "</auth>");
    REQUIRE(c.last()->is("success", kSaslNs));
    c.send(open_frame());
    CHECK(c.headers_seen() == 2);
    f = find(c, "features", kStreamNs);
    REQUIRE(f->child("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
    REQUIRE(f->child("limits", kStreamLimitsNs) != nullptr);
    CHECK(f->child("limits", kStreamLimitsNs)->child("max-bytes", kStreamLimitsNs)->text() ==
          "262144");
    c.send_xml(kBind);
    CHECK(c.stream().state() == C2sState::kBound);
    c.send_xml("<message to='romeo@example.com' type='chat'><body>hi</body></message>");
    CHECK(c.events_of(Type::kStanza).size() == 1);
    // Never a byte of XML markup.
    for (const char* tag : {"<?xml", "<stream", "<success", "<iq", "<message", "</"}) {
      CHECK(c.wire.find(tag) == std::string::npos);
    }
  }

  TEST_CASE("direct port: a wrong preface, a version we do not speak, frames out of place") {
    C2sConfig config = test_config();
    config.direct_tls = true;
    config.compact_direct = true;
    {
      Client c(config);
      c.expect_compact_direct();
      c.handshake();
      c.send("<?xml version='1.0'?>");
      REQUIRE(c.closed.has_value());
      CHECK(c.wire.empty());
    }
    {
      Client c(config);
      c.expect_compact_direct();
      c.handshake();
      c.send(preface(1, 2));
      CHECK(c.server_preface == preface());
      REQUIRE(c.closed.has_value());
      CHECK(c.closed_error == StreamCondition::kUnsupportedVersion);
    }
    {
      Client c(config);
      c.expect_compact_direct();
      c.handshake();
      c.send(preface());
      c.send(frames_of("<message to='romeo@example.com'/>"));
      CHECK(c.stream_error() == "bad-format");
    }
    {
      Client c(config);
      c.expect_compact_direct();
      c.handshake();
      c.send(preface());
      c.send(open_frame());
      c.send(open_frame());
      CHECK(c.stream_error() == "bad-format");
    }
  }

  TEST_CASE("a batch of receipts reaches an XML client as standard messages (spec §9.2)") {
    Client c;
    REQUIRE(!c.login().empty());
    c.send("<enable xmlns='urn:xmpp:sm:3'/>");
    const std::string batch =
        "<message from='romeo@example.com/garden' to='juliet@example.com/balcony' type='chat'>"
        "<receipts xmlns='urn:xmppd:compact:1'><received id='m1'/><received id='m2'/>"
        "<displayed id='m2'/><bogus id='x'/></receipts></message>";
    const size_t before = c.elements.size();
    REQUIRE(c.stream().send_serialized(batch, 9));
    c.pump();
    REQUIRE(c.elements.size() == before + 3);
    CHECK(c.elements[before]->child("received", "urn:xmpp:receipts")->attr_or("id") == "m1");
    CHECK(c.elements[before + 1]->child("received", "urn:xmpp:receipts")->attr_or("id") == "m2");
    CHECK(c.elements[before + 2]->child("displayed", "urn:xmpp:chat-markers:0")->attr_or("id") ==
          "m2");
    for (size_t i = before; i < before + 3; ++i) {
      CHECK(c.elements[i]->attr_or("from") == "romeo@example.com/garden");
      CHECK(c.elements[i]->child("receipts", kCompactNs) == nullptr);
    }
    // Three stanzas for stream management; only the last carries the tag.
    const auto& unacked = c.stream().sm()->unacked();
    REQUIRE(unacked.size() == 3);
    CHECK(unacked[0].tag == 0);
    CHECK(unacked[1].tag == 0);
    CHECK(unacked[2].tag == 9);
    // A compact client gets the batch as it is.
    Client d;
    REQUIRE(authenticate(d) != nullptr);
    d.send(kRequest);
    d.send_xml(kBind);
    REQUIRE(d.stream().send_serialized(batch, 0));
    d.pump();
    CHECK(d.last()->child("receipts", kCompactNs) != nullptr);
  }

  TEST_CASE("a resumption in the other wire format translates what was unacknowledged") {
    Client c;
    REQUIRE(authenticate(c) != nullptr);
    C2sResumption r;
    REQUIRE(Jid::parse("juliet@example.com/balcony", r.full) == JidError::kOk);
    r.handled = 3;
    const std::string xml =
        "<message from='romeo@example.com/garden' to='juliet@example.com/balcony'>"
        "<body>held while away</body></message>";
    r.sm.record(42, xml, /*compact=*/false);
    c.host.resumable_id = "prev";
    c.host.resumption = std::move(r);
    c.send(kRequest);
    c.send_xml("<resume xmlns='urn:xmpp:sm:3' previd='prev' h='0'/>");
    REQUIRE(c.has_event(Type::kResumed));
    const Element* resumed = find(c, "resumed", "urn:xmpp:sm:3");
    REQUIRE(resumed != nullptr);
    CHECK(resumed->attr_or("h") == "3");
    REQUIRE(c.last() != nullptr);
    CHECK(c.last()->equals(*parse_fragment(xml)));
    REQUIRE(c.stream().sm() != nullptr);
    CHECK(c.stream().sm()->unacked().size() == 1);
  }
}

}  // namespace xd::protocol::test
