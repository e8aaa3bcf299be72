// The compact element codec (spec/compact.md §5): value encodings byte for
// byte, the XML -> compact -> XML round trip, and every decoding rule of
// §5.9 and §10 with its stream condition.
#include "protocol/compact/compact_codec.h"

#include <doctest/doctest.h>

#include <string>

#include "protocol/compact/dictionary.h"
#include "protocol/compact/wire.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

using namespace xd::protocol;
using namespace xd::protocol::compact;

namespace {

std::string hex(std::string_view s) {
  static constexpr char d[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

std::string value(std::string_view s, std::string_view domain = {}) {
  std::string out;
  encode_value(s, out, CodecContext{domain});
  return hex(out);
}

// Encodes |xml| and decodes it again; returns the XML of the result.
std::string round_trip(std::string_view xml, std::string_view domain = "example.com") {
  auto e = parse_fragment(xml);
  REQUIRE(e);
  std::string body;
  REQUIRE(encode_element(*e, body, CodecContext{domain}));
  DecodeError err;
  DecodeLimits limits;
  limits.max_decoded_bytes = 1 << 20;
  limits.max_elements = 4096;
  auto back = decode_element(body, CodecContext{domain}, limits, err);
  REQUIRE_MESSAGE(back, err.detail);
  CHECK(back->equals(*e));
  return to_xml(*back, "jabber:client");
}

StreamCondition decode_error(std::string_view body, DecodeLimits limits = {},
                             std::string_view domain = "example.com") {
  DecodeError err;
  auto e = decode_element(body, CodecContext{domain}, limits, err);
  CHECK_MESSAGE(!e, "decoded although malformed");
  return err.condition;
}

// Whether decoding |body| failed on the decoded-size limit (DecodeError::too_big).
bool decode_too_big(std::string_view body, DecodeLimits limits) {
  DecodeError err;
  auto e = decode_element(body, CodecContext{"example.com"}, limits, err);
  CHECK_MESSAGE(!e, "decoded although malformed");
  return err.too_big;
}

}  // namespace

TEST_CASE("compact dictionary: version 1, tokens found both ways") {
  CHECK(dictionary_version() == 1);
  CHECK(token_count() >= 235);
  std::string_view t;
  REQUIRE(token(1, t));
  CHECK(t == "jabber:client");
  CHECK(find_token("message") == 2);
  CHECK(find_token("not a token") == 0);
  CHECK_FALSE(token(0, t));
  CHECK_FALSE(token(token_count() + 1, t));
  for (uint16_t i = 1; i <= token_count(); ++i) {
    REQUIRE(token(i, t));
    CHECK(find_token(t) == i);
  }
}

TEST_CASE("compact values: each type byte, canonical choice (spec §5.4-§5.10)") {
  CHECK(value("") == "00");
  CHECK(value("message") == "02");
  CHECK(value(token_count() > 235 ? "namespace" : "message").size() >= 2);
  CHECK(value("hello") == "f0 05 68 65 6c 6c 6f");
  // Digits and timestamps pack into nibbles; ties go to raw.
  CHECK(value("12345") == "ee 05 12 34 50");
  CHECK(value("7") == "f0 01 37");
  CHECK(value("2026-11-28T06:15:34Z") == "ee 14 20 26 a1 1a 28 d0 6c 15 c3 4e");
  CHECK(value("deadbeef") == "ef 08 de ad be ef");
  CHECK(value("DEADBEEF") == "f3 08 de ad be ef");
  CHECK(value("5c0b0e1a-3f7e-4d7e-9a2b-0e6f6c7d8e9f") ==
        "f4 5c 0b 0e 1a 3f 7e 4d 7e 9a 2b 0e 6f 6c 7d 8e 9f");
  // Canonical base64 travels as bytes; a non-canonical spelling stays raw.
  CHECK(value("AAECAwQFBgc=") == "f1 08 00 01 02 03 04 05 06 07");
  CHECK(value("AAECAwQFBgd=").substr(0, 2) == "f0");
  // JIDs: the stream's domain is one flag.
  CHECK(value("alice@example.com/phone", "example.com") == "ed 07 f0 05 61 6c 69 63 65 d4");
  // A foreign domain: the JID form is longer than raw, so raw it is.
  CHECK(value("alice@example.com", "example.org").substr(0, 5) == "f0 11");
  CHECK(value("alice@example.com/phone", "example.org").substr(0, 5) == "ed 03");
  CHECK(value("and/or") == "f0 06 61 6e 64 2f 6f 72");
}

TEST_CASE("compact values: hex ties resolve to nibbles, lowercase otherwise") {
  CHECK(value("0123") == "ee 04 01 23");
  CHECK(value("abc123") == "ef 06 ab c1 23");
}

TEST_CASE("compact round trip: stanzas the server routes come back equal") {
  round_trip(
      "<message to='bob@example.com/phone' type='chat' id='8f3a9c1e'>"
      "<body>See you at 7? &lt;b&gt; &amp; 'quotes'</body>"
      "<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>"
      "<origin-id xmlns='urn:xmpp:sid:0' id='5c0b0e1a-3f7e-4d7e-9a2b-0e6f6c7d8e9f'/>"
      "</message>");
  round_trip(
      "<presence xml:lang='de'><show>away</show><status>Bin weg ☕ 🍰</status>"
      "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://x' "
      "ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>");
  round_trip(
      "<iq type='result' id='r1'><query xmlns='jabber:iq:roster'>"
      "<item jid='carol@example.org' subscription='both' name='Carol'>"
      "<group>Friends</group></item></query></iq>");
  // Mixed content, namespaced attributes, an unknown namespace, many attributes.
  round_trip(
      "<message><x xmlns='urn:example:x' xmlns:p='urn:example:p' p:a='1' b='2'>"
      "one<y/>two<z>three</z> four </x></message>");
  std::string many = "<message";
  for (int i = 0; i < 20; ++i) many += " a" + std::to_string(i) + "='v" + std::to_string(i) + "'";
  many += "/>";
  round_trip(many);
  // Text that looks like markup is text; the XML side escapes it.
  CHECK(round_trip("<message><body>&lt;/body&gt;&lt;message to='x'&gt;</body></message>")
            .find("&lt;/body&gt;") != std::string::npos);
}

TEST_CASE("compact decode: structural violations are bad-format (spec §10)") {
  // A message element with one attribute whose value is cut off.
  CHECK(decode_error(bytes({0x01, 0x02, 0x05})) == StreamCondition::kBadFormat);
  // Reserved header bits.
  CHECK(decode_error(bytes({0x40, 0x02})) == StreamCondition::kBadFormat);
  // Token index out of range (secondary page past the end).
  CHECK(decode_error(bytes({0x00, 0xEC, 0xFF})) == StreamCondition::kBadFormat);
  // Reserved type byte as a name.
  CHECK(decode_error(bytes({0x00, 0xF7})) == StreamCondition::kBadFormat);
  // Trailing bytes after the element.
  CHECK(decode_error(bytes({0x00, 0x02, 0x00})) == StreamCondition::kBadFormat);
  // A raw string longer than what is left.
  CHECK(decode_error(bytes({0x00, 0xF0, 0x7F, 0x61})) == StreamCondition::kBadFormat);
  // Varint with 6 bytes, and a non-minimal one.
  CHECK(decode_error(bytes({0x00, 0xF0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})) ==
        StreamCondition::kBadFormat);
  CHECK(decode_error(bytes({0x00, 0xF0, 0x81, 0x00, 0x61})) == StreamCondition::kBadFormat);
  // Children: count larger than the bytes left; empty text; adjacent text.
  CHECK(decode_error(bytes({0x20, 0x02, 0x09})) == StreamCondition::kBadFormat);
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0x00})) == StreamCondition::kBadFormat);
  CHECK(decode_error(bytes({0x20, 0x02, 0x02, 0x0A, 0x0B})) == StreamCondition::kBadFormat);
  // Odd nibble count with non-zero padding.
  CHECK(decode_error(bytes({0x01, 0x02, 0x05, 0xEE, 0x01, 0x11})) == StreamCondition::kBadFormat);
  // A JID inside a JID; the stream-domain flag without a stream domain.
  CHECK(decode_error(bytes({0x01, 0x02, 0x05, 0xED, 0x00, 0xED, 0x00, 0x0A})) ==
        StreamCondition::kBadFormat);
  CHECK(decode_error(bytes({0x01, 0x02, 0x05, 0xED, 0x04}), {}, "") == StreamCondition::kBadFormat);
  // Duplicate attribute; xmlns smuggled as an attribute.
  CHECK(decode_error(bytes({0x02, 0x02, 0x05, 0x0A, 0x05, 0x0B})) == StreamCondition::kBadFormat);
  CHECK(decode_error(bytes({0x01, 0x02, 0xF0, 0x05, 'x', 'm', 'l', 'n', 's', 0x0A})) ==
        StreamCondition::kBadFormat);
}

