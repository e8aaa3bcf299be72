// The key directory's wire forms (protocol/e2e/key_directory.h,
// spec/e2e-keys.md §3-§6): round trips, the exact XML of the examples, and
// every malformed input each parser must refuse.
#include "protocol/e2e/key_directory.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/sasl/base64.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

namespace xd::protocol::e2e {

inline doctest::String toString(KeyDirError e) {
  std::string_view n = key_dir_error_name(e);
  return doctest::String(n.data(), static_cast<unsigned>(n.size()));
}

namespace {

// A deterministic RandomFn: the same keys every run (conventions.md §13).
RandomFn counter_random(std::uint8_t seed) {
  auto state = std::make_shared<std::uint32_t>(seed * 2654435761u + 1);
  return [state](std::uint8_t* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      *state = *state * 1664525u + 1013904223u;
      out[i] = static_cast<std::uint8_t>(*state >> 24);
    }
  };
}

DeviceKeys make_keys(std::uint32_t device, std::size_t prekeys, std::uint8_t seed = 1) {
  REQUIRE(init());
  RandomFn random = counter_random(seed);
  IdentityKeyPair identity = generate_identity(random);
  SignedPreKey spk = generate_signed_prekey(identity, 7, random);
  DeviceKeys k;
  k.device = device;
  k.identity_key = identity.public_key;
  k.signed_prekey_id = spk.id;
  k.signed_prekey = spk.pair.public_key;
  k.signed_prekey_signature = spk.signature;
  for (const OneTimePreKey& pk : generate_one_time_prekeys(1, prekeys, random)) {
    k.one_time_prekeys.emplace_back(pk.id, pk.pair.public_key);
  }
  return k;
}

PreKeyBundle bundle_of(const DeviceKeys& k, bool with_pk) {
  PreKeyBundle b;
  b.device = k.device;
  b.identity_key = k.identity_key;
  b.signed_prekey_id = k.signed_prekey_id;
  b.signed_prekey = k.signed_prekey;
  b.signed_prekey_signature = k.signed_prekey_signature;
  if (with_pk && !k.one_time_prekeys.empty()) {
    b.has_one_time_prekey = true;
    b.one_time_prekey_id = k.one_time_prekeys[0].first;
    b.one_time_prekey = k.one_time_prekeys[0].second;
  }
  return b;
}

template <std::size_t N>
std::string b64(const std::array<std::uint8_t, N>& a) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(a.data()), N));
}

// The publish of |k| as XML text; cases edit the text to break exactly one
// thing.
std::string publish_xml(const DeviceKeys& k) { return to_xml(*build_publish(k)); }

std::unique_ptr<Element> parse(const std::string& xml) {
  auto e = parse_fragment(xml);
  REQUIRE_MESSAGE(e != nullptr, xml);
  return e;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  s.replace(at, from.size(), to);
  return s;
}

KeyDirError parse_publish_xml(const std::string& xml, std::size_t max = kMaxPublishPreKeys) {
  DeviceKeys out;
  return parse_publish(*parse(xml), out, max);
}

