// The Double Ratchet session (protocol/e2e/ratchet_session.h, spec/e2e.md
// §5, §9): handshakes, long conversations, out-of-order delivery within and
// across DH steps, the skipped-key bounds, replays, tampering and the
// serialized state.
#include "protocol/e2e/ratchet_session.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "protocol/e2e/envelope.h"
#include "tests/unit/protocol/e2e/e2e_test_util.h"

namespace xd::protocol::e2e {
namespace {

using test::TestDevice;

// Alice has initiated a session with Bob's bundle; Bob's session exists once
// he has accepted a pre-key envelope.
struct Pair {
  RandomFn random;
  TestDevice alice;
  TestDevice bob;
  Session a;
  Session b;
  bool bob_ready = false;
  std::uint32_t used_one_time = 0;

  explicit Pair(std::uint8_t seed, bool with_one_time = true)
      : random(seeded_random_for_test(test::seed(seed))), alice(random), bob(random) {
    REQUIRE(Session::initiate(alice.identity, bob.bundle(with_one_time, 2), random, a));
  }

  Session::AcceptKeys keys() const {
    Session::AcceptKeys k;
    k.signed_prekey = [this](std::uint32_t id) -> const SignedPreKey* {
      return id == bob.signed_prekey.id ? &bob.signed_prekey : nullptr;
    };
    k.one_time_prekey = [this](std::uint32_t id) -> const OneTimePreKey* {
      for (const OneTimePreKey& otk : bob.one_time) {
        if (otk.id == id) return &otk;
      }
      return nullptr;
    };
    return k;
  }

