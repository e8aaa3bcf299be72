// Strict base64 (protocol/sasl/base64.h): RFC 4648 §10 vectors, round trips
// and every non-canonical spelling that SCRAM must refuse.
#include "protocol/sasl/base64.h"

#include <doctest/doctest.h>

#include <string>

namespace xd::protocol {
namespace {

TEST_SUITE("sasl.base64") {
  TEST_CASE("RFC 4648 section 10 test vectors encode and decode") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& entry : vectors) {
      const auto& plain = entry.first;
      const auto& encoded = entry.second;
      CAPTURE(plain);
      CHECK(base64_encode(plain) == encoded);
      auto decoded = base64_decode(encoded);
      REQUIRE(decoded.has_value());
      CHECK(*decoded == plain);
    }
  }

  TEST_CASE("every byte value and every length round-trips") {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (size_t len = 0; len <= all.size(); ++len) {
      std::string in = all.substr(256 - len);
      std::string enc = base64_encode(in);
      CHECK(enc.size() == 4 * ((len + 2) / 3));
      CHECK(enc.find('\n') == std::string::npos);
      auto dec = base64_decode(enc);
      REQUIRE(dec.has_value());
      CHECK(*dec == in);
    }
  }

  TEST_CASE("binary with NUL bytes round-trips") {
    const std::string in("\0\xff\0", 3);
    CHECK(base64_encode(in) == "AP8A");
    auto dec = base64_decode("AP8A");
    REQUIRE(dec.has_value());
    CHECK(*dec == in);
  }

  TEST_CASE("non-canonical and lenient spellings are rejected") {
    const char* bad[] = {
        "Zg",        // padding missing
        "Zg=",       // padding incomplete
        "Zm8",       // padding missing
        "Z",         // length not a multiple of 4
        "Zh==",      // trailing bits not zero (RFC 4648 §3.5): would also decode to "f"
        "Zm9=",      // trailing bits not zero: would also decode to "fo"
        "Zg==Zg==",  // padding in the middle
        "Z===",      // three padding characters
        "====",      // padding only
        "=Zg=",      // padding first
        "Zm=v",      // '=' inside a quantum
        "Zm9v\n",    // line break
        "Zm9v\r\n",  // CRLF
        " Zm9v",     // leading space
        "Zm 9v",     // inner space
        "Zm9v\t",    // tab
        "Zm-v",      // URL-safe alphabet
        "Zm_v",      // URL-safe alphabet
        "Zm9v====",  // extra padding quantum
    };
    for (const char* text : bad) {
      CAPTURE(text);
      CHECK_FALSE(base64_decode(text).has_value());
    }
    CHECK_FALSE(base64_decode(std::string("Zm\0v", 4)).has_value());
    CHECK_FALSE(base64_decode("Zm\xc3\xa9").has_value());
  }

  TEST_CASE("the decoder accepts exactly one spelling per value") {
    // For one-byte values, only one of the 16 possible second characters
    // is canonical; all others differ only in discarded bits.
    int accepted = 0;
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (char c : alphabet) {
      std::string text = std::string("Z") + c + "==";
      if (base64_decode(text).has_value()) ++accepted;
    }
    CHECK(accepted == 4);  // 64 characters / 16 discarded-bit patterns
  }
}

}  // namespace
}  // namespace xd::protocol
