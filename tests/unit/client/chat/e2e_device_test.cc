// E2eDevice (client/chat/e2e_device.h) on real ClientStores in temp dirs:
// identity creation, the keys a device publishes, sessions started from a
// claimed bundle, conversations in both directions, the one-time prekey
// deleted after its first use, duplicates, messages for other devices,
// tampered payloads and envelopes (spec/e2e.md §9), trust on first use of
// identity keys, and sessions that survive reopening the store.
#include "client/chat/e2e_device.h"

#include <doctest/doctest.h>
#include <sodium.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/store/client_store.h"
#include "client/store/storage_key.h"
#include "protocol/e2e/e2e_keys.h"
#include "protocol/e2e/encrypted_element.h"
#include "protocol/e2e/envelope.h"

namespace xd::client {

inline doctest::String toString(E2eDevice::DecryptResult r) {
  switch (r) {
    case E2eDevice::DecryptResult::kOk:
      return "kOk";
    case E2eDevice::DecryptResult::kDuplicate:
      return "kDuplicate";
    case E2eDevice::DecryptResult::kNotForThisDevice:
      return "kNotForThisDevice";
    case E2eDevice::DecryptResult::kUndecryptable:
      return "kUndecryptable";
    case E2eDevice::DecryptResult::kStoreError:
      return "kStoreError";
  }
  return "?";
}

namespace {

namespace e2e = protocol::e2e;
using E = ClientStoreError;
using R = E2eDevice::DecryptResult;

constexpr std::int64_t kNow = 1'700'000'000'000;

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/xd_e2edev_XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// A distinct deterministic random stream per device and per opening: a
// reopened device must not replay the stream it used before.
e2e::RandomFn test_random(std::uint8_t who, std::uint8_t generation) {
  e2e::Key32 seed{};
  seed[0] = who;
  seed[1] = generation;
  return e2e::seeded_random_for_test(seed);
}

// One account's device: its own store (own directory and storage key) and
// the E2eDevice on it.
struct Device {
  std::string jid;
  std::uint8_t who;
  std::uint8_t generation = 0;
  TempDir dir;
  StorageKey key;
  std::unique_ptr<ClientStore> store;
  std::unique_ptr<E2eDevice> dev;

  Device(std::string bare_jid, std::uint8_t id_byte) : jid(std::move(bare_jid)), who(id_byte) {
    REQUIRE(e2e::init());
    randombytes_buf(key.data(), key.size());
    open();
  }

  std::string db_path() const { return dir.path + "/client.db"; }

  void open() {
    REQUIRE(ClientStore::open(db_path(), key, store) == E::kOk);
    dev = std::make_unique<E2eDevice>(*store, test_random(who, generation++));
    REQUIRE(dev->load_or_create(kNow) == E::kOk);
  }

  // Closes the store and opens it again, as a restarted client does.
  void reopen() {
    dev.reset();
    store.reset();
    open();
  }

  std::uint32_t id() const { return dev->device_id(); }
  DeviceAddress address() const { return DeviceAddress{jid, id()}; }

  // Publishes one fresh one-time prekey and returns the bundle a claim
  // would hand out for it (with_prekey false: without one).
  e2e::PreKeyBundle claim(bool with_prekey = true) {
    e2e::DeviceKeys keys;
    REQUIRE(dev->publishable(with_prekey ? 1 : 0, keys) == E::kOk);
    e2e::PreKeyBundle b;
    b.device = keys.device;
    b.identity_key = keys.identity_key;
    b.signed_prekey_id = keys.signed_prekey_id;
    b.signed_prekey = keys.signed_prekey;
    b.signed_prekey_signature = keys.signed_prekey_signature;
    if (with_prekey) {
      REQUIRE(keys.one_time_prekeys.size() == 1);
      b.has_one_time_prekey = true;
      b.one_time_prekey_id = keys.one_time_prekeys[0].first;
      b.one_time_prekey = keys.one_time_prekeys[0].second;
    }
    return b;
  }

  // Starts a session with |peer| from a fresh bundle of it.
  void start_with(Device& peer, bool with_prekey = true) {
    bool changed = true;
    REQUIRE(dev->start_session(peer.jid, peer.claim(with_prekey), kNow, changed) ==
            E2eDevice::StartResult::kOk);
    CHECK_FALSE(changed);
    CHECK(dev->has_session(peer.jid, peer.id()));
  }

