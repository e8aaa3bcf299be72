// Key generation, prekey signatures and fingerprints
// (protocol/e2e/e2e_keys.h, spec/e2e.md §3).
#include "protocol/e2e/e2e_keys.h"

#include <doctest/doctest.h>
#include <sodium.h>

#include <set>

#include "tests/unit/protocol/e2e/e2e_test_util.h"

namespace xd::protocol::e2e {
namespace {

using test::hex;

TEST_SUITE("e2e.keys") {
  TEST_CASE("libsodium initialises") {
    CHECK(init());
    CHECK(test::kSodiumReady);
  }

  TEST_CASE("the seeded RandomFn is deterministic, call-separated and shared by copies") {
    RandomFn a = seeded_random_for_test(test::seed(1));
    RandomFn b = seeded_random_for_test(test::seed(1));
    std::uint8_t x[40], y[40];
    a(x, sizeof x);
    b(y, sizeof y);
    CHECK(std::equal(x, x + 40, y));
    a(x, sizeof x);
    CHECK_FALSE(std::equal(x, x + 40, y));  // the next call uses the next nonce
    RandomFn c = a;
    c(y, sizeof y);
    a(x, sizeof x);
    CHECK_FALSE(std::equal(x, x + 40, y));  // copies continue one sequence
    // Call 0 is the ChaCha20 keystream under the seed with nonce 0.
    std::uint8_t expect[40];
    std::uint8_t nonce[8] = {};
    crypto_stream_chacha20(expect, sizeof expect, nonce, test::seed(1).data());
    RandomFn d = seeded_random_for_test(test::seed(1));
    d(x, sizeof x);
    CHECK(std::equal(x, x + 40, expect));
  }

  TEST_CASE("the identity is the Ed25519 pair of a 32-octet seed") {
    RandomFn random = seeded_random_for_test(test::seed(2));
    const IdentityKeyPair id = generate_identity(random);
    std::uint8_t seed[32];
    seeded_random_for_test(test::seed(2))(seed, 32);
    std::uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    CHECK(std::equal(pk, pk + 32, id.public_key.begin()));
    CHECK(std::equal(sk, sk + 64, id.secret_key.begin()));
  }

  TEST_CASE("a DH pair's public key is the X25519 base-point multiple of its secret") {
    RandomFn random = seeded_random_for_test(test::seed(3));
    const DhKeyPair pair = generate_dh(random);
    Key32 pk;
    crypto_scalarmult_base(pk.data(), pair.secret_key.data());
    CHECK(pk == pair.public_key);
    const DhKeyPair other = generate_dh(random);
    CHECK(other.public_key != pair.public_key);
  }

  TEST_CASE("signed prekeys verify, and any change breaks the signature") {
    RandomFn random = seeded_random_for_test(test::seed(4));
    const IdentityKeyPair id = generate_identity(random);
    const SignedPreKey spk = generate_signed_prekey(id, 42, random);
    CHECK(spk.id == 42);
    CHECK(verify_signed_prekey(id.public_key, spk.pair.public_key, spk.signature));

    Key32 key = spk.pair.public_key;
    key[5] ^= 1;
    CHECK_FALSE(verify_signed_prekey(id.public_key, key, spk.signature));
    Sig64 sig = spk.signature;
    sig[63] ^= 0x80;
    CHECK_FALSE(verify_signed_prekey(id.public_key, spk.pair.public_key, sig));
    const IdentityKeyPair other = generate_identity(random);
    CHECK_FALSE(verify_signed_prekey(other.public_key, spk.pair.public_key, spk.signature));
    Key32 zero{};  // a small-order point is no identity key
    CHECK_FALSE(verify_signed_prekey(zero, spk.pair.public_key, spk.signature));

    PreKeyBundle b;
    b.identity_key = id.public_key;
    b.signed_prekey = spk.pair.public_key;
    b.signed_prekey_signature = spk.signature;
    CHECK(verify_bundle(b));
    b.signed_prekey_signature[0] ^= 1;
    CHECK_FALSE(verify_bundle(b));
  }

  TEST_CASE("one-time prekeys have consecutive ids and distinct keys") {
    RandomFn random = seeded_random_for_test(test::seed(5));
    const auto keys = generate_one_time_prekeys(100, 5, random);
    REQUIRE(keys.size() == 5);
    std::set<std::string> publics;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      CHECK(keys[i].id == 100 + i);
      publics.insert(hex(keys[i].pair.public_key));
    }
    CHECK(publics.size() == 5);
    CHECK(generate_one_time_prekeys(1, 0, random).empty());
  }

  TEST_CASE("the fingerprint is eight groups of eight lowercase hex digits") {
    Key32 k;
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i * 8 + 1);
    CHECK(fingerprint(k) ==
          "01091119 21293139 41495159 61697179 81899199 a1a9b1b9 c1c9d1d9 e1e9f1f9");
    CHECK(fingerprint(Key32{}).size() == 71);
  }

  TEST_CASE("system_random fills the buffer") {
    RandomFn random = system_random();
    std::uint8_t a[32] = {}, b[32] = {};
    random(a, sizeof a);
    random(b, sizeof b);
    CHECK_FALSE(std::equal(a, a + 32, b));
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
