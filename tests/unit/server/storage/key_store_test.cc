// The behaviour every KeyStore backend must share (server/storage/key_store.h,
// spec/e2e-keys.md §3.2, §4.2, §6): the publish rules and caps with nothing
// changed on refusal, claims that hand each one-time prekey out once, also
// across a restart of the LMDB environment, exhausted devices, retraction
// and account removal. One test body runs against the memory backend and
// against LMDB in a temporary directory; then the LMDB record format alone.
#include "server/storage/key_store.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/lmdb/lmdb_key_store.h"
#include "server/storage/memory_key_store.h"

namespace xd::server {

inline doctest::String toString(StorageError e) {
  return doctest::String(storage_error_name(e).data(),
                         static_cast<unsigned>(storage_error_name(e).size()));
}

inline doctest::String toString(PublishOutcome::Result r) {
  switch (r) {
    case PublishOutcome::Result::kStored:
      return "kStored";
    case PublishOutcome::Result::kIdentityConflict:
      return "kIdentityConflict";
    case PublishOutcome::Result::kPreKeyConflict:
      return "kPreKeyConflict";
    case PublishOutcome::Result::kTooManyDevices:
      return "kTooManyDevices";
    case PublishOutcome::Result::kTooManyPreKeys:
      return "kTooManyPreKeys";
  }
  return "?";
}

namespace {

using protocol::e2e::DeviceKeys;
using protocol::e2e::Key32;
using protocol::e2e::PreKeyBundle;
using Result = PublishOutcome::Result;

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/xd_keystore_XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct MemoryBackend {
  static constexpr bool kDurable = false;
  MemoryKeyStore memory;
  KeyStore& store() { return memory; }
  void reopen() {}
};

struct LmdbBackend {
  static constexpr bool kDurable = true;
  TempDir dir;
  LmdbOptions options;
  std::unique_ptr<LmdbEnv> env;
  std::unique_ptr<LmdbKeyStore> lmdb;