  e2e::EncryptedMessage encrypt_to(const std::vector<DeviceAddress>& targets,
                                   std::string_view text) {
    e2e::EncryptedMessage m;
    REQUIRE(dev->encrypt(targets, text, m));
    return m;
  }

  std::vector<std::uint32_t> prekey_ids() {
    std::vector<std::uint32_t> ids;
    REQUIRE(store->one_time_prekey_ids(ids) == E::kOk);
    return ids;
  }
};

// The outcome of one decrypt call.
struct Received {
  R result = R::kStoreError;
  std::string text;
  bool identity_changed = false;
  std::string detail;
};

Received receive(Device& to, const Device& from, const e2e::EncryptedMessage& m) {
  Received r;
  r.result = to.dev->decrypt(from.jid, m, kNow, r.text, r.identity_changed, r.detail);
  return r;
}

// Sends |text| from |from| to |to| alone and checks it arrives intact.
void exchange(Device& from, Device& to, std::string_view text) {
  const e2e::EncryptedMessage m = from.encrypt_to({to.address()}, text);
  const Received r = receive(to, from, m);
  CHECK(r.result == R::kOk);
  CHECK(r.text == text);
  CHECK_FALSE(r.identity_changed);
}

bool contains(const std::vector<std::uint32_t>& v, std::uint32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The key (envelope) addressed to |rid| in |m|.
e2e::EncryptedKey& key_for(e2e::EncryptedMessage& m, std::uint32_t rid) {
  for (auto& k : m.keys) {
    if (k.rid == rid) return k;
  }
  FAIL("no key for device " << rid);
  return m.keys.front();
}

bool is_prekey_envelope(const std::string& envelope) {
  e2e::Envelope parsed;
  REQUIRE(e2e::parse_envelope(envelope, parsed) == e2e::EnvelopeError::kOk);
  return parsed.prekey;
}

TEST_SUITE("client.chat.e2e_device") {
  TEST_CASE("a device is created once and loaded afterwards") {
    Device alice("alice@example.com", 1);
    const std::uint32_t id = alice.id();
    CHECK(id >= 1);
    CHECK(id <= e2e::kMaxDeviceId);
    const e2e::Key32 identity = alice.dev->identity().public_key;
    const std::string fingerprint = alice.dev->fingerprint();
    CHECK(fingerprint == e2e::fingerprint(identity));
    CHECK(alice.prekey_ids().empty());  // none until published
    alice.reopen();
    CHECK(alice.id() == id);
    CHECK(alice.dev->identity().public_key == identity);
    CHECK(alice.dev->fingerprint() == fingerprint);
  }

  TEST_CASE("publishable keys: a verifying signed prekey and fresh stored one-time prekeys") {
    Device bob("bob@example.org", 2);
    e2e::DeviceKeys keys;
    REQUIRE(bob.dev->publishable(0, keys) == E::kOk);
    CHECK(keys.device == bob.id());
    CHECK(keys.identity_key == bob.dev->identity().public_key);
    CHECK(keys.one_time_prekeys.empty());
    CHECK(e2e::verify_signed_prekey(keys.identity_key, keys.signed_prekey,
                                    keys.signed_prekey_signature));

    REQUIRE(bob.dev->publishable(3, keys) == E::kOk);
    REQUIRE(keys.one_time_prekeys.size() == 3);
    e2e::DeviceKeys more;
    REQUIRE(bob.dev->publishable(2, more) == E::kOk);
    REQUIRE(more.one_time_prekeys.size() == 2);
    // Every published key has its secret in the store, and no id repeats.
    const std::vector<std::uint32_t> stored = bob.prekey_ids();
    CHECK(stored.size() == 5);
    for (const auto& list : {keys.one_time_prekeys, more.one_time_prekeys}) {
      for (const auto& [pid, pub] : list) {
        CHECK(pid != 0);
        CAPTURE(pid);
        e2e::OneTimePreKey k;
        REQUIRE(bob.store->load_one_time_prekey(pid, k) == E::kOk);
        CHECK(k.pair.public_key == pub);
      }
    }
  }

  TEST_CASE("a conversation in both directions deletes the used one-time prekey") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    const e2e::PreKeyBundle bundle = bob.claim();
    CHECK(contains(bob.prekey_ids(), bundle.one_time_prekey_id));
    bool changed = true;
    REQUIRE(alice.dev->start_session(bob.jid, bundle, kNow, changed) ==
            E2eDevice::StartResult::kOk);
    CHECK_FALSE(changed);
    CHECK(alice.dev->session_devices(bob.jid) == std::vector<std::uint32_t>{bob.id()});
    CHECK_FALSE(bob.dev->has_session(alice.jid, alice.id()));

    const e2e::EncryptedMessage first = alice.encrypt_to({bob.address()}, "hello bob");
    CHECK(first.sid == alice.id());
    REQUIRE(first.keys.size() == 1);
    CHECK(first.keys[0].rid == bob.id());
    CHECK(is_prekey_envelope(first.keys[0].envelope));
    const Received r = receive(bob, alice, first);
    CHECK(r.result == R::kOk);
    CHECK(r.text == "hello bob");
    CHECK_FALSE(r.identity_changed);
    // spec/e2e.md §3.3: used once, then gone.
    CHECK_FALSE(contains(bob.prekey_ids(), bundle.one_time_prekey_id));
    CHECK(bob.dev->has_session(alice.jid, alice.id()));
    // Bob remembers Alice's identity key on first use.
    KnownDevice known;
    REQUIRE(bob.store->load_known_device(alice.jid, alice.id(), known) == E::kOk);
    CHECK(known.identity_key == alice.dev->identity().public_key);

    // Alice keeps sending pre-key envelopes until Bob answers.
    const e2e::EncryptedMessage second = alice.encrypt_to({bob.address()}, "still there?");
    CHECK(is_prekey_envelope(second.keys[0].envelope));
    CHECK(receive(bob, alice, second).text == "still there?");

    exchange(bob, alice, "hi alice");
    const e2e::EncryptedMessage after_reply = alice.encrypt_to({bob.address()}, "great");
    CHECK_FALSE(is_prekey_envelope(after_reply.keys[0].envelope));
    CHECK(receive(bob, alice, after_reply).text == "great");
    for (int i = 0; i < 5; ++i) {
      exchange(alice, bob, "a" + std::to_string(i));
      exchange(alice, bob, "b" + std::to_string(i));
      exchange(bob, alice, "c" + std::to_string(i));
    }
    // An empty body and a long one (the payload is sealed once, only its
    // key goes through the ratchet).
    exchange(alice, bob, "");
    exchange(bob, alice, std::string(20000, 'x'));
  }

  TEST_CASE("a bundle without a one-time prekey starts a session as well") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob, /*with_prekey=*/false);
    exchange(alice, bob, "no prekey");
    exchange(bob, alice, "fine");
  }

