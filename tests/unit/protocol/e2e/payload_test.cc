// Payload sealing (protocol/e2e/payload.h, spec/e2e.md §7).
#include "protocol/e2e/payload.h"

#include <doctest/doctest.h>

#include "tests/unit/protocol/e2e/e2e_test_util.h"

namespace xd::protocol::e2e {
namespace {

TEST_SUITE("e2e.payload") {
  TEST_CASE("seal and open round trip, including empty and maximal bodies") {
    RandomFn random = seeded_random_for_test(test::seed(30));
    for (std::size_t n :
         {std::size_t{0}, std::size_t{1}, std::size_t{5000}, kMaxPayloadPlaintext}) {
      CAPTURE(n);
      const std::string body(n, 'b');
      const SealedPayload sealed = seal_payload(body, random);
      CHECK(sealed.ciphertext.size() == n + kPayloadTagSize);
      std::string out = "x";
      REQUIRE(open_payload(sealed.key, sealed.iv, sealed.ciphertext, out));
      CHECK(out == body);
    }
  }

  TEST_CASE("key and iv come from the RandomFn, key first") {
    const SealedPayload sealed = seal_payload("hi", seeded_random_for_test(test::seed(31)));
    RandomFn again = seeded_random_for_test(test::seed(31));
    Key32 key;
    std::array<std::uint8_t, 24> iv;
    again(key.data(), key.size());
    again(iv.data(), iv.size());
    CHECK(sealed.key == key);
    CHECK(sealed.iv == iv);
  }

  TEST_CASE("any flipped bit, wrong key or wrong iv fails and leaves the output alone") {
    const SealedPayload sealed =
        seal_payload("hello world", seeded_random_for_test(test::seed(32)));
    std::string out = "unchanged";
    for (std::size_t i = 0; i < sealed.ciphertext.size(); ++i) {
      std::string c = sealed.ciphertext;
      c[i] ^= 0x01;
      CHECK_FALSE(open_payload(sealed.key, sealed.iv, c, out));
    }
    Key32 key = sealed.key;
    key[0] ^= 1;
    CHECK_FALSE(open_payload(key, sealed.iv, sealed.ciphertext, out));
    auto iv = sealed.iv;
    iv[23] ^= 1;
    CHECK_FALSE(open_payload(sealed.key, iv, sealed.ciphertext, out));
    CHECK_FALSE(open_payload(sealed.key, sealed.iv, sealed.ciphertext.substr(0, 15), out));
    CHECK(out == "unchanged");
  }

  TEST_CASE("oversized plaintext and ciphertext are refused") {
    const SealedPayload sealed = seal_payload(std::string(kMaxPayloadPlaintext + 1, 'x'),
                                              seeded_random_for_test(test::seed(33)));
    CHECK(sealed.ciphertext.empty());
    CHECK(sealed.key == Key32{});
    std::string out;
    CHECK_FALSE(
        open_payload(sealed.key, sealed.iv, std::string(kMaxPayloadCiphertext + 1, 'x'), out));
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
