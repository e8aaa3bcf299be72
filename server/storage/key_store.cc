#include "server/storage/key_store.h"

#include <unordered_map>
#include <unordered_set>

#include "protocol/e2e/key_directory.h"

namespace xd::server {

using protocol::e2e::DeviceKeys;
using protocol::e2e::PreKeyBundle;

StorageError validate_device_keys(const DeviceKeys& keys) {
  if (keys.device == 0 || keys.device > protocol::e2e::kMaxDeviceId ||
      keys.signed_prekey_id == 0) {
    return StorageError::kInvalid;
  }
  std::unordered_set<std::uint32_t> seen;
  for (const auto& [id, key] : keys.one_time_prekeys) {
    if (id == 0 || !seen.insert(id).second) return StorageError::kInvalid;
  }
  return StorageError::kOk;
}

PublishOutcome::Result merge_published_keys(const DeviceKeys* stored, std::size_t device_count,
                                            const DeviceKeys& incoming,
                                            const KeyStoreLimits& limits, DeviceKeys& merged) {
  using Result = PublishOutcome::Result;
  // spec/e2e-keys.md §3.2, in the order the spec lists the checks.
  if (stored == nullptr && device_count >= limits.max_devices) return Result::kTooManyDevices;
  if (stored != nullptr && stored->identity_key != incoming.identity_key) {
    // A reinstalled client picks a new device id; silently replacing the
    // identity would let whoever holds the password swap a device's key
    // under its contacts' feet (spec/e2e-keys.md §9).
    return Result::kIdentityConflict;
  }
  merged = incoming;
  merged.one_time_prekeys.clear();
  if (stored != nullptr) merged.one_time_prekeys = stored->one_time_prekeys;
  std::unordered_map<std::uint32_t, std::size_t> index;  // id -> position in merged
  for (std::size_t i = 0; i < merged.one_time_prekeys.size(); ++i) {
    index.emplace(merged.one_time_prekeys[i].first, i);
  }
  size_t added = 0;
  for (const auto& [id, key] : incoming.one_time_prekeys) {
    auto it = index.find(id);
    if (it != index.end()) {
      // The same key again is a retried publish; another key under a known
      // id would make the id ambiguous for the peer that claims it.
      if (merged.one_time_prekeys[it->second].second != key) return Result::kPreKeyConflict;
      continue;
    }
    merged.one_time_prekeys.emplace_back(id, key);
    ++added;
  }
  if (added > 0 && merged.one_time_prekeys.size() > limits.max_prekeys_per_device) {
    return Result::kTooManyPreKeys;
  }
  return Result::kStored;
}

PreKeyBundle take_bundle(DeviceKeys& keys) {
  PreKeyBundle b;
  b.device = keys.device;
  b.identity_key = keys.identity_key;
  b.signed_prekey_id = keys.signed_prekey_id;
  b.signed_prekey = keys.signed_prekey;
  b.signed_prekey_signature = keys.signed_prekey_signature;
  if (!keys.one_time_prekeys.empty()) {
    b.has_one_time_prekey = true;
    b.one_time_prekey_id = keys.one_time_prekeys.front().first;
    b.one_time_prekey = keys.one_time_prekeys.front().second;
    keys.one_time_prekeys.erase(keys.one_time_prekeys.begin());
  }
  return b;
}

}  // namespace xd::server