  TEST_CASE("messages delivered out of order decrypt") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    exchange(alice, bob, "open");
    exchange(bob, alice, "ok");
    const e2e::EncryptedMessage m1 = alice.encrypt_to({bob.address()}, "one");
    const e2e::EncryptedMessage m2 = alice.encrypt_to({bob.address()}, "two");
    const e2e::EncryptedMessage m3 = alice.encrypt_to({bob.address()}, "three");
    CHECK(receive(bob, alice, m3).text == "three");
    CHECK(receive(bob, alice, m1).text == "one");
    CHECK(receive(bob, alice, m2).text == "two");
    CHECK(receive(bob, alice, m1).result == R::kDuplicate);
  }

  TEST_CASE("a message delivered twice is a duplicate") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    const e2e::EncryptedMessage first = alice.encrypt_to({bob.address()}, "first");
    REQUIRE(receive(bob, alice, first).result == R::kOk);
    SUBCASE("the pre-key message at once") {
      const Received again = receive(bob, alice, first);
      CHECK(again.result == R::kDuplicate);
      CHECK(again.text.empty());
    }
    SUBCASE("the pre-key message after the conversation went on") {
      exchange(bob, alice, "reply");
      exchange(alice, bob, "more");
      CHECK(receive(bob, alice, first).result == R::kDuplicate);
    }
    SUBCASE("a normal message") {
      exchange(bob, alice, "reply");
      const e2e::EncryptedMessage m = bob.encrypt_to({alice.address()}, "normal");
      CHECK_FALSE(is_prekey_envelope(m.keys[0].envelope));
      CHECK(receive(alice, bob, m).result == R::kOk);
      CHECK(receive(alice, bob, m).result == R::kDuplicate);
    }
    // The duplicate changed nothing: the conversation continues.
    exchange(alice, bob, "next");
    exchange(bob, alice, "next too");
  }

  TEST_CASE("one message to several devices; a device it was not encrypted for says so") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    Device carol("carol@example.net", 3);
    alice.start_with(bob);
    alice.start_with(carol);
    const e2e::EncryptedMessage both =
        alice.encrypt_to({bob.address(), carol.address()}, "to you both");
    CHECK(both.keys.size() == 2);
    CHECK(receive(bob, alice, both).text == "to you both");
    CHECK(receive(carol, alice, both).text == "to you both");

    const e2e::EncryptedMessage carol_only = alice.encrypt_to({carol.address()}, "just carol");
    const Received r = receive(bob, alice, carol_only);
    CHECK(r.result == R::kNotForThisDevice);
    CHECK_FALSE(r.detail.empty());
    CHECK(r.text.empty());
    CHECK(receive(carol, alice, carol_only).text == "just carol");
    // Bob's session did not move: the next message to him decrypts.
    exchange(alice, bob, "and you");
  }

  TEST_CASE("encrypt() skips targets without a session and fails when none has one") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    Device carol("carol@example.net", 3);
    e2e::EncryptedMessage m;
    CHECK_FALSE(alice.dev->encrypt({bob.address(), carol.address()}, "nobody", m));
    CHECK_FALSE(alice.dev->encrypt({}, "nobody", m));

    alice.start_with(carol);
    REQUIRE(alice.dev->encrypt({bob.address(), carol.address(), DeviceAddress{carol.jid, 12345}},
                               "only carol", m));
    REQUIRE(m.keys.size() == 1);
    CHECK(m.keys[0].rid == carol.id());
    CHECK(receive(carol, alice, m).text == "only carol");

    alice.dev->drop_session(carol.jid, carol.id());
    CHECK_FALSE(alice.dev->has_session(carol.jid, carol.id()));
    CHECK_FALSE(alice.dev->encrypt({carol.address()}, "gone", m));
  }

  TEST_CASE("a bundle whose signature does not verify is refused") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    e2e::PreKeyBundle bundle = bob.claim();
    bundle.signed_prekey_signature[5] ^= 0x01;
    bool changed = true;
    CHECK(alice.dev->start_session(bob.jid, bundle, kNow, changed) ==
          E2eDevice::StartResult::kBadBundle);
    CHECK_FALSE(changed);
    CHECK_FALSE(alice.dev->has_session(bob.jid, bob.id()));
    KnownDevice known;
    CHECK(alice.store->load_known_device(bob.jid, bob.id(), known) == E::kNotFound);
  }

  TEST_CASE("a tampered payload is undecryptable and the next genuine message decrypts") {
    const std::vector<std::pair<const char*, void (*)(e2e::EncryptedMessage&)>> tampers = {
        {"a flipped ciphertext octet", [](e2e::EncryptedMessage& m) { m.payload[0] ^= 0x01; }},
        {"a flipped tag octet", [](e2e::EncryptedMessage& m) { m.payload.back() ^= 0x80; }},
        {"a flipped iv octet", [](e2e::EncryptedMessage& m) { m.iv[3] ^= 0x01; }},
        {"a truncated payload",
         [](e2e::EncryptedMessage& m) { m.payload.resize(m.payload.size() - 1); }},
    };
    for (const bool established : {false, true}) {
      for (const auto& [what, tamper] : tampers) {
        CAPTURE(established);
        CAPTURE(what);
        Device alice("alice@example.com", 1);
        Device bob("bob@example.org", 2);
        alice.start_with(bob);
        if (established) {
          exchange(alice, bob, "open");
          exchange(bob, alice, "ok");
        }
        e2e::EncryptedMessage m = alice.encrypt_to({bob.address()}, "original text");
        tamper(m);
        const Received r = receive(bob, alice, m);
        CHECK(r.result == R::kUndecryptable);
        CHECK(r.text.empty());
        CHECK_FALSE(r.detail.empty());
        exchange(alice, bob, "genuine after tampering");
        exchange(bob, alice, "answer");
        exchange(alice, bob, "and again");
      }
    }
  }

  TEST_CASE("a tampered envelope is undecryptable and leaves the session as it was") {
    // |header| is the length of the envelope before its ciphertext.
    using Tamper = void (*)(std::string & envelope, std::size_t header);
    const std::vector<std::pair<const char*, Tamper>> tampers = {
        {"a flipped ciphertext octet", [](std::string& e, std::size_t h) { e[h + 1] ^= 0x01; }},
        {"a flipped tag octet", [](std::string& e, std::size_t) { e.back() ^= 0x01; }},
        {"a flipped message number octet", [](std::string& e, std::size_t h) { e[h - 1] ^= 0x01; }},
        {"a flipped ratchet key octet", [](std::string& e, std::size_t h) { e[h - 40] ^= 0x01; }},
        {"a truncated envelope", [](std::string& e, std::size_t) { e.resize(10); }},
        {"an unknown version", [](std::string& e, std::size_t) { e[0] = 0x7f; }},
    };
    for (const bool established : {false, true}) {
      for (const auto& [what, tamper] : tampers) {
        CAPTURE(established);
        CAPTURE(what);
        Device alice("alice@example.com", 1);
        Device bob("bob@example.org", 2);
        alice.start_with(bob);
        const std::vector<std::uint32_t> prekeys = bob.prekey_ids();
        REQUIRE(prekeys.size() == 1);
        if (established) {
          exchange(alice, bob, "open");
          exchange(bob, alice, "ok");
        }
        const e2e::EncryptedMessage genuine = alice.encrypt_to({bob.address()}, "the real one");
        e2e::EncryptedMessage m = genuine;
        std::string& env = key_for(m, bob.id()).envelope;
        const std::size_t header =
            established ? e2e::kEnvelopeHeaderSize : e2e::kPreKeyEnvelopeHeaderSize;
        REQUIRE(env.size() > header + 16);
        tamper(env, header);
        const Received r = receive(bob, alice, m);
        CHECK(r.result == R::kUndecryptable);
        CHECK(r.text.empty());
        CHECK_FALSE(r.detail.empty());
        if (!established) {
          // spec/e2e.md §4.4: nothing is stored before the envelope decrypts.
          CHECK_FALSE(bob.dev->has_session(alice.jid, alice.id()));
          CHECK(bob.prekey_ids() == prekeys);
        }
        const Received ok = receive(bob, alice, genuine);
        CHECK(ok.result == R::kOk);
        CHECK(ok.text == "the real one");
        CHECK(bob.prekey_ids().empty());
        exchange(bob, alice, "answer");
        exchange(alice, bob, "and again");
      }
    }
  }

  TEST_CASE("a normal message without a session is undecryptable") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    exchange(alice, bob, "open");
    exchange(bob, alice, "ok");
    const e2e::EncryptedMessage m = alice.encrypt_to({bob.address()}, "lost");
    bob.dev->drop_session(alice.jid, alice.id());
    const Received r = receive(bob, alice, m);
    CHECK(r.result == R::kUndecryptable);
    CHECK_FALSE(r.detail.empty());
  }

  TEST_CASE("a replayed first message after the session is gone names a deleted prekey") {
    // spec/e2e.md §9.2: the one-time prekey was deleted, so a replay cannot
    // start a second session.
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    const e2e::EncryptedMessage first = alice.encrypt_to({bob.address()}, "once");
    REQUIRE(receive(bob, alice, first).result == R::kOk);
    bob.dev->drop_session(alice.jid, alice.id());
    const Received r = receive(bob, alice, first);
    CHECK(r.result == R::kUndecryptable);
    CHECK(r.text.empty());
    CHECK_FALSE(bob.dev->has_session(alice.jid, alice.id()));
  }

  TEST_CASE("an identity change of a device id is flagged (trust on first use)") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    exchange(alice, bob, "before");
    exchange(bob, alice, "ok");

    // Bob's device id comes back with another identity key (a reinstall
    // that kept the id, or a server handing out a key of its own).
    Device other("bob@example.org", 4);
    e2e::PreKeyBundle forged = other.claim();
    forged.device = bob.id();
    bool changed = false;
    REQUIRE(alice.dev->start_session(bob.jid, forged, kNow, changed) ==
            E2eDevice::StartResult::kOk);
    CHECK(changed);
    KnownDevice known;
    REQUIRE(alice.store->load_known_device(bob.jid, bob.id(), known) == E::kOk);
    CHECK(known.identity_key == other.dev->identity().public_key);
    CHECK_FALSE(known.trusted);
    CHECK(alice.dev->has_session(bob.jid, bob.id()));
    // The same key again is no change.
    e2e::PreKeyBundle again = other.claim();
    again.device = bob.id();
    REQUIRE(alice.dev->start_session(bob.jid, again, kNow, changed) == E2eDevice::StartResult::kOk);
    CHECK_FALSE(changed);
  }

  TEST_CASE("a new session from a known device id with another identity key is flagged") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    exchange(alice, bob, "before");

    // Alice reinstalls but her device id is reused: a store that holds her
    // old id with a brand-new identity key.
    Device alice2("alice@example.com", 5);
    {
      e2e::RandomFn random = test_random(5, 99);
      const e2e::IdentityKeyPair identity = e2e::generate_identity(random);
      REQUIRE(alice2.store->set_device(alice.id()) == E::kOk);
      REQUIRE(alice2.store->save_identity(identity) == E::kOk);
      e2e::SignedPreKey spk = e2e::generate_signed_prekey(identity, 2, random);
      REQUIRE(alice2.store->save_signed_prekey(spk, kNow) == E::kOk);
      alice2.reopen();
      REQUIRE(alice2.id() == alice.id());
      REQUIRE(alice2.dev->identity().public_key == identity.public_key);
    }
    alice2.start_with(bob);
    const e2e::EncryptedMessage m = alice2.encrypt_to({bob.address()}, "new me");
    Received r = receive(bob, alice2, m);
    CHECK(r.result == R::kOk);
    CHECK(r.text == "new me");
    CHECK(r.identity_changed);
    KnownDevice known;
    REQUIRE(bob.store->load_known_device(alice.jid, alice.id(), known) == E::kOk);
    CHECK(known.identity_key == alice2.dev->identity().public_key);
    // Only the change is flagged, not every message after it.
    const e2e::EncryptedMessage next = alice2.encrypt_to({bob.address()}, "again");
    r = receive(bob, alice2, next);
    CHECK(r.result == R::kOk);
    CHECK_FALSE(r.identity_changed);
    exchange(bob, alice2, "welcome back");
  }

  TEST_CASE("sessions and prekeys survive reopening the stores") {
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    const e2e::PreKeyBundle bundle = bob.claim();
    bob.reopen();  // the one-time prekey secret was stored before publishing
    bool changed = true;
    REQUIRE(alice.dev->start_session(bob.jid, bundle, kNow, changed) ==
            E2eDevice::StartResult::kOk);
    alice.reopen();
    CHECK(alice.dev->has_session(bob.jid, bob.id()));
    const e2e::EncryptedMessage first = alice.encrypt_to({bob.address()}, "across restarts");
    CHECK(receive(bob, alice, first).text == "across restarts");
    exchange(bob, alice, "reply");
    const e2e::EncryptedMessage last = alice.encrypt_to({bob.address()}, "last before restart");
    CHECK(receive(bob, alice, last).result == R::kOk);

    alice.reopen();
    bob.reopen();
    CHECK(bob.dev->has_session(alice.jid, alice.id()));
    CHECK(bob.dev->session_devices(alice.jid) == std::vector<std::uint32_t>{alice.id()});
    // Replay detection survives the restart too.
    CHECK(receive(bob, alice, first).result == R::kDuplicate);
    CHECK(receive(bob, alice, last).result == R::kDuplicate);
    CHECK_FALSE(contains(bob.prekey_ids(), bundle.one_time_prekey_id));
    exchange(alice, bob, "after restart");
    exchange(bob, alice, "here too");
  }

  TEST_CASE("decrypt() inside a rolled-back transaction leaves no trace") {
    // What the chat client relies on: the ratchet step lands with the
    // message row or not at all.
    Device alice("alice@example.com", 1);
    Device bob("bob@example.org", 2);
    alice.start_with(bob);
    const std::vector<std::uint32_t> prekeys = bob.prekey_ids();
    const e2e::EncryptedMessage first = alice.encrypt_to({bob.address()}, "atomic");
    Received r;
    CHECK(bob.store->transaction([&] {
      r = receive(bob, alice, first);
      return false;
    }) == E::kRolledBack);
    CHECK(r.result == R::kOk);
    CHECK_FALSE(bob.dev->has_session(alice.jid, alice.id()));
    CHECK(bob.prekey_ids() == prekeys);
    // Delivered again, it decrypts for real.
    CHECK(bob.store->transaction([&] {
      r = receive(bob, alice, first);
      return r.result == R::kOk;
    }) == E::kOk);
    CHECK(r.text == "atomic");
    CHECK(bob.dev->has_session(alice.jid, alice.id()));
  }
}

}  // namespace
}  // namespace xd::client
