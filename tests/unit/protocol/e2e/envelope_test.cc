// The binary envelope (protocol/e2e/envelope.h, spec/e2e.md §6): layout,
// round trips, and every rejection the parser makes.
#include "protocol/e2e/envelope.h"

#include <doctest/doctest.h>

#include "tests/unit/protocol/e2e/e2e_test_util.h"

namespace xd::protocol::e2e {
namespace {

using test::hex;

Envelope sample(bool prekey) {
  Envelope e;
  e.prekey = prekey;
  e.sender_identity = test::seed(0x11);
  e.base_key = test::seed(0x22);
  e.signed_prekey_id = 0x01020304;
  e.one_time_prekey_id = 0xa0b0c0d0;
  e.ratchet_key = test::seed(0x33);
  e.previous_chain_length = 7;
  e.message_number = 0xfffffffe;
  return e;
}

std::string build(bool prekey, std::size_t ciphertext_size) {
  std::string out;
  append_envelope_header(sample(prekey), out);
  out.append(ciphertext_size, 'c');
  return out;
}

TEST_SUITE("e2e.envelope") {
  TEST_CASE("a plain message: layout and round trip") {
    const std::string bytes = build(false, 16);
    REQUIRE(bytes.size() == kEnvelopeHeaderSize + 16);
    CHECK(hex(bytes.substr(0, 2)) == "0101");
    CHECK(hex(bytes.substr(34, 8)) == "00000007fffffffe");
    Envelope e;
    REQUIRE(parse_envelope(bytes, e) == EnvelopeError::kOk);
    CHECK_FALSE(e.prekey);
    CHECK(e.ratchet_key == test::seed(0x33));
    CHECK(e.previous_chain_length == 7);
    CHECK(e.message_number == 0xfffffffe);
    CHECK(e.ciphertext == std::string(16, 'c'));
    CHECK(e.authenticated_prefix == bytes.substr(0, kEnvelopeHeaderSize));
    CHECK(e.signed_prekey_id == 0);
  }

  TEST_CASE("a pre-key message: layout and round trip") {
    const std::string bytes = build(true, 48);
    REQUIRE(bytes.size() == kPreKeyEnvelopeHeaderSize + 48);
    CHECK(hex(bytes.substr(0, 2)) == "0102");
    CHECK(hex(bytes.substr(66, 8)) == "01020304a0b0c0d0");
    Envelope e;
    REQUIRE(parse_envelope(bytes, e) == EnvelopeError::kOk);
    CHECK(e.prekey);
    CHECK(e.sender_identity == test::seed(0x11));
    CHECK(e.base_key == test::seed(0x22));
    CHECK(e.signed_prekey_id == 0x01020304);
    CHECK(e.one_time_prekey_id == 0xa0b0c0d0);
    CHECK(e.ratchet_key == test::seed(0x33));
    CHECK(e.ciphertext.size() == 48);
    CHECK(e.authenticated_prefix.size() == kPreKeyEnvelopeHeaderSize);
    std::string again;
    append_envelope_header(e, again);
    again.append(e.ciphertext);
    CHECK(again == bytes);
  }

  TEST_CASE("every truncation inside the header is kTruncated") {
    for (bool prekey : {false, true}) {
      const std::string bytes = build(prekey, 16);
      const std::size_t header = prekey ? kPreKeyEnvelopeHeaderSize : kEnvelopeHeaderSize;
      Envelope e;
      for (std::size_t n = 0; n < header; ++n) {
        CAPTURE(n);
        CHECK(parse_envelope(std::string_view(bytes).substr(0, n), e) == EnvelopeError::kTruncated);
      }
      for (std::size_t n = header; n < header + 16; ++n) {
        CAPTURE(n);
        CHECK(parse_envelope(std::string_view(bytes).substr(0, n), e) == EnvelopeError::kTooShort);
      }
    }
  }

  TEST_CASE("ciphertext bounds: 16 and 1024 octets pass, 1025 does not") {
    Envelope e;
    CHECK(parse_envelope(build(false, kMaxEnvelopeCiphertext), e) == EnvelopeError::kOk);
    CHECK(parse_envelope(build(true, kMaxEnvelopeCiphertext), e) == EnvelopeError::kOk);
    CHECK(parse_envelope(build(false, kMaxEnvelopeCiphertext + 1), e) == EnvelopeError::kTooLong);
    CHECK(parse_envelope(build(true, 100000), e) == EnvelopeError::kTooLong);
    CHECK(parse_envelope(build(false, 15), e) == EnvelopeError::kTooShort);
    CHECK(parse_envelope(build(true, 0), e) == EnvelopeError::kTooShort);
  }

  TEST_CASE("wrong version and unknown type") {
    Envelope e;
    std::string bytes = build(false, 16);
    for (int v : {0x00, 0x02, 0xff}) {
      bytes[0] = static_cast<char>(v);
      CHECK(parse_envelope(bytes, e) == EnvelopeError::kVersion);
    }
    bytes[0] = 0x01;
    for (int t : {0x00, 0x03, 0x81}) {
      bytes[1] = static_cast<char>(t);
      CHECK(parse_envelope(bytes, e) == EnvelopeError::kType);
    }
    CHECK(parse_envelope(std::string(1, '\x02'), e) == EnvelopeError::kTruncated);
    CHECK(parse_envelope(std::string("\x01\x07", 2), e) == EnvelopeError::kType);
  }

  TEST_CASE("error names") {
    CHECK(envelope_error_name(EnvelopeError::kOk) == "ok");
    CHECK(envelope_error_name(EnvelopeError::kTooLong) == "too-long");
    CHECK(envelope_error_name(static_cast<EnvelopeError>(5)) == "unknown");
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