TEST_SUITE("e2e.key_directory") {
  TEST_CASE("publish round trip keeps every field and the prekey order") {
    DeviceKeys k = make_keys(12345, 5);
    std::string xml = publish_xml(k);
    CHECK(xml.rfind("<bundle xmlns='urn:xmppd:e2e:1' device='12345'><identity>", 0) == 0);
    DeviceKeys out;
    REQUIRE(parse_publish(*parse(xml), out) == KeyDirError::kOk);
    CHECK(out.device == 12345);
    CHECK(out.identity_key == k.identity_key);
    CHECK(out.signed_prekey_id == 7);
    CHECK(out.signed_prekey == k.signed_prekey);
    CHECK(out.signed_prekey_signature == k.signed_prekey_signature);
    CHECK(out.one_time_prekeys == k.one_time_prekeys);
  }

  TEST_CASE("publish without <prekeys/> or with an empty one is fine") {
    DeviceKeys k = make_keys(1, 0);
    CHECK(parse_publish_xml(publish_xml(k)) == KeyDirError::kOk);
    std::string xml = replace(publish_xml(k), "<prekeys/>", "");
    DeviceKeys out;
    out.one_time_prekeys.emplace_back(9, Key32{});
    REQUIRE(parse_publish(*parse(xml), out) == KeyDirError::kOk);
    CHECK(out.one_time_prekeys.empty());
  }

  TEST_CASE("publish: device ids 1 and 2^31-1 are accepted, 0 and 2^31 are not") {
    DeviceKeys k = make_keys(1, 1);
    CHECK(parse_publish_xml(publish_xml(k)) == KeyDirError::kOk);
    k.device = kMaxDeviceId;
    CHECK(parse_publish_xml(publish_xml(k)) == KeyDirError::kOk);
    for (const char* bad :
         {"0", "2147483648", "4294967296", "-1", "+5", "05", "1 ", "", "x", "12345678901"}) {
      CAPTURE(bad);
      std::string xml =
          replace(publish_xml(k), "device='2147483647'", std::string("device='") + bad + "'");
      CHECK(parse_publish_xml(xml) == KeyDirError::kMalformed);
    }
    CHECK(parse_publish_xml(replace(publish_xml(k), " device='2147483647'", "")) ==
          KeyDirError::kMalformed);
  }

  TEST_CASE("publish: structure, lengths, base64 and ids are checked") {
    DeviceKeys k = make_keys(3, 2);
    const std::string good = publish_xml(k);
    const std::string id = b64(k.identity_key);
    const std::string spk = b64(k.signed_prekey);
    const std::string sig = b64(k.signed_prekey_signature);
    const std::string pk1 = b64(k.one_time_prekeys[0].second);
    // A 31-octet and a 33-octet key, and a 63-octet signature.
    const std::string short_key = base64_encode(std::string(31, 'a'));
    const std::string long_key = base64_encode(std::string(33, 'a'));
    const std::string short_sig = base64_encode(std::string(63, 'a'));
    // Same length as a key but not canonical base64 (non-zero pad bits).
    std::string noncanonical = id;
    noncanonical[42] = noncanonical[42] == 'B' ? 'C' : 'B';
    const std::pair<std::string, std::string> edits[] = {
        {"<identity>" + id, "<identity>" + short_key},
        {"<identity>" + id, "<identity>" + long_key},
        {"<identity>" + id, "<identity>" + noncanonical},
        {"<identity>" + id, "<identity> " + id},
        {"<identity>" + id + "</identity>", ""},
        {"<identity>", "<identity>" + id + "</identity><identity>"},
        {"signature='" + sig + "'", "signature='" + short_sig + "'"},
        {"signature='" + sig + "'", ""},
        {"'>" + spk, "'>" + short_key},
        {"id='7'", "id='0'"},
        {"id='7'", "id='4294967296'"},
        {"id='7'", ""},
        {"<pk id='1'>", "<pk id='0'>"},
        {"<pk id='1'>", "<pk id='2'>"},  // the same id twice in one publish
        {"<pk id='1'>", "<pk>"},
        {"<pk id='1'>" + pk1, "<pk id='1'>" + short_key},
        {"<pk id='1'>" + pk1, "<pk id='1'>"},
        {"<prekeys>", "<prekeys/><prekeys>"},
        {"<bundle xmlns='urn:xmppd:e2e:1'", "<bundle xmlns='urn:xmppd:e2e:0'"},
        {"<bundle xmlns='urn:xmppd:e2e:1'", "<bundl xmlns='urn:xmppd:e2e:1'"},
    };
    for (const auto& [from, to] : edits) {
      CAPTURE(from);
      CAPTURE(to);
      std::string xml = replace(good, from, to);
      if (to.rfind("<bundl ", 0) == 0) xml = replace(xml, "</bundle>", "</bundl>");
      CHECK(parse_publish_xml(xml) == KeyDirError::kMalformed);
    }
  }

  TEST_CASE("publish: children in other namespaces are ignored") {
    DeviceKeys k = make_keys(3, 1);
    std::string xml = replace(publish_xml(k), "<prekeys>", "<x xmlns='urn:other'/><prekeys>");
    xml = replace(xml, "<pk id='1'>", "<note xmlns='urn:other'>hi</note><pk id='1'>");
    CHECK(parse_publish_xml(xml) == KeyDirError::kOk);
  }

  TEST_CASE("publish: more one-time prekeys than the limit is kTooMany") {
    DeviceKeys k = make_keys(3, kMaxPublishPreKeys);
    CHECK(parse_publish_xml(publish_xml(k)) == KeyDirError::kOk);
    k = make_keys(3, kMaxPublishPreKeys + 1);
    CHECK(parse_publish_xml(publish_xml(k)) == KeyDirError::kTooMany);
    CHECK(parse_publish_xml(publish_xml(make_keys(3, 5)), 4) == KeyDirError::kTooMany);
    CHECK(parse_publish_xml(publish_xml(make_keys(3, 5)), 5) == KeyDirError::kOk);
  }

  TEST_CASE("publish: a signature that does not verify is kBadSignature") {
    DeviceKeys k = make_keys(3, 1);
    DeviceKeys flipped = k;
    flipped.signed_prekey_signature[10] ^= 1;
    CHECK(parse_publish_xml(publish_xml(flipped)) == KeyDirError::kBadSignature);
    // Another device's valid signature over the same prekey.
    DeviceKeys other = make_keys(4, 0, 9);
    DeviceKeys mixed = k;
    mixed.identity_key = other.identity_key;
    CHECK(parse_publish_xml(publish_xml(mixed)) == KeyDirError::kBadSignature);
    DeviceKeys zero = k;
    zero.identity_key = Key32{};
    CHECK(parse_publish_xml(publish_xml(zero)) == KeyDirError::kBadSignature);
    // Structure is checked before the signature.
    DeviceKeys both = flipped;
    both.device = 0;
    CHECK(parse_publish_xml(publish_xml(both)) == KeyDirError::kMalformed);
  }

  TEST_CASE("publish result") {
    CHECK(to_xml(*build_publish_result(12345, 0)) ==
          "<bundle xmlns='urn:xmppd:e2e:1' device='12345' prekeys='0'/>");
    std::uint32_t device = 0, prekeys = 9;
    REQUIRE(parse_publish_result(*build_publish_result(12345, 100), device, prekeys) ==
            KeyDirError::kOk);
    CHECK(device == 12345);
    CHECK(prekeys == 100);
    CHECK(parse_publish_result(*parse("<bundle xmlns='urn:xmppd:e2e:1' device='1'/>"), device,
                               prekeys) == KeyDirError::kMalformed);
    CHECK(parse_publish_result(*parse("<bundle xmlns='urn:xmppd:e2e:1' device='0' prekeys='1'/>"),
                               device, prekeys) == KeyDirError::kMalformed);
  }

  TEST_CASE("claim request") {
    CHECK(to_xml(*build_claim(std::nullopt)) == "<claim xmlns='urn:xmppd:e2e:1'/>");
    CHECK(to_xml(*build_claim(42)) == "<claim xmlns='urn:xmppd:e2e:1' device='42'/>");
    std::optional<std::uint32_t> device = 5;
    REQUIRE(parse_claim(*build_claim(std::nullopt), device) == KeyDirError::kOk);
    CHECK_FALSE(device.has_value());
    REQUIRE(parse_claim(*build_claim(42), device) == KeyDirError::kOk);
    CHECK(device == std::optional<std::uint32_t>(42));
    for (const char* bad : {"0", "", "2147483648", "a"}) {
      CAPTURE(bad);
      CHECK(
          parse_claim(*parse(std::string("<claim xmlns='urn:xmppd:e2e:1' device='") + bad + "'/>"),
                      device) == KeyDirError::kMalformed);
    }
    CHECK(parse_claim(*parse("<devices xmlns='urn:xmppd:e2e:1'/>"), device) ==
          KeyDirError::kMalformed);
  }

  TEST_CASE("claim result round trip, with and without a one-time prekey") {
    DeviceKeys a = make_keys(10, 3, 1);
    DeviceKeys b = make_keys(20, 0, 2);
    std::vector<PreKeyBundle> in = {bundle_of(a, true), bundle_of(b, true)};
    auto el = build_claim_result(in);
    std::string xml = to_xml(*el);
    CHECK(xml.find("<pk id='1'>" + b64(a.one_time_prekeys[0].second) + "</pk></bundle>") !=
          std::string::npos);
    std::vector<PreKeyBundle> out;
    REQUIRE(parse_claim_result(*parse(xml), out) == KeyDirError::kOk);
    REQUIRE(out.size() == 2);
    CHECK(out[0].device == 10);
    CHECK(out[0].has_one_time_prekey);
    CHECK(out[0].one_time_prekey_id == 1);
    CHECK(out[0].one_time_prekey == a.one_time_prekeys[0].second);
    CHECK(out[0].identity_key == a.identity_key);
    CHECK(out[0].signed_prekey_signature == a.signed_prekey_signature);
    CHECK(verify_bundle(out[0]));
    CHECK(out[1].device == 20);
    CHECK_FALSE(out[1].has_one_time_prekey);
    // An empty claim result is a valid answer (the user has no devices).
    REQUIRE(parse_claim_result(*build_claim_result({}), out) == KeyDirError::kOk);
    CHECK(out.empty());
  }

  TEST_CASE("claim result: malformed, repeated, oversized and badly signed results are refused") {
    DeviceKeys a = make_keys(10, 3, 1);
    std::vector<PreKeyBundle> out;
    const std::string good = to_xml(*build_claim_result({bundle_of(a, true)}));
    const std::string pk = "<pk id='1'>" + b64(a.one_time_prekeys[0].second) + "</pk>";
    const std::size_t first = good.find("<bundle");
    const std::string one_bundle = good.substr(first, good.find("</claim>") - first);
    for (const std::string& xml : {
             replace(good, pk, pk + pk),                          // two prekeys
             replace(good, "<pk id='1'>", "<pk id='0'>"),         // bad prekey id
             replace(good, "device='10'", "device='0'"),          // bad device
             replace(good, "<identity>", "<identity>AAAA"),       // wrong length
             replace(good, "</claim>", one_bundle + "</claim>"),  // a device twice
         }) {
      CAPTURE(xml);
      out.push_back(PreKeyBundle{});
      CHECK(parse_claim_result(*parse(xml), out) == KeyDirError::kMalformed);
      CHECK(out.empty());
    }
    PreKeyBundle bad = bundle_of(a, true);
    bad.signed_prekey_signature[0] ^= 0x80;
    out.push_back(PreKeyBundle{});
    CHECK(parse_claim_result(*build_claim_result({bundle_of(make_keys(11, 0, 3), false), bad}),
                             out) == KeyDirError::kBadSignature);
    CHECK(out.empty());
    std::vector<PreKeyBundle> many;
    for (std::uint32_t i = 1; i <= kMaxResultDevices + 1; ++i) {
      PreKeyBundle b = bundle_of(a, false);
      b.device = i;
      many.push_back(b);
    }
    CHECK(parse_claim_result(*build_claim_result(many), out) == KeyDirError::kTooMany);
    many.pop_back();
    CHECK(parse_claim_result(*build_claim_result(many), out) == KeyDirError::kOk);
    CHECK(out.size() == kMaxResultDevices);
  }

  TEST_CASE("devices result") {
    std::vector<DeviceEntry> in = {{12345, 3}, {7, std::nullopt}};
    CHECK(to_xml(*build_devices_result(in)) ==
          "<devices xmlns='urn:xmppd:e2e:1'><device id='12345' prekeys='3'/>"
          "<device id='7'/></devices>");
    CHECK(to_xml(*build_devices()) == "<devices xmlns='urn:xmppd:e2e:1'/>");
    std::vector<DeviceEntry> out;
    REQUIRE(parse_devices_result(*build_devices_result(in), out) == KeyDirError::kOk);
    REQUIRE(out.size() == 2);
    CHECK(out[0].device == 12345);
    CHECK(out[0].prekeys == std::optional<std::uint32_t>(3));
    CHECK(out[1].device == 7);
    CHECK_FALSE(out[1].prekeys.has_value());
    for (const char* bad : {"<device id='1'/><device id='1'/>", "<device id='0'/>",
                            "<device id='1' prekeys='-1'/>", "<device/>"}) {
      CAPTURE(bad);
      out.push_back({});
      CHECK(parse_devices_result(
                *parse(std::string("<devices xmlns='urn:xmppd:e2e:1'>") + bad + "</devices>"),
                out) == KeyDirError::kMalformed);
      CHECK(out.empty());
    }
    std::vector<DeviceEntry> many;
    for (std::uint32_t i = 1; i <= kMaxResultDevices + 1; ++i) many.push_back({i, 0});
    CHECK(parse_devices_result(*build_devices_result(many), out) == KeyDirError::kTooMany);
  }

  TEST_CASE("retract") {
    CHECK(to_xml(*build_retract(12345)) == "<retract xmlns='urn:xmppd:e2e:1' device='12345'/>");
    std::uint32_t device = 0;
    REQUIRE(parse_retract(*build_retract(12345), device) == KeyDirError::kOk);
    CHECK(device == 12345);
    CHECK(parse_retract(*parse("<retract xmlns='urn:xmppd:e2e:1'/>"), device) ==
          KeyDirError::kMalformed);
    CHECK(parse_retract(*parse("<retract xmlns='urn:xmppd:e2e:1' device='0'/>"), device) ==
          KeyDirError::kMalformed);
  }

  TEST_CASE("the examples of spec/e2e-keys.md §10 parse and verify") {
    REQUIRE(init());
    const std::string identity = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=";
    const std::string spk =
        "<signed-prekey id='1' signature='V58lE3ylQ0E7QRwZJ1Qz8roFNZf4M4YU+IvzUL/"
        "AmrGrhZAPc0hIXjwCw0cv/o3Rm/JmUcBb2evd+AQyjbPsBA=='>eaYx7t4b+cmPEgMs3q3Q56B5OY/"
        "HhriMyEbsia+FpRo=</signed-prekey>";
    const std::string pk1 = "<pk id='1'>nh9Sce9RWazEFQGeMuwE8yfZ2Fl5WoK8xA8N/9lWbms=</pk>";
    const std::string pk2 = "<pk id='2'>5CH32vrW7loLPmPHBvXNELXFjsGgYWK7zCm/qt5LLC4=</pk>";
    DeviceKeys keys;
    REQUIRE(parse_publish(*parse("<bundle xmlns='urn:xmppd:e2e:1' device='12345'>\n  <identity>" +
                                 identity + "</identity>\n  " + spk + "\n  <prekeys>\n    " + pk1 +
                                 "\n    " + pk2 + "\n  </prekeys>\n</bundle>"),
                          keys) == KeyDirError::kOk);
    CHECK(keys.device == 12345);
    CHECK(keys.one_time_prekeys.size() == 2);
    std::vector<PreKeyBundle> bundles;
    REQUIRE(parse_claim_result(*parse("<claim xmlns='urn:xmppd:e2e:1'><bundle device='12345'>"
                                      "<identity>" +
                                      identity + "</identity>" + spk + pk1 + "</bundle></claim>"),
                               bundles) == KeyDirError::kOk);
    REQUIRE(bundles.size() == 1);
    CHECK(bundles[0].one_time_prekey == keys.one_time_prekeys[0].second);
    std::vector<DeviceEntry> devices;
    REQUIRE(parse_devices_result(*parse("<devices xmlns='urn:xmppd:e2e:1'><device id='12345'/>"
                                        "</devices>"),
                                 devices) == KeyDirError::kOk);
    CHECK(devices.size() == 1);
  }

  TEST_CASE("ids and error names") {
    std::uint32_t v = 0;
    CHECK(parse_key_dir_id("4294967295", 0xFFFFFFFFu, v));
    CHECK(v == 4294967295u);
    CHECK_FALSE(parse_key_dir_id("4294967296", 0xFFFFFFFFu, v));
    CHECK_FALSE(parse_key_dir_id("0", 10, v));
    CHECK_FALSE(parse_key_dir_id("11", 10, v));
    CHECK(key_dir_error_name(KeyDirError::kOk) == "ok");
    CHECK(key_dir_error_name(KeyDirError::kMalformed) == "malformed");
    CHECK(key_dir_error_name(KeyDirError::kTooMany) == "too-many");
    CHECK(key_dir_error_name(KeyDirError::kBadSignature) == "bad-signature");
    CHECK(key_dir_error_name(static_cast<KeyDirError>(12)) == "unknown");
    CHECK(static_cast<int>(KeyDirError::kMalformed) == 860);
    CHECK_FALSE(key_dir_error_message(KeyDirError::kBadSignature).empty());
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