TEST_CASE("compact decode: invalid strings and names are not-well-formed (catalogue J64)") {
  // Invalid UTF-8, NUL, a C0 control, U+FFFE.
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0xF0, 0x02, 0xC3, 0x28})) ==
        StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0xF0, 0x01, 0x00})) ==
        StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0xF0, 0x01, 0x01})) ==
        StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0xF0, 0x03, 0xEF, 0xBF, 0xBE})) ==
        StreamCondition::kNotWellFormed);
  // Surrogate and overlong encodings.
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0xF0, 0x03, 0xED, 0xA0, 0x80})) ==
        StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x20, 0x02, 0x01, 0xF0, 0x02, 0xC0, 0xBC})) ==
        StreamCondition::kNotWellFormed);
  // Element names: '<', a leading digit, ':' and a token that is a URI.
  CHECK(decode_error(bytes({0x00, 0xF0, 0x02, '<', 'a'})) == StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x00, 0xF0, 0x02, '1', 'a'})) == StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x00, 0xF0, 0x03, 'a', ':', 'b'})) == StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x00, 0x01})) == StreamCondition::kNotWellFormed);
  // A name spelled as a JID of tokens ("xml:lang"-free tokens, joined by
  // '@' and '/') is no NCName, although each part is one.
  CHECK(decode_error(bytes({0x00, 0xED, 0x03, 0x61, 0x3A, 0x62})) ==
        StreamCondition::kNotWellFormed);
  CHECK(decode_error(bytes({0x01, 0x02, 0xED, 0x03, 0x61, 0x3A, 0x62, 0x0A})) ==
        StreamCondition::kNotWellFormed);
}