  std::string to_bob(std::string_view pt) {
    std::string env = a.encrypt(pt, random);
    REQUIRE_FALSE(env.empty());
    return env;
  }
  std::string to_alice(std::string_view pt) {
    REQUIRE(bob_ready);
    std::string env = b.encrypt(pt, random);
    REQUIRE_FALSE(env.empty());
    return env;
  }
  DecryptStatus bob_receives(std::string_view env, std::string& pt) {
    if (!bob_ready) {
      const DecryptStatus st = Session::accept(bob.identity, keys(), env, b, pt, used_one_time);
      bob_ready = st == DecryptStatus::kOk;
      return st;
    }
    return b.decrypt(env, pt);
  }
  void bob_gets(std::string_view env, std::string_view expect) {
    std::string pt;
    REQUIRE(decrypt_status_name(bob_receives(env, pt)) == "ok");
    CHECK(pt == expect);
  }
  void alice_gets(std::string_view env, std::string_view expect) {
    std::string pt;
    REQUIRE(decrypt_status_name(a.decrypt(env, pt)) == "ok");
    CHECK(pt == expect);
  }
};

bool is_prekey(std::string_view env) {
  Envelope e;
  REQUIRE(parse_envelope(env, e) == EnvelopeError::kOk);
  return e.prekey;
}

TEST_SUITE("e2e.ratchet") {
  TEST_CASE("handshake with and without a one-time prekey") {
    for (bool opk : {true, false}) {
      CAPTURE(opk);
      Pair p(40, opk);
      CHECK(p.a.is_initiator_pending());
      CHECK(p.a.remote_identity() == p.bob.identity.public_key);
      const std::string m0 = p.to_bob("hello bob");
      CHECK(is_prekey(m0));
      Envelope e;
      REQUIRE(parse_envelope(m0, e) == EnvelopeError::kOk);
      CHECK(e.base_key == p.a.base_key());
      CHECK(e.sender_identity == p.alice.identity.public_key);
      CHECK(e.signed_prekey_id == 1);
      CHECK(e.one_time_prekey_id == (opk ? 3u : 0u));
      p.bob_gets(m0, "hello bob");
      CHECK(p.used_one_time == (opk ? 3u : 0u));
      CHECK(p.b.base_key() == p.a.base_key());
      CHECK(p.b.remote_identity() == p.alice.identity.public_key);
      CHECK_FALSE(p.b.is_initiator_pending());

      // Alice keeps sending pre-key envelopes until Bob's reply arrives.
      const std::string m1 = p.to_bob("again");
      CHECK(is_prekey(m1));
      p.bob_gets(m1, "again");
      const std::string r0 = p.to_alice("hi alice");
      CHECK_FALSE(is_prekey(r0));
      p.alice_gets(r0, "hi alice");
      CHECK_FALSE(p.a.is_initiator_pending());
      const std::string m2 = p.to_bob("now plain");
      CHECK_FALSE(is_prekey(m2));
      p.bob_gets(m2, "now plain");
    }
  }

  TEST_CASE("accept refuses unknown prekeys, plain envelopes and a bad identity") {
    Pair p(41);
    const std::string m0 = p.to_bob("x");
    Session out;
    std::string pt = "unchanged";
    std::uint32_t used = 99;
    Session::AcceptKeys none;
    CHECK(Session::accept(p.bob.identity, none, m0, out, pt, used) ==
          DecryptStatus::kUnknownPreKey);
    Session::AcceptKeys only_spk = p.keys();
    only_spk.one_time_prekey = [](std::uint32_t) { return nullptr; };
    CHECK(Session::accept(p.bob.identity, only_spk, m0, out, pt, used) ==
          DecryptStatus::kUnknownPreKey);
    CHECK(pt == "unchanged");
    CHECK(used == 99);
    CHECK(Session::accept(p.bob.identity, p.keys(), "garbage", out, pt, used) ==
          DecryptStatus::kMalformed);
    // Another device's identity key: X3DH gives another secret.
    const TestDevice carol(p.random);
    CHECK(Session::accept(carol.identity, p.keys(), m0, out, pt, used) ==
          DecryptStatus::kUndecryptable);
    // A plain envelope cannot start a session.
    p.bob_gets(m0, "x");
    const std::string r = p.to_alice("r");
    p.alice_gets(r, "r");
    const std::string plain = p.to_bob("plain");
    CHECK(Session::accept(p.bob.identity, p.keys(), plain, out, pt, used) ==
          DecryptStatus::kMalformed);
  }

  TEST_CASE("initiate refuses a bundle with a bad signature") {
    RandomFn random = seeded_random_for_test(test::seed(42));
    const TestDevice alice(random);
    const TestDevice bob(random);
    PreKeyBundle bundle = bob.bundle(true);
    bundle.signed_prekey_signature[1] ^= 1;
    Session s;
    const std::string before = s.serialize();
    CHECK_FALSE(Session::initiate(alice.identity, bundle, random, s));
    CHECK(s.serialize() == before);
  }

  TEST_CASE("a long conversation in bursts both ways") {
    Pair p(43);
    RandomFn pattern = seeded_random_for_test(test::seed(44));
    p.bob_gets(p.to_bob("first"), "first");
    int count = 0;
    for (int round = 0; round < 60; ++round) {
      std::uint8_t burst[2];
      pattern(burst, 2);
      for (int i = 0; i < burst[0] % 6; ++i) {
        const std::string text = "a" + std::to_string(count++);
        p.bob_gets(p.to_bob(text), text);
      }
      for (int i = 0; i < burst[1] % 6; ++i) {
        const std::string text = "b" + std::to_string(count++);
        p.alice_gets(p.to_alice(text), text);
      }
    }
    CHECK(count > 150);
    CHECK(p.a.skipped_key_count() == 0);
    CHECK(p.b.skipped_key_count() == 0);
    // Plaintext of every length up to the bound.
    const std::string big(kMaxSessionPlaintext, 'z');
    p.bob_gets(p.to_bob(big), big);
    p.alice_gets(p.to_alice(""), "");
    CHECK(p.a.encrypt(std::string(kMaxSessionPlaintext + 1, 'z'), p.random).empty());
  }

  TEST_CASE("out of order within one chain, the first arrival being the accept") {
    Pair p(45);
    std::vector<std::string> m;
    for (int i = 0; i < 5; ++i) m.push_back(p.to_bob("m" + std::to_string(i)));
    for (int i : {4, 1, 0, 3, 2}) p.bob_gets(m[i], "m" + std::to_string(i));
    CHECK(p.b.skipped_key_count() == 0);
    std::string pt;
    for (int i = 0; i < 5; ++i) CHECK(p.b.decrypt(m[i], pt) == DecryptStatus::kDuplicate);
  }

  TEST_CASE("out of order across DH ratchet steps") {
    Pair p(46);
    const std::string a0 = p.to_bob("a0"), a1 = p.to_bob("a1"), a2 = p.to_bob("a2");
    p.bob_gets(a1, "a1");  // accept with message 1; key 0 skipped
    const std::string b0 = p.to_alice("b0"), b1 = p.to_alice("b1");
    p.alice_gets(b1, "b1");                 // Alice steps the ratchet
    const std::string a3 = p.to_bob("a3");  // new chain: PN = 3
    const std::string a4 = p.to_bob("a4");
    p.bob_gets(a4, "a4");  // Bob: skips a2 of the old chain, a3 of the new
    CHECK(p.b.skipped_key_count() == 3);
    p.bob_gets(a0, "a0");  // a pre-key envelope of this session, old chain
    p.bob_gets(a3, "a3");
    p.alice_gets(b0, "b0");
    p.bob_gets(a2, "a2");
    CHECK(p.b.skipped_key_count() == 0);
    CHECK(p.a.skipped_key_count() == 0);
    // More steps, each with one message held back.
    std::vector<std::pair<std::string, std::string>> held;
    for (int step = 0; step < 6; ++step) {
      const std::string x = "x" + std::to_string(step), y = "y" + std::to_string(step);
      held.emplace_back(p.to_alice(x), x);
      p.alice_gets(p.to_alice(y), y);
      const std::string z = "z" + std::to_string(step);
      p.bob_gets(p.to_bob(z), z);
    }
    CHECK(p.a.skipped_key_count() == 6);
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      // The last four chains' keys are remembered; all six held-back keys are
      // in the skipped store.
      p.alice_gets(it->first, it->second);
    }
    CHECK(p.a.skipped_key_count() == 0);
  }

