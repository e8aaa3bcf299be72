// The XML message form (protocol/e2e/encrypted_element.h, spec/e2e.md §8):
// round trips through the serializer and parser, and every rejection.
#include "protocol/e2e/encrypted_element.h"

#include <doctest/doctest.h>

#include <memory>

#include "protocol/sasl/base64.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

namespace xd::protocol::e2e {
namespace {

EncryptedMessage sample() {
  EncryptedMessage m;
  m.sid = 12345;
  m.keys.push_back({2147483647, std::string(162, '\x01')});
  m.keys.push_back({1, std::string("\x00\xff\x10", 3)});
  for (std::size_t i = 0; i < m.iv.size(); ++i) m.iv[i] = static_cast<std::uint8_t>(i);
  m.payload = std::string(40, 'p');
  return m;
}

std::unique_ptr<Element> parse(const std::string& xml) {
  std::unique_ptr<Element> e = parse_fragment(xml);
  REQUIRE(e != nullptr);
  return e;
}

EncryptedError parse_xml(const std::string& inner, EncryptedMessage& out) {
  return parse_encrypted(
      *parse("<message xmlns='jabber:client'><encrypted xmlns='urn:xmppd:e2e:1'>" + inner +
             "</encrypted></message>"),
      out);
}

const std::string kIv = base64_encode(std::string(24, 'i'));
const std::string kPayload = base64_encode(std::string(16, 'p'));
const std::string kKey = base64_encode(std::string(50, 'k'));

std::string inner(std::string_view header_attrs, std::string_view keys, std::string_view iv = kIv,
                  std::string_view payload = kPayload) {
  return "<header " + std::string(header_attrs) + ">" + std::string(keys) + "<iv>" +
         std::string(iv) + "</iv></header><payload>" + std::string(payload) + "</payload>";
}

TEST_SUITE("e2e.encrypted_element") {
  TEST_CASE("build, serialize, parse back") {
    Element message("jabber:client", "message");
    message.set_attr("type", "chat");
    add_encrypted(message, sample());
    std::string xml;
    REQUIRE(serialize(message, xml, "jabber:client"));
    CHECK(
        xml.find("<encrypted xmlns='urn:xmppd:e2e:1'><header sid='12345'><key rid='2147483647'>") !=
        std::string::npos);
    const std::unique_ptr<Element> back = parse(xml);
    EncryptedMessage m;
    REQUIRE(parse_encrypted(*back, m) == EncryptedError::kOk);
    const EncryptedMessage want = sample();
    CHECK(m.sid == want.sid);
    REQUIRE(m.keys.size() == 2);
    CHECK(m.keys[0].rid == want.keys[0].rid);
    CHECK(m.keys[0].envelope == want.keys[0].envelope);
    CHECK(m.keys[1].envelope == want.keys[1].envelope);
    CHECK(m.iv == want.iv);
    CHECK(m.payload == want.payload);
  }

  TEST_CASE("surrounding whitespace is tolerated, unknown children ignored") {
    EncryptedMessage m;
    CHECK(parse_xml(inner("sid='7'", "\n <key rid='3'> " + kKey + "\n</key><extra/>\n"), m) ==
          EncryptedError::kOk);
    CHECK(m.sid == 7);
    REQUIRE(m.keys.size() == 1);
    CHECK(m.keys[0].rid == 3);
    CHECK(m.keys[0].envelope == std::string(50, 'k'));
  }

  TEST_CASE("missing and malformed") {
    EncryptedMessage m;
    CHECK(parse_encrypted(*parse("<message xmlns='jabber:client'><body>x</body></message>"), m) ==
          EncryptedError::kMissing);
    CHECK(parse_encrypted(*parse("<message xmlns='jabber:client'><encrypted xmlns='urn:other'/>"
                                 "</message>"),
                          m) == EncryptedError::kMissing);
    const std::string key = "<key rid='3'>" + kKey + "</key>";
    CHECK(parse_xml("", m) == EncryptedError::kMalformed);
    CHECK(parse_xml(inner("", key), m) == EncryptedError::kMalformed);  // no sid
    for (const char* sid : {"0", "01", "-1", "+1", "2147483648", "99999999999", "1a", ""}) {
      CAPTURE(sid);
      CHECK(parse_xml(inner("sid='" + std::string(sid) + "'", key), m) ==
            EncryptedError::kMalformed);
      CHECK(parse_xml(inner("sid='1'", "<key rid='" + std::string(sid) + "'>" + kKey + "</key>"),
                      m) == EncryptedError::kMalformed);
    }
    CHECK(parse_xml(inner("sid='1'", ""), m) == EncryptedError::kMalformed);  // no key
    CHECK(parse_xml(inner("sid='1'", "<key rid='3'/>"), m) == EncryptedError::kMalformed);
    CHECK(parse_xml(inner("sid='1'", "<key rid='3'>Zg</key>"), m) == EncryptedError::kMalformed);
    CHECK(parse_xml(inner("sid='1'", "<key rid='3'>Zm 9v</key>"), m) == EncryptedError::kMalformed);
    CHECK(parse_xml(inner("sid='1'", key, base64_encode(std::string(23, 'i'))), m) ==
          EncryptedError::kMalformed);
    CHECK(parse_xml(inner("sid='1'", key, base64_encode(std::string(25, 'i'))), m) ==
          EncryptedError::kMalformed);
    CHECK(parse_xml(inner("sid='1'", key + "<iv>" + kIv + "</iv>"), m) ==
          EncryptedError::kMalformed);  // two ivs
    CHECK(parse_xml(inner("sid='1'", key, kIv, base64_encode(std::string(15, 'p'))), m) ==
          EncryptedError::kMalformed);
    CHECK(parse_xml("<header sid='1'>" + key + "<iv>" + kIv + "</iv></header>", m) ==
          EncryptedError::kMalformed);  // no payload
  }

  TEST_CASE("bounds: 64 keys, envelopes of kMaxEnvelopeSize, 64 KiB + 16 payload") {
    EncryptedMessage m;
    std::string keys;
    for (int i = 1; i <= 64; ++i) keys += "<key rid='" + std::to_string(i) + "'>" + kKey + "</key>";
    CHECK(parse_xml(inner("sid='1'", keys), m) == EncryptedError::kOk);
    CHECK(m.keys.size() == 64);
    CHECK(parse_xml(inner("sid='1'", keys + "<key rid='65'>" + kKey + "</key>"), m) ==
          EncryptedError::kTooLarge);
    const std::string big = "<key rid='1'>" + base64_encode(std::string(kMaxEnvelopeSize, 'e')) + "</key>";
    CHECK(parse_xml(inner("sid='1'", big), m) == EncryptedError::kOk);
    const std::string bigger = "<key rid='1'>" + base64_encode(std::string(kMaxEnvelopeSize + 1, 'e')) + "</key>";
    CHECK(parse_xml(inner("sid='1'", bigger), m) == EncryptedError::kTooLarge);
    const std::string key = "<key rid='3'>" + kKey + "</key>";
    CHECK(parse_xml(inner("sid='1'", key, kIv, base64_encode(std::string(65536 + 16, 'p'))), m) ==
          EncryptedError::kOk);
    CHECK(parse_xml(inner("sid='1'", key, kIv, base64_encode(std::string(65536 + 17, 'p'))), m) ==
          EncryptedError::kTooLarge);
  }

  TEST_CASE("retry receipt") {
    Element message("jabber:client", "message");
    add_retry(message, "origin-1", 987);
    std::string xml;
    REQUIRE(serialize(message, xml, "jabber:client"));
    CHECK(xml.find("<retry xmlns='urn:xmppd:e2e:1' id='origin-1' sid='987'/>") !=
          std::string::npos);
    std::string id;
    std::uint32_t sid = 0;
    REQUIRE(parse_retry(*parse(xml), id, sid));
    CHECK(id == "origin-1");
    CHECK(sid == 987);
    CHECK_FALSE(parse_retry(*parse("<message xmlns='jabber:client'/>"), id, sid));
    CHECK_FALSE(parse_retry(
        *parse("<message xmlns='jabber:client'><retry xmlns='urn:xmppd:e2e:1' sid='1'/></message>"),
        id, sid));
    CHECK_FALSE(parse_retry(*parse("<message xmlns='jabber:client'><retry xmlns='urn:xmppd:e2e:1' "
                                   "id='x' sid='0'/></message>"),
                            id, sid));
  }

  TEST_CASE("error names") {
    CHECK(encrypted_error_name(EncryptedError::kTooLarge) == "too-large");
    CHECK(encrypted_error_name(EncryptedError::kMissing) == "missing");
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
