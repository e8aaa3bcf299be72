#include "server/storage/lmdb/lmdb_key_store.h"

#include <cassert>
#include <cstring>
#include <limits>
#include <utility>

#include "server/storage/account_store.h"
#include "server/storage/lmdb/record_codec.h"
#include "server/storage/lmdb/record_io.h"

namespace xd::server {
namespace {

using protocol::e2e::DeviceKeys;
using protocol::e2e::PreKeyBundle;

// Octets of one stored one-time prekey: u32 id and the key.
constexpr size_t kPreKeyBytes = 4 + 32;

// The device id a key of the directory ends with.
bool key_device(std::string_view key, std::string_view prefix, uint32_t& device) {
  if (key.size() != prefix.size() + 4) return false;
  device = 0;
  for (size_t i = prefix.size(); i < key.size(); ++i) {
    device = (device << 8) | static_cast<uint8_t>(key[i]);
  }
  return true;
}

// Decodes the record at |key| and checks it is |user|'s device |device|.
StorageError decode_checked(std::string_view bytes, std::string_view user, uint32_t device,
                            DeviceKeys& out) {
  std::string stored_user;
  if (decode_device_keys(bytes, stored_user, out) != StorageError::kOk || stored_user != user ||
      out.device != device) {
    return StorageError::kCorrupt;
  }
  return StorageError::kOk;
}

// Every device of |user| in id order, read inside |txn|. A record that does
// not decode, or sits under a key it would not be written to, sets
// |corrupt| and is skipped.
StorageError load_all(LmdbTxn& txn, unsigned dbi, std::string_view user,
                      std::vector<DeviceKeys>& out, bool& corrupt) {
  out.clear();
  corrupt = false;
  const std::string prefix = device_keys_key_prefix(user);
  return txn.scan(dbi, prefix, [&](std::string_view key, std::string_view value) {
    uint32_t device = 0;
    DeviceKeys keys;
    if (!key_device(key, prefix, device) ||
        decode_checked(value, user, device, keys) != StorageError::kOk) {
      corrupt = true;
    } else {
      out.push_back(std::move(keys));
    }
    return StorageError::kOk;
  });
}

}  // namespace

std::string device_keys_key_prefix(std::string_view user) {
  std::string key = key_part(user);
  key.push_back('\0');
  return key;
}

std::string device_keys_key(std::string_view user, uint32_t device) {
  std::string key = device_keys_key_prefix(user);
  for (int i = 3; i >= 0; --i) key.push_back(static_cast<char>((device >> (8 * i)) & 0xff));
  return key;
}

std::string encode_device_keys(std::string_view user, const DeviceKeys& keys) {
  assert(validate_username(user) == StorageError::kOk);
  assert(validate_device_keys(keys) == StorageError::kOk);
  RecordWriter w;
  w.reserve(1 + 4 + user.size() + 4 + 32 + 4 + 32 + 64 + 4 +
            kPreKeyBytes * keys.one_time_prekeys.size());
  w.u8(kDeviceKeysRecordV1);
  w.str(user);
  w.u32(keys.device);
  w.bytes(keys.identity_key);
  w.u32(keys.signed_prekey_id);
  w.bytes(keys.signed_prekey);
  w.bytes(keys.signed_prekey_signature);
  assert(keys.one_time_prekeys.size() <= std::numeric_limits<uint32_t>::max());
  w.u32(static_cast<uint32_t>(keys.one_time_prekeys.size()));
  for (const auto& [id, key] : keys.one_time_prekeys) {
    w.u32(id);
    w.bytes(key);
  }
  return w.take();
}

StorageError decode_device_keys(std::string_view bytes, std::string& user, DeviceKeys& keys) {
  RecordReader c(bytes);
  if (c.u8() != kDeviceKeysRecordV1) return StorageError::kCorrupt;
  std::string u = c.str();
  DeviceKeys k;
  k.device = c.u32();
  c.bytes(k.identity_key);
  k.signed_prekey_id = c.u32();
  c.bytes(k.signed_prekey);
  c.bytes(k.signed_prekey_signature);
  uint32_t count = c.u32();
  // The count must match the bytes left exactly, before we reserve.
  if (c.remaining() / kPreKeyBytes != count || c.remaining() % kPreKeyBytes != 0) {
    return StorageError::kCorrupt;
  }
  k.one_time_prekeys.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::pair<uint32_t, protocol::e2e::Key32> pk;
    pk.first = c.u32();
    c.bytes(pk.second);
    k.one_time_prekeys.push_back(pk);
  }
  if (!c.done() || validate_username(u) != StorageError::kOk ||
      validate_device_keys(k) != StorageError::kOk) {
    return StorageError::kCorrupt;
  }
  user = std::move(u);
  keys = std::move(k);
  return StorageError::kOk;
}