  TEST_CASE("skipping more than kMaxSkip in one chain is refused") {
    Pair p(47);
    std::vector<std::string> m;
    for (int i = 0; i < 1003; ++i) m.push_back(p.to_bob(std::to_string(i)));
    std::string pt;
    Session out;
    std::uint32_t used = 0;
    // The first message may be number 1000 at most.
    CHECK(Session::accept(p.bob.identity, p.keys(), m[1001], out, pt, used) ==
          DecryptStatus::kTooManySkipped);
    p.bob_gets(m[0], "0");
    const std::string before = p.b.serialize();
    CHECK(p.b.decrypt(m[1002], pt) == DecryptStatus::kTooManySkipped);  // 1001 to skip
    CHECK(p.b.serialize() == before);
    p.bob_gets(m[1001], "1001");  // exactly 1000 skipped
    CHECK(p.b.skipped_key_count() == 1000);
    p.bob_gets(m[500], "500");
    p.bob_gets(m[1002], "1002");
    CHECK(p.b.skipped_key_count() == 999);
  }

  TEST_CASE("the previous chain's length counts against kMaxSkip too") {
    for (int sent : {1001, 1002}) {
      CAPTURE(sent);
      Pair p(48);
      std::vector<std::string> old_chain;
      for (int i = 0; i < sent; ++i) old_chain.push_back(p.to_bob("old"));
      p.bob_gets(old_chain[0], "old");
      p.alice_gets(p.to_alice("reply"), "reply");
      const std::string next = p.to_bob("new chain");  // PN = |sent|
      std::string pt;
      if (sent == 1002) {
        const std::string before = p.b.serialize();
        CHECK(p.b.decrypt(next, pt) == DecryptStatus::kTooManySkipped);
        CHECK(p.b.serialize() == before);
      } else {
        p.bob_gets(next, "new chain");
        CHECK(p.b.skipped_key_count() == 1000);
        p.bob_gets(old_chain[1000], "old");
      }
    }
  }

