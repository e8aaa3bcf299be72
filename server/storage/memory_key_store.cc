#include "server/storage/memory_key_store.h"

#include "server/storage/account_store.h"

namespace xd::server {

using protocol::e2e::DeviceKeys;
using protocol::e2e::PreKeyBundle;

StorageError MemoryKeyStore::publish(std::string_view user, const DeviceKeys& keys,
                                     const KeyStoreLimits& limits, PublishOutcome& out) {
  if (validate_username(user) != StorageError::kOk ||
      validate_device_keys(keys) != StorageError::kOk) {
    return StorageError::kInvalid;
  }
  auto it = users_.find(user);
  const Devices* devices = it == users_.end() ? nullptr : &it->second;
  const DeviceKeys* stored = nullptr;
  if (devices != nullptr) {
    auto d = devices->find(keys.device);
    if (d != devices->end()) stored = &d->second;
  }
  DeviceKeys merged;
  out = PublishOutcome{};
  out.result = merge_published_keys(stored, devices ? devices->size() : 0, keys, limits, merged);
  if (out.result != PublishOutcome::Result::kStored) return StorageError::kOk;
  out.prekeys = merged.one_time_prekeys.size();
  if (it == users_.end()) it = users_.emplace(std::string(user), Devices{}).first;
  it->second.insert_or_assign(keys.device, std::move(merged));
  return StorageError::kOk;
}

StorageError MemoryKeyStore::devices(std::string_view user, std::vector<DeviceSummary>& out) {
  out.clear();
  auto it = users_.find(user);
  if (it == users_.end()) return StorageError::kOk;
  for (const auto& [id, keys] : it->second) out.push_back({id, keys.one_time_prekeys.size()});
  return StorageError::kOk;
}

StorageError MemoryKeyStore::claim(std::string_view user, std::optional<std::uint32_t> device,
                                   std::vector<PreKeyBundle>& out) {
  out.clear();
  auto it = users_.find(user);
  if (it == users_.end()) return device ? StorageError::kNotFound : StorageError::kOk;
  if (device) {
    auto d = it->second.find(*device);
    if (d == it->second.end()) return StorageError::kNotFound;
    out.push_back(take_bundle(d->second));
    return StorageError::kOk;
  }
  for (auto& [id, keys] : it->second) out.push_back(take_bundle(keys));
  return StorageError::kOk;
}

StorageError MemoryKeyStore::retract(std::string_view user, std::uint32_t device) {
  auto it = users_.find(user);
  if (it == users_.end() || it->second.erase(device) == 0) return StorageError::kNotFound;
  if (it->second.empty()) users_.erase(it);
  return StorageError::kOk;
}

StorageError MemoryKeyStore::remove_user(std::string_view user) {
  auto it = users_.find(user);
  if (it != users_.end()) users_.erase(it);
  return StorageError::kOk;
}

}  // namespace xd::server
