// X3DH (protocol/e2e/x3dh.h, spec/e2e.md §4): both sides derive the same
// secret with and without a one-time prekey; bad signatures, wrong keys and
// small-order points are refused.
#include "protocol/e2e/x3dh.h"

#include <doctest/doctest.h>

#include "tests/unit/protocol/e2e/e2e_test_util.h"

namespace xd::protocol::e2e {
namespace {

using test::TestDevice;

TEST_SUITE("e2e.x3dh") {
  TEST_CASE("initiator and responder agree, with and without a one-time prekey") {
    RandomFn random = seeded_random_for_test(test::seed(10));
    const TestDevice alice(random);
    const TestDevice bob(random);
    for (bool with_opk : {false, true}) {
      CAPTURE(with_opk);
      X3dhResult a;
      DhKeyPair ek;
      REQUIRE(x3dh_initiate(alice.identity, bob.bundle(with_opk, 3), random, a, ek));
      X3dhResult b;
      REQUIRE(x3dh_respond(bob.identity, alice.identity.public_key, ek.public_key,
                           bob.signed_prekey, with_opk ? &bob.one_time[3] : nullptr, b));
      CHECK(a.shared_secret == b.shared_secret);
      CHECK(a.associated_data == b.associated_data);
      CHECK(std::equal(alice.identity.public_key.begin(), alice.identity.public_key.end(),
                       a.associated_data.begin()));
      CHECK(std::equal(bob.identity.public_key.begin(), bob.identity.public_key.end(),
                       a.associated_data.begin() + 32));
      CHECK(a.shared_secret != Key32{});

      // The responder with the wrong one-time prekey, or none when one was
      // used, derives something else.
      X3dhResult wrong;
      REQUIRE(x3dh_respond(bob.identity, alice.identity.public_key, ek.public_key,
                           bob.signed_prekey, with_opk ? &bob.one_time[4] : &bob.one_time[0],
                           wrong));
      CHECK(wrong.shared_secret != a.shared_secret);
    }
  }

  TEST_CASE("the one-time prekey changes the secret") {
    const TestDevice alice(seeded_random_for_test(test::seed(11)));
    const TestDevice bob(seeded_random_for_test(test::seed(12)));
    X3dhResult with, without;
    DhKeyPair ek1, ek2;
    REQUIRE(x3dh_initiate(alice.identity, bob.bundle(true), seeded_random_for_test(test::seed(13)),
                          with, ek1));
    REQUIRE(x3dh_initiate(alice.identity, bob.bundle(false), seeded_random_for_test(test::seed(13)),
                          without, ek2));
    CHECK(ek1.public_key == ek2.public_key);  // same randomness, same ephemeral
    CHECK(with.shared_secret != without.shared_secret);
  }

  TEST_CASE("a bundle whose signature does not verify is refused") {
    RandomFn random = seeded_random_for_test(test::seed(14));
    const TestDevice alice(random);
    const TestDevice bob(random);
    const TestDevice mallory(random);
    X3dhResult r;
    DhKeyPair ek;
    PreKeyBundle b = bob.bundle(true);
    b.signed_prekey_signature[10] ^= 4;
    CHECK_FALSE(x3dh_initiate(alice.identity, b, random, r, ek));
    CHECK(r.shared_secret == Key32{});
    // Mallory's signed prekey under Bob's identity.
    b = bob.bundle(true);
    b.signed_prekey = mallory.signed_prekey.pair.public_key;
    b.signed_prekey_signature = mallory.signed_prekey.signature;
    CHECK_FALSE(x3dh_initiate(alice.identity, b, random, r, ek));
  }

  TEST_CASE("small-order keys give an all-zero DH and are refused") {
    RandomFn random = seeded_random_for_test(test::seed(15));
    const TestDevice alice(random);
    const TestDevice bob(random);
    X3dhResult r;
    DhKeyPair ek;
    // An all-zero one-time prekey (not covered by the signature).
    PreKeyBundle b = bob.bundle(true);
    b.one_time_prekey = Key32{};
    CHECK_FALSE(x3dh_initiate(alice.identity, b, random, r, ek));
    // The responder given an all-zero base key.
    CHECK_FALSE(x3dh_respond(bob.identity, alice.identity.public_key, Key32{}, bob.signed_prekey,
                             nullptr, r));
    // An identity key with no valid point.
    Key32 bad{};
    bad[0] = 1;  // the neutral element: small order
    CHECK_FALSE(x3dh_respond(bob.identity, bad, alice.signed_prekey.pair.public_key,
                             bob.signed_prekey, nullptr, r));
    Key32 out;
    CHECK_FALSE(x25519(alice.signed_prekey.pair.secret_key, Key32{}, out));
    CHECK(out == Key32{});
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