StorageError LmdbKeyStore::open(LmdbEnv& env, std::unique_ptr<LmdbKeyStore>& out) {
  unsigned dbi = 0;
  StorageError e = env.open_db(kLmdbKeysDb, dbi);
  if (e != StorageError::kOk) return e;
  out.reset(new LmdbKeyStore(env, dbi));
  return StorageError::kOk;
}

StorageError LmdbKeyStore::publish(std::string_view user, const DeviceKeys& keys,
                                   const KeyStoreLimits& limits, PublishOutcome& out) {
  if (validate_username(user) != StorageError::kOk ||
      validate_device_keys(keys) != StorageError::kOk) {
    return StorageError::kInvalid;
  }
  const std::string prefix = device_keys_key_prefix(user);
  const std::string key = device_keys_key(user, keys.device);
  return env_.write([&](LmdbTxn& txn) {
    out = PublishOutcome{};
    // The device count and the device's record come from the same
    // transaction as the write, so two publishes cannot both take the last
    // free device slot.
    size_t device_count = 0;
    StorageError e = txn.scan(dbi_, prefix, [&](std::string_view, std::string_view) {
      ++device_count;
      return StorageError::kOk;
    });
    if (e != StorageError::kOk) return e;
    std::string_view bytes;
    DeviceKeys stored;
    bool exists = false;
    e = txn.get(dbi_, key, bytes);
    if (e == StorageError::kOk) {
      if ((e = decode_checked(bytes, user, keys.device, stored)) != StorageError::kOk) return e;
      exists = true;
    } else if (e != StorageError::kNotFound) {
      return e;
    }
    DeviceKeys merged;
    out.result =
        merge_published_keys(exists ? &stored : nullptr, device_count, keys, limits, merged);
    // Returning kOk without a put commits an empty transaction: nothing
    // changes, as the contract requires.
    if (out.result != PublishOutcome::Result::kStored) return StorageError::kOk;
    out.prekeys = merged.one_time_prekeys.size();
    return txn.put(dbi_, key, encode_device_keys(user, merged));
  });
}

StorageError LmdbKeyStore::devices(std::string_view user, std::vector<DeviceSummary>& out) {
  out.clear();
  // No device can be stored under a name that cannot be a key.
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  bool corrupt = false;
  std::vector<DeviceKeys> all;
  StorageError e = env_.read([&](LmdbTxn& txn) { return load_all(txn, dbi_, user, all, corrupt); });
  if (e != StorageError::kOk) return e;
  for (const DeviceKeys& k : all) out.push_back({k.device, k.one_time_prekeys.size()});
  return corrupt ? StorageError::kCorrupt : StorageError::kOk;
}

StorageError LmdbKeyStore::claim(std::string_view user, std::optional<uint32_t> device,
                                 std::vector<PreKeyBundle>& out) {
  out.clear();
  if (validate_username(user) != StorageError::kOk) {
    return device ? StorageError::kNotFound : StorageError::kOk;
  }
  std::vector<PreKeyBundle> bundles;
  bool corrupt = false;
  // spec/e2e-keys.md §4.2: the prekeys handed out are deleted in this very
  // transaction, which commits (synchronously) before |out| is filled, so
  // no answer ever carries a prekey that could be handed out again.
  StorageError e = env_.write([&](LmdbTxn& txn) {
    bundles.clear();
    corrupt = false;
    std::vector<DeviceKeys> targets;
    if (device) {
      std::string_view bytes;
      StorageError g = txn.get(dbi_, device_keys_key(user, *device), bytes);
      if (g != StorageError::kOk) return g;
      DeviceKeys k;
      if ((g = decode_checked(bytes, user, *device, k)) != StorageError::kOk) return g;
      targets.push_back(std::move(k));
    } else {
      StorageError g = load_all(txn, dbi_, user, targets, corrupt);
      if (g != StorageError::kOk) return g;
    }
    for (DeviceKeys& k : targets) {
      const bool had_prekey = !k.one_time_prekeys.empty();
      bundles.push_back(take_bundle(k));
      if (!had_prekey) continue;
      StorageError p = txn.put(dbi_, device_keys_key(user, k.device), encode_device_keys(user, k));
      if (p != StorageError::kOk) return p;
    }
    return StorageError::kOk;
  });
  if (e != StorageError::kOk) return e;
  out = std::move(bundles);
  return corrupt ? StorageError::kCorrupt : StorageError::kOk;
}

StorageError LmdbKeyStore::retract(std::string_view user, uint32_t device) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kNotFound;
  const std::string key = device_keys_key(user, device);
  return env_.write([&](LmdbTxn& txn) { return txn.del(dbi_, key); });
}

StorageError LmdbKeyStore::remove_user(std::string_view user) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  const std::string prefix = device_keys_key_prefix(user);
  return env_.write([&](LmdbTxn& txn) {
    size_t deleted = 0;
    return txn.del_prefix(dbi_, prefix, deleted);
  });
}

}  // namespace xd::server
