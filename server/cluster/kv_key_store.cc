#include "server/cluster/kv_key_store.h"

#include <algorithm>

#include "server/cluster/kv_record.h"
#include "server/cluster/nats_link.h"
#include "server/storage/account_store.h"
#include "server/storage/lmdb/lmdb_key_store.h"

namespace xd::server {

using protocol::e2e::DeviceKeys;
using protocol::e2e::PreKeyBundle;

namespace {

// Devices per user the decoder accepts (a bound for corrupt input; the
// module's limit, e2e_max_devices, is far below).
constexpr uint32_t kMaxDevices = 4096;

auto by_id(uint32_t device) {
  return [device](const DeviceKeys& k) { return k.device == device; };
}

}  // namespace

std::string encode_user_devices(std::string_view user, const std::vector<DeviceKeys>& devices) {
  std::string out;
  append_u32(out, static_cast<uint32_t>(devices.size()));
  for (const DeviceKeys& k : devices) append_framed(out, encode_device_keys(user, k));
  return out;
}

StorageError decode_user_devices(std::string_view bytes, std::string_view user,
                                 std::vector<DeviceKeys>& devices) {
  devices.clear();
  uint32_t n = 0;
  if (!take_u32(bytes, n) || n > kMaxDevices) return StorageError::kCorrupt;
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view record;
    std::string owner;
    DeviceKeys k;
    if (!take_framed(bytes, record) || decode_device_keys(record, owner, k) != StorageError::kOk ||
        owner != user) {
      return StorageError::kCorrupt;
    }
    devices.push_back(std::move(k));
  }
  return bytes.empty() ? StorageError::kOk : StorageError::kCorrupt;
}

StorageError KvKeyStore::publish(std::string_view user, const DeviceKeys& keys,
                                 const KeyStoreLimits& limits, PublishOutcome& out) {
  if (validate_username(user) != StorageError::kOk ||
      validate_device_keys(keys) != StorageError::kOk) {
    return StorageError::kInvalid;
  }
  return kv_update(kv_, hex_token(user),
                   [&](const std::string& current, bool exists, std::string& value, bool& write) {
                     out = PublishOutcome{};
                     std::vector<DeviceKeys> all;
                     if (exists) {
                       if (StorageError e = decode_user_devices(current, user, all);
                           e != StorageError::kOk) {
                         return e;
                       }
                     }
                     auto it = std::find_if(all.begin(), all.end(), by_id(keys.device));
                     DeviceKeys merged;
                     out.result = merge_published_keys(it == all.end() ? nullptr : &*it, all.size(),
                                                       keys, limits, merged);
                     if (out.result != PublishOutcome::Result::kStored) return StorageError::kOk;
                     out.prekeys = merged.one_time_prekeys.size();
                     if (it == all.end()) {
                       all.push_back(std::move(merged));
                       std::sort(all.begin(), all.end(),
                                 [](const auto& a, const auto& b) { return a.device < b.device; });
                     } else {
                       *it = std::move(merged);
                     }
                     value = encode_user_devices(user, all);
                     write = true;
                     return StorageError::kOk;
                   });
}

StorageError KvKeyStore::devices(std::string_view user, std::vector<DeviceSummary>& out) {
  out.clear();
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  std::string value;
  uint64_t revision = 0;
  StorageError e = kv_read(kv_, hex_token(user), value, revision);
  if (e == StorageError::kNotFound) return StorageError::kOk;
  if (e != StorageError::kOk) return e;
  std::vector<DeviceKeys> all;
  if ((e = decode_user_devices(value, user, all)) != StorageError::kOk) return e;
  for (const DeviceKeys& k : all) out.push_back({k.device, k.one_time_prekeys.size()});
  return StorageError::kOk;
}

StorageError KvKeyStore::claim(std::string_view user, std::optional<uint32_t> device,
                               std::vector<PreKeyBundle>& out) {
  out.clear();
  if (validate_username(user) != StorageError::kOk) {
    return device ? StorageError::kNotFound : StorageError::kOk;
  }
  std::vector<PreKeyBundle> bundles;
  // spec §4.2: the bundles are handed out only after the write that removed
  // their prekeys succeeded; a lost race reads again and takes others.
  StorageError e = kv_update(
      kv_, hex_token(user),
      [&](const std::string& current, bool exists, std::string& value, bool& write) {
        bundles.clear();
        std::vector<DeviceKeys> all;
        if (exists) {
          if (StorageError d = decode_user_devices(current, user, all); d != StorageError::kOk) {
            return d;
          }
        }
        bool taken = false;
        for (DeviceKeys& k : all) {
          if (device && k.device != *device) continue;
          taken = taken || !k.one_time_prekeys.empty();
          bundles.push_back(take_bundle(k));
        }
        if (device && bundles.empty()) return StorageError::kNotFound;
        write = taken;
        if (taken) value = encode_user_devices(user, all);
        return StorageError::kOk;
      });
  if (e != StorageError::kOk) return e;
  out = std::move(bundles);
  return StorageError::kOk;
}

StorageError KvKeyStore::retract(std::string_view user, uint32_t device) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kNotFound;
  return kv_update(kv_, hex_token(user),
                   [&](const std::string& current, bool exists, std::string& value, bool& write) {
                     std::vector<DeviceKeys> all;
                     if (exists) {
                       if (StorageError d = decode_user_devices(current, user, all);
                           d != StorageError::kOk) {
                         return d;
                       }
                     }
                     auto it = std::find_if(all.begin(), all.end(), by_id(device));
                     if (it == all.end()) return StorageError::kNotFound;
                     all.erase(it);
                     value = encode_user_devices(user, all);
                     write = true;
                     return StorageError::kOk;
                   });
}

StorageError KvKeyStore::remove_user(std::string_view user) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  return kv_update(kv_, hex_token(user),
                   [&](const std::string&, bool exists, std::string& value, bool& write) {
                     // An empty device list rather than a delete: one path
                     // for every change, and the key's revision keeps
                     // ordering concurrent writers.
                     write = exists;
                     value = encode_user_devices(user, {});
                     return StorageError::kOk;
                   });
}

}  // namespace xd::server