  TEST_CASE("the total of stored skipped keys is bounded, oldest evicted first") {
    Pair p(49);
    std::string pt;
    // Three chains of Alice's, each with 1000 keys skipped at Bob.
    std::vector<std::vector<std::string>> chains;
    for (int c = 0; c < 3; ++c) {
      std::vector<std::string> m;
      for (int i = 0; i <= 1000; ++i) m.push_back(p.to_bob("c" + std::to_string(c)));
      p.bob_gets(m.back(), "c" + std::to_string(c));
      chains.push_back(std::move(m));
      p.alice_gets(p.to_alice("step"), "step");
    }
    CHECK(p.b.skipped_key_count() == kMaxStoredSkipped);
    // Chain 0's keys were evicted; chains 1 and 2 still decrypt.
    CHECK(p.b.decrypt(chains[0][0], pt) != DecryptStatus::kOk);
    CHECK(p.b.decrypt(chains[0][999], pt) != DecryptStatus::kOk);
    p.bob_gets(chains[1][0], "c1");
    p.bob_gets(chains[2][999], "c2");
    CHECK(p.b.skipped_key_count() == kMaxStoredSkipped - 2);
  }

  TEST_CASE("replays are duplicates, including a replayed pre-key envelope") {
    Pair p(50);
    const std::string m0 = p.to_bob("m0");
    const std::string m1 = p.to_bob("m1");
    p.bob_gets(m0, "m0");
    std::string pt = "unchanged";
    CHECK(p.b.decrypt(m0, pt) == DecryptStatus::kDuplicate);  // the accepted pre-key envelope
    p.bob_gets(m1, "m1");
    CHECK(p.b.decrypt(m1, pt) == DecryptStatus::kDuplicate);
    const std::string r0 = p.to_alice("r0");
    p.alice_gets(r0, "r0");
    CHECK(p.a.decrypt(r0, pt) == DecryptStatus::kDuplicate);
    const std::string m2 = p.to_bob("m2");
    p.bob_gets(m2, "m2");
    // Old chains stay duplicates after further steps.
    for (int i = 0; i < 3; ++i) {
      p.alice_gets(p.to_alice("r"), "r");
      p.bob_gets(p.to_bob("m"), "m");
    }
    CHECK(p.b.decrypt(m0, pt) == DecryptStatus::kDuplicate);
    CHECK(p.b.decrypt(m2, pt) == DecryptStatus::kDuplicate);
    CHECK(p.a.decrypt(r0, pt) == DecryptStatus::kDuplicate);
    CHECK(pt == "unchanged");
    // Accepting the replayed pre-key envelope again would be a new session:
    // the one-time prekey is gone, so the client's store refuses it.
    Session::AcceptKeys consumed = p.keys();
    consumed.one_time_prekey = [](std::uint32_t) { return nullptr; };
    Session again;
    std::uint32_t used = 0;
    CHECK(Session::accept(p.bob.identity, consumed, m0, again, pt, used) ==
          DecryptStatus::kUnknownPreKey);
  }

  TEST_CASE("a pre-key envelope of another session is not this session's") {
    Pair p(51);
    p.bob_gets(p.to_bob("one"), "one");
    Session other;
    REQUIRE(Session::initiate(p.alice.identity, p.bob.bundle(true, 5), p.random, other));
    const std::string foreign = other.encrypt("two", p.random);
    std::string pt;
    CHECK(p.b.decrypt(foreign, pt) == DecryptStatus::kMalformed);
    // Alice never receives pre-key envelopes.
    CHECK(p.a.decrypt(foreign, pt) == DecryptStatus::kMalformed);
  }

