// HKDF-SHA-256 (protocol/e2e/hkdf.h) against RFC 5869 Appendix A test cases
// 1 to 3, and its output bound.
#include "protocol/e2e/hkdf.h"

#include <doctest/doctest.h>

#include <vector>

#include "tests/unit/protocol/e2e/e2e_test_util.h"

namespace xd::protocol::e2e {
namespace {

using test::hex;
using test::unhex;

struct Rfc5869Case {
  const char* name;
  const char* ikm;
  const char* salt;
  const char* info;
  const char* prk;
  const char* okm;
};

constexpr Rfc5869Case kCases[] = {
    {"A.1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"A.2",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d"
     "2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d"
     "8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdd"
     "dedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e59"
     "0e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"A.3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

TEST_SUITE("e2e.hkdf") {
  TEST_CASE("RFC 5869 test cases 1 to 3") {
    for (const Rfc5869Case& c : kCases) {
      CAPTURE(c.name);
      const std::vector<std::uint8_t> ikm = unhex(c.ikm);
      const std::vector<std::uint8_t> salt = unhex(c.salt);
      const std::vector<std::uint8_t> info_bytes = unhex(c.info);
      const std::string info(info_bytes.begin(), info_bytes.end());
      const Key32 prk = hkdf_extract(salt, ikm);
      CHECK(hex(prk) == c.prk);
      std::vector<std::uint8_t> okm(unhex(c.okm).size());
      REQUIRE(hkdf_expand(prk, info, okm));
      CHECK(hex(okm) == c.okm);
      std::vector<std::uint8_t> okm2(okm.size());
      REQUIRE(hkdf_sha256(salt, ikm, info, okm2));
      CHECK(okm2 == okm);
    }
  }

  TEST_CASE("output longer than 255 blocks is refused and shorter outputs are prefixes") {
    const Key32 prk = test::seed(7);
    std::vector<std::uint8_t> max(kHkdfMaxOutput);
    CHECK(hkdf_expand(prk, "x", max));
    std::vector<std::uint8_t> too_long(kHkdfMaxOutput + 1, 0xaa);
    CHECK_FALSE(hkdf_expand(prk, "x", too_long));
    CHECK(too_long == std::vector<std::uint8_t>(kHkdfMaxOutput + 1, 0));
    std::vector<std::uint8_t> short_out(10);
    CHECK(hkdf_expand(prk, "x", short_out));
    CHECK(std::equal(short_out.begin(), short_out.end(), max.begin()));
    std::vector<std::uint8_t> empty;
    CHECK(hkdf_expand(prk, "x", empty));
  }

  TEST_CASE("RFC 4231 test case 2 for the HMAC it is built on") {
    const std::string key = "Jefe";
    const std::string data = "what do ya want for nothing?";
    const Key32 mac =
        hmac_sha256(std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()),
                    std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
    CHECK(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