TEST_CASE("compact decode: limits are policy-violation, checked before allocation") {
  DecodeLimits small;
  small.max_decoded_bytes = 64;
  // A raw string of 100 bytes claims more than the decoded limit.
  std::string body = bytes({0x20, 0x02, 0x01, 0xF0, 0x64});
  body.append(100, 'a');
  CHECK(decode_error(body, small) == StreamCondition::kPolicyViolation);
  // A size limit: the stream error will carry <stanza-too-big/> (XEP-0182).
  CHECK(decode_too_big(body, small));
  // Token expansion: 30 one-byte tokens of the longest token, between
  // empty child elements (adjacent text nodes are refused on their own).
  uint16_t longest = 1;
  std::string_view t, best;
  for (uint16_t i = 1; i <= kPrimaryTokens; ++i) {
    if (token(i, t) && t.size() > best.size()) {
      best = t;
      longest = i;
    }
  }
  std::string tokens = bytes({0x20, 0x02, 0x3C});
  for (int i = 0; i < 30; ++i) {
    tokens.push_back(static_cast<char>(longest));
    tokens += bytes({0xF2, 0x00, 0x09});
  }
  small.max_elements = 4096;
  CHECK(decode_error(tokens, small) == StreamCondition::kPolicyViolation);
  CHECK(decode_too_big(tokens, small));
  // Depth and element count.
  DecodeLimits shallow;
  shallow.max_depth = 3;
  std::string deep =
      bytes({0x20, 0x02, 0x01, 0xF2, 0x20, 0x09, 0x01, 0xF2, 0x20, 0x09, 0x01, 0xF2, 0x00, 0x09});
  CHECK(decode_error(deep, shallow) == StreamCondition::kPolicyViolation);
  DecodeLimits few;
  few.max_elements = 2;
  CHECK(decode_error(deep, few) == StreamCondition::kPolicyViolation);
  // Count limits are not size limits.
  CHECK_FALSE(decode_too_big(deep, shallow));
  CHECK_FALSE(decode_too_big(deep, few));
  DecodeLimits attrs;
  attrs.max_attributes = 2;
  CHECK(decode_error(bytes({0x03, 0x02, 0x05, 0x0A, 0x06, 0x0A, 0x07, 0x0A}), attrs) ==
        StreamCondition::kPolicyViolation);
  CHECK_FALSE(decode_too_big(bytes({0x03, 0x02, 0x05, 0x0A, 0x06, 0x0A, 0x07, 0x0A}), attrs));
}