  TEST_CASE("tampering with any octet fails and changes nothing") {
    Pair p(52);
    const std::string m0 = p.to_bob("pre-key message");
    // Accept: every octet of the pre-key envelope.
    for (std::size_t i = 0; i < m0.size(); ++i) {
      for (std::uint8_t flip : {0x01, 0x80}) {
        std::string bad = m0;
        bad[i] = static_cast<char>(bad[i] ^ flip);
        Session out;
        std::string pt = "unchanged";
        std::uint32_t used = 77;
        const DecryptStatus st = Session::accept(p.bob.identity, p.keys(), bad, out, pt, used);
        CAPTURE(i);
        CHECK(st != DecryptStatus::kOk);
        CHECK(pt == "unchanged");
        CHECK(used == 77);
      }
    }
    p.bob_gets(m0, "pre-key message");
    p.alice_gets(p.to_alice("r"), "r");

    // Same chain, a skipping message and a new-ratchet-key message.
    const std::string same = p.to_bob("same chain");
    const std::string skip_a = p.to_bob("skipped");
    const std::string skipping = p.to_bob("skipping");
    const std::string r1 = p.to_alice("new chain");
    for (const std::string* msg : {&same, &skipping}) {
      const std::string before = p.b.serialize();
      for (std::size_t i = 0; i < msg->size(); ++i) {
        std::string bad = *msg;
        bad[i] = static_cast<char>(bad[i] ^ 0x04);
        std::string pt = "unchanged";
        const DecryptStatus st = p.b.decrypt(bad, pt);
        CAPTURE(i);
        CHECK((st == DecryptStatus::kUndecryptable || st == DecryptStatus::kMalformed ||
               st == DecryptStatus::kTooManySkipped || st == DecryptStatus::kDuplicate));
        CHECK(pt == "unchanged");
        CHECK(p.b.serialize() == before);
      }
      std::string pt;
      CHECK(p.b.decrypt(msg->substr(0, msg->size() - 1), pt) != DecryptStatus::kOk);
      CHECK(p.b.serialize() == before);
      p.bob_gets(*msg, msg == &same ? "same chain" : "skipping");
    }
    {
      const std::string before = p.a.serialize();
      for (std::size_t i = 0; i < r1.size(); ++i) {
        std::string bad = r1;
        bad[i] = static_cast<char>(bad[i] ^ 0x40);
        std::string pt;
        CHECK(p.a.decrypt(bad, pt) != DecryptStatus::kOk);
        CHECK(p.a.serialize() == before);
      }
      p.alice_gets(r1, "new chain");
    }
    // A tampered copy of a stored skipped key's message leaves the key.
    std::string bad = skip_a;
    bad.back() = static_cast<char>(bad.back() ^ 1);
    std::string pt;
    CHECK(p.b.decrypt(bad, pt) == DecryptStatus::kUndecryptable);
    CHECK(p.b.skipped_key_count() == 1);
    p.bob_gets(skip_a, "skipped");
    // Appended octets are tampering too.
    const std::string next = p.to_bob("next");
    CHECK(p.b.decrypt(next + "x", pt) == DecryptStatus::kUndecryptable);
    p.bob_gets(next, "next");
  }