  LmdbBackend() {
    options.path = dir.path + "/data";
    open();
  }
  void open() {
    std::string error;
    env = LmdbEnv::open(options, error);
    REQUIRE_MESSAGE(env != nullptr, error);
    REQUIRE(LmdbKeyStore::open(*env, lmdb) == StorageError::kOk);
  }
  // A server restart on the same directory.
  void reopen() {
    lmdb.reset();
    env.reset();
    open();
  }
  KeyStore& store() { return *lmdb; }
};

// A key whose octets all derive from |tag|: the store does not verify
// signatures, so any octets do, and distinct tags give distinct keys.
Key32 key(std::uint32_t tag) {
  Key32 k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(tag * 31 + i);
  return k;
}

DeviceKeys device(std::uint32_t id, std::uint32_t identity_tag, std::vector<std::uint32_t> pks,
                  std::uint32_t spk_id = 1) {
  DeviceKeys d;
  d.device = id;
  d.identity_key = key(identity_tag);
  d.signed_prekey_id = spk_id;
  d.signed_prekey = key(identity_tag + 1000 + spk_id);
  d.signed_prekey_signature.fill(static_cast<std::uint8_t>(spk_id));
  for (std::uint32_t pk : pks) d.one_time_prekeys.emplace_back(pk, key(identity_tag * 7919 + pk));
  return d;
}

PublishOutcome publish(KeyStore& s, std::string_view user, const DeviceKeys& d,
                       const KeyStoreLimits& limits = {}) {
  PublishOutcome out;
  REQUIRE(s.publish(user, d, limits, out) == StorageError::kOk);
  return out;
}

std::vector<DeviceSummary> devices(KeyStore& s, std::string_view user) {
  std::vector<DeviceSummary> out;
  REQUIRE(s.devices(user, out) == StorageError::kOk);
  return out;
}

std::vector<PreKeyBundle> claim(KeyStore& s, std::string_view user,
                                std::optional<std::uint32_t> dev = std::nullopt) {
  std::vector<PreKeyBundle> out;
  REQUIRE(s.claim(user, dev, out) == StorageError::kOk);
  return out;
}

// "device:prekeys,device:prekeys" for compact checks.
std::string summary(const std::vector<DeviceSummary>& list) {
  std::string s;
  for (const DeviceSummary& d : list) {
    if (!s.empty()) s += ",";
    s += std::to_string(d.device) + ":" + std::to_string(d.prekeys);
  }
  return s;
}

TEST_SUITE("storage.key_store") {
  TEST_CASE_TEMPLATE("publish creates a device, claim returns its keys", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    CHECK(devices(s, "alice").empty());
    CHECK(claim(s, "alice").empty());
    DeviceKeys d = device(12345, 1, {1, 2, 3});
    PublishOutcome o = publish(s, "alice", d);
    CHECK(o.result == Result::kStored);
    CHECK(o.prekeys == 3);
    CHECK(summary(devices(s, "alice")) == "12345:3");
    CHECK(devices(s, "bob").empty());
    auto bundles = claim(s, "alice");
    REQUIRE(bundles.size() == 1);
    const PreKeyBundle& got = bundles[0];
    CHECK(got.device == 12345);
    CHECK(got.identity_key == d.identity_key);
    CHECK(got.signed_prekey_id == d.signed_prekey_id);
    CHECK(got.signed_prekey == d.signed_prekey);
    CHECK(got.signed_prekey_signature == d.signed_prekey_signature);
    CHECK(got.has_one_time_prekey);
    // The oldest one goes first.
    CHECK(got.one_time_prekey_id == 1);
    CHECK(got.one_time_prekey == d.one_time_prekeys[0].second);
    CHECK(summary(devices(s, "alice")) == "12345:2");
  }

  TEST_CASE_TEMPLATE("each one-time prekey is handed out once; exhausted devices come without", B,
                     MemoryBackend, LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    publish(s, "bob", device(7, 1, {10, 11, 12}));
    publish(s, "bob", device(3, 2, {20}));
    std::set<std::uint32_t> seen;
    for (int round = 0; round < 4; ++round) {
      auto bundles = claim(s, "bob");
      REQUIRE(bundles.size() == 2);
      CHECK(bundles[0].device == 3);  // increasing device id order
      CHECK(bundles[1].device == 7);
      for (const PreKeyBundle& x : bundles) {
        if (!x.has_one_time_prekey) continue;
        CHECK_MESSAGE(seen.insert(x.one_time_prekey_id).second, x.one_time_prekey_id);
      }
      CHECK(bundles[0].has_one_time_prekey == (round < 1));
      CHECK(bundles[1].has_one_time_prekey == (round < 3));
    }
    CHECK(seen == std::set<std::uint32_t>{10, 11, 12, 20});
    CHECK(summary(devices(s, "bob")) == "3:0,7:0");
    // Exhausted, the device is still there with its signed prekey (X3DH
    // without DH4, spec/e2e-keys.md §9.1).
    auto last = claim(s, "bob", 7);
    REQUIRE(last.size() == 1);
    CHECK_FALSE(last[0].has_one_time_prekey);
    CHECK(last[0].signed_prekey_id == 1);
  }

  TEST_CASE_TEMPLATE("a claim limited to one device touches only that device", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    publish(s, "bob", device(1, 1, {1, 2}));
    publish(s, "bob", device(2, 2, {1, 2}));
    auto one = claim(s, "bob", 2);
    REQUIRE(one.size() == 1);
    CHECK(one[0].device == 2);
    CHECK(summary(devices(s, "bob")) == "1:2,2:1");
    std::vector<PreKeyBundle> out(1);
    CHECK(s.claim("bob", 3, out) == StorageError::kNotFound);
    CHECK(out.empty());
    CHECK(s.claim("nobody", 1, out) == StorageError::kNotFound);
    CHECK(s.claim("nobody", std::nullopt, out) == StorageError::kOk);
    CHECK(out.empty());
  }

  TEST_CASE_TEMPLATE("claims never repeat a prekey across a restart", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    publish(b.store(), "bob", device(5, 1, {1, 2, 3, 4}));
    std::set<std::uint32_t> seen;
    for (int i = 0; i < 4; ++i) {
      auto bundles = claim(b.store(), "bob");
      REQUIRE(bundles.size() == 1);
      REQUIRE(bundles[0].has_one_time_prekey);
      CHECK(seen.insert(bundles[0].one_time_prekey_id).second);
      b.reopen();
    }
    CHECK(claim(b.store(), "bob")[0].has_one_time_prekey == false);
    b.reopen();
    CHECK(summary(devices(b.store(), "bob")) == "5:0");
  }

  TEST_CASE_TEMPLATE("republishing: same identity adds prekeys and replaces the signed prekey", B,
                     MemoryBackend, LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    publish(s, "alice", device(1, 1, {1, 2}));
    // The same publish again is idempotent.
    PublishOutcome o = publish(s, "alice", device(1, 1, {1, 2}));
    CHECK(o.result == Result::kStored);
    CHECK(o.prekeys == 2);
    // A rotation with new prekeys 3, 4 and the known 2.
    o = publish(s, "alice", device(1, 1, {2, 3, 4}, 9));
    CHECK(o.result == Result::kStored);
    CHECK(o.prekeys == 4);
    auto bundles = claim(s, "alice");
    REQUIRE(bundles.size() == 1);
    CHECK(bundles[0].signed_prekey_id == 9);
    CHECK(bundles[0].signed_prekey == device(1, 1, {}, 9).signed_prekey);
    CHECK(bundles[0].one_time_prekey_id == 1);
    for (std::uint32_t want : {2u, 3u, 4u}) CHECK(claim(s, "alice")[0].one_time_prekey_id == want);
  }

  TEST_CASE_TEMPLATE("conflicts and caps change nothing", B, MemoryBackend, LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    KeyStoreLimits limits;
    limits.max_devices = 2;
    limits.max_prekeys_per_device = 3;
    publish(s, "alice", device(1, 1, {1, 2}), limits);
    const std::string before = summary(devices(s, "alice"));

    SUBCASE("another identity for a known device is a conflict") {
      CHECK(publish(s, "alice", device(1, 99, {5}, 4), limits).result == Result::kIdentityConflict);
    }
    SUBCASE("a known prekey id with another key is a conflict") {
      DeviceKeys d = device(1, 1, {5, 2}, 4);
      d.one_time_prekeys[1].second = key(424242);
      CHECK(publish(s, "alice", d, limits).result == Result::kPreKeyConflict);
    }
    SUBCASE("more prekeys than the cap after the add") {
      CHECK(publish(s, "alice", device(1, 1, {3, 4}, 4), limits).result == Result::kTooManyPreKeys);
    }
    SUBCASE("a new device with more prekeys than the cap") {
      CHECK(publish(s, "alice", device(2, 2, {1, 2, 3, 4}), limits).result ==
            Result::kTooManyPreKeys);
    }
    SUBCASE("a device beyond the device cap") {
      CHECK(publish(s, "alice", device(2, 2, {1}), limits).result == Result::kStored);
      CHECK(publish(s, "alice", device(3, 3, {1}), limits).result == Result::kTooManyDevices);
      CHECK(summary(devices(s, "alice")) == "1:2,2:1");
      // Other accounts have their own devices.
      CHECK(publish(s, "bob", device(3, 3, {1}), limits).result == Result::kStored);
      return;
    }
    CHECK(summary(devices(s, "alice")) == before);
    auto bundles = claim(s, "alice");
    REQUIRE(bundles.size() == 1);
    CHECK(bundles[0].signed_prekey_id == 1);  // the refused publish's 4 was not stored
    CHECK(bundles[0].identity_key == key(1));
    CHECK(bundles[0].one_time_prekey == device(1, 1, {1}).one_time_prekeys[0].second);
  }

  TEST_CASE_TEMPLATE("a signed prekey rotation works even above a lowered prekey cap", B,
                     MemoryBackend, LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    publish(s, "alice", device(1, 1, {1, 2, 3}));
    KeyStoreLimits lowered;
    lowered.max_prekeys_per_device = 2;
    PublishOutcome o = publish(s, "alice", device(1, 1, {}, 2), lowered);
    CHECK(o.result == Result::kStored);
    CHECK(o.prekeys == 3);
    CHECK(publish(s, "alice", device(1, 1, {4}, 3), lowered).result == Result::kTooManyPreKeys);
  }

  TEST_CASE_TEMPLATE("invalid input is refused", B, MemoryBackend, LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    PublishOutcome o;
    CHECK(s.publish("", device(1, 1, {}), {}, o) == StorageError::kInvalid);
    CHECK(s.publish(std::string("a\0b", 3), device(1, 1, {}), {}, o) == StorageError::kInvalid);
    CHECK(s.publish("alice", device(0, 1, {}), {}, o) == StorageError::kInvalid);
    CHECK(s.publish("alice", device(0x80000000u, 1, {}), {}, o) == StorageError::kInvalid);
    CHECK(s.publish("alice", device(1, 1, {}, 0), {}, o) == StorageError::kInvalid);
    CHECK(s.publish("alice", device(1, 1, {0}), {}, o) == StorageError::kInvalid);
    CHECK(s.publish("alice", device(1, 1, {4, 4}), {}, o) == StorageError::kInvalid);
    CHECK(devices(s, "alice").empty());
  }

  TEST_CASE_TEMPLATE("retract and remove_user", B, MemoryBackend, LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    publish(s, "a", device(1, 1, {1}));
    publish(s, "a", device(2, 2, {1}));
    publish(s, "ab", device(1, 3, {1}));  // "a" must not see "ab"'s devices
    CHECK(summary(devices(s, "a")) == "1:1,2:1");
    CHECK(s.retract("a", 1) == StorageError::kOk);
    CHECK(s.retract("a", 1) == StorageError::kNotFound);
    CHECK(s.retract("a", 9) == StorageError::kNotFound);
    CHECK(s.retract("nobody", 1) == StorageError::kNotFound);
    CHECK(summary(devices(s, "a")) == "2:1");
    // A retracted device id may be published again, as a new device.
    CHECK(publish(s, "a", device(1, 77, {5})).result == Result::kStored);
    CHECK(s.remove_user("a") == StorageError::kOk);
    CHECK(devices(s, "a").empty());
    CHECK(claim(s, "a").empty());
    CHECK(s.remove_user("a") == StorageError::kOk);
    CHECK(summary(devices(s, "ab")) == "1:1");
    b.reopen();
    CHECK(devices(b.store(), "a").empty());
    CHECK(summary(devices(b.store(), "ab")) == "1:1");
  }

  TEST_CASE_TEMPLATE("long usernames (hashed LMDB keys) and the largest ids work", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    KeyStore& s = b.store();
    const std::string long_a(1023, 'a');
    const std::string long_b = std::string(1022, 'a') + "b";
    publish(s, long_a, device(0x7fffffff, 1, {0xffffffffu}, 0xffffffffu));
    publish(s, long_b, device(1, 2, {}));
    CHECK(summary(devices(s, long_a)) == "2147483647:1");
    auto bundles = claim(s, long_a);
    REQUIRE(bundles.size() == 1);
    CHECK(bundles[0].one_time_prekey_id == 0xffffffffu);
    CHECK(bundles[0].signed_prekey_id == 0xffffffffu);
    CHECK(summary(devices(s, long_b)) == "1:0");
  }
}

TEST_SUITE("storage.lmdb_key_store") {
  TEST_CASE("the device record round-trips and every truncation or padding is corrupt") {
    DeviceKeys d = device(12345, 4, {1, 2, 3}, 6);
    const std::string record = encode_device_keys("alice", d);
    CHECK(static_cast<std::uint8_t>(record[0]) == kDeviceKeysRecordV1);
    std::string user;
    DeviceKeys out;
    REQUIRE(decode_device_keys(record, user, out) == StorageError::kOk);
    CHECK(user == "alice");
    CHECK(out.device == d.device);
    CHECK(out.identity_key == d.identity_key);
    CHECK(out.signed_prekey_id == 6);
    CHECK(out.signed_prekey == d.signed_prekey);
    CHECK(out.signed_prekey_signature == d.signed_prekey_signature);
    CHECK(out.one_time_prekeys == d.one_time_prekeys);
    for (size_t n = 0; n < record.size(); ++n) {
      CAPTURE(n);
      CHECK(decode_device_keys(record.substr(0, n), user, out) == StorageError::kCorrupt);
    }
    CHECK(decode_device_keys(record + '\0', user, out) == StorageError::kCorrupt);
    std::string wrong_type = record;
    wrong_type[0] = '\x82';
    CHECK(decode_device_keys(wrong_type, user, out) == StorageError::kCorrupt);
    // A huge prekey count is refused before anything is allocated.
    std::string huge = encode_device_keys("alice", device(1, 1, {}));
    huge.replace(huge.size() - 4, 4, "\xff\xff\xff\x7f");
    CHECK(decode_device_keys(huge, user, out) == StorageError::kCorrupt);
    // A zero device id or a repeated prekey id does not validate.
    std::string zero = record;
    zero.replace(1 + 4 + 5, 4, std::string(4, '\0'));
    CHECK(decode_device_keys(zero, user, out) == StorageError::kCorrupt);
  }

  TEST_CASE("keys sort by device id and end the user with NUL") {
    CHECK(device_keys_key("a", 1) < device_keys_key("a", 256));
    CHECK(device_keys_key("a", 0x7fffffff).rfind(device_keys_key_prefix("a"), 0) == 0);
    CHECK(device_keys_key("ab", 1).rfind(device_keys_key_prefix("a"), 0) != 0);
  }

  TEST_CASE("an unreadable record is kCorrupt; the readable devices are still claimed") {
    LmdbBackend b;
    KeyStore& s = b.store();
    publish(s, "bob", device(1, 1, {1, 2}));
    publish(s, "bob", device(2, 2, {1}));
    unsigned dbi = 0;
    REQUIRE(b.env->open_db(kLmdbKeysDb, dbi) == StorageError::kOk);
    REQUIRE(b.env->write([&](LmdbTxn& txn) {
      return txn.put(dbi, device_keys_key("bob", 2), "garbage");
    }) == StorageError::kOk);
    std::vector<DeviceSummary> list;
    CHECK(s.devices("bob", list) == StorageError::kCorrupt);
    CHECK(summary(list) == "1:2");
    std::vector<PreKeyBundle> bundles;
    CHECK(s.claim("bob", std::nullopt, bundles) == StorageError::kCorrupt);
    REQUIRE(bundles.size() == 1);
    CHECK(bundles[0].one_time_prekey_id == 1);
    CHECK(s.claim("bob", 2, bundles) == StorageError::kCorrupt);
    PublishOutcome o;
    CHECK(s.publish("bob", device(2, 2, {5}), {}, o) == StorageError::kCorrupt);
    // A record of another user under bob's key is corrupt too.
    REQUIRE(b.env->write([&](LmdbTxn& txn) {
      return txn.put(dbi, device_keys_key("bob", 2), encode_device_keys("eve", device(2, 2, {1})));
    }) == StorageError::kOk);
    CHECK(s.claim("bob", 2, bundles) == StorageError::kCorrupt);
    // Retracting the broken device repairs the account.
    CHECK(s.retract("bob", 2) == StorageError::kOk);
    CHECK(s.devices("bob", list) == StorageError::kOk);
    CHECK(summary(list) == "1:1");
  }
}

}  // namespace
}  // namespace xd::server