  TEST_CASE("the state survives serialize and deserialize mid-conversation") {
    Pair p(53);
    const std::string held = p.to_bob("held");
    p.bob_gets(p.to_bob("one"), "one");
    p.alice_gets(p.to_alice("two"), "two");
    p.bob_gets(p.to_bob("three"), "three");
    const std::string pending_for_alice = p.to_alice("four");

    for (Session* s : {&p.a, &p.b}) {
      const std::string bytes = s->serialize();
      Session copy;
      REQUIRE(Session::deserialize(bytes, copy));
      CHECK(copy.equals_for_test(*s));
      CHECK(copy.serialize() == bytes);
      *s = std::move(copy);
    }
    p.alice_gets(pending_for_alice, "four");
    p.bob_gets(held, "held");
    for (int i = 0; i < 5; ++i) {
      p.bob_gets(p.to_bob("a"), "a");
      p.alice_gets(p.to_alice("b"), "b");
      Session copy;
      REQUIRE(Session::deserialize(p.b.serialize(), copy));
      p.b = copy;
    }
    // Initiator pending state survives too.
    Pair q(54);
    Session copy;
    REQUIRE(Session::deserialize(q.a.serialize(), copy));
    CHECK(copy.is_initiator_pending());
    CHECK(copy.base_key() == q.a.base_key());
    q.a = copy;
    q.bob_gets(q.to_bob("after reload"), "after reload");
  }

  TEST_CASE("garbage, truncated and inconsistent states are refused") {
    Pair p(55);
    p.bob_gets(p.to_bob("x"), "x");
    const std::string extra = p.to_bob("skipped");
    p.bob_gets(p.to_bob("y"), "y");
    const std::string good = p.b.serialize();
    REQUIRE(p.b.skipped_key_count() == 1);
    Session out;
    REQUIRE(Session::deserialize(good, out));
    const std::string out_before = out.serialize();
    for (std::size_t n = 0; n < good.size(); ++n) {
      CAPTURE(n);
      CHECK_FALSE(Session::deserialize(std::string_view(good).substr(0, n), out));
    }
    CHECK_FALSE(Session::deserialize(good + '\0', out));
    std::string bad = good;
    bad[0] = 2;  // version
    CHECK_FALSE(Session::deserialize(bad, out));
    bad = good;
    bad[1] = static_cast<char>(bad[1] | 0x20);  // unknown flag
    CHECK_FALSE(Session::deserialize(bad, out));
    bad = good;
    bad[1] = static_cast<char>(bad[1] | 0x02);  // a responder that is "initiator pending"
    CHECK_FALSE(Session::deserialize(bad, out));
    bad = good;
    bad[2 + 32 * 3 + 8 + 32 + 40] ^= 1;  // the sending secret no longer matches its public key
    CHECK_FALSE(Session::deserialize(bad, out));
    // Counts above their bounds.
    const std::size_t prev_at = 2 + 32 * 3 + 8 + 32 * 6 + 12;
    bad = good;
    bad[prev_at] = 5;
    CHECK_FALSE(Session::deserialize(bad, out));
    bad = good;
    const std::size_t skipped_at = good.size() - 68 - 2;
    bad[skipped_at] = static_cast<char>(0x07);
    bad[skipped_at + 1] = static_cast<char>(0xd1);  // 2001
    CHECK_FALSE(Session::deserialize(bad, out));
    RandomFn random = seeded_random_for_test(test::seed(56));
    for (int i = 0; i < 200; ++i) {
      std::string junk(static_cast<std::size_t>(i * 3), '\0');
      random(reinterpret_cast<std::uint8_t*>(junk.data()), junk.size());
      if (!junk.empty()) junk[0] = 1;
      CHECK_FALSE(Session::deserialize(junk, out));
    }
    CHECK(out.serialize() == out_before);  // refused input changes nothing
    std::string pt;
    CHECK(out.decrypt(extra, pt) == DecryptStatus::kOk);
  }

  TEST_CASE("status names") {
    CHECK(decrypt_status_name(DecryptStatus::kOk) == "ok");
    CHECK(decrypt_status_name(DecryptStatus::kTooManySkipped) == "too-many-skipped");
    CHECK(decrypt_status_name(DecryptStatus::kBadSignature) == "bad-signature");
    CHECK(decrypt_status_name(static_cast<DecryptStatus>(0)) == "unknown");
  }
}

}  // namespace
}  // namespace xd::protocol::e2e
