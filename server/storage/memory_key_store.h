// The in-memory KeyStore: ordered maps with the same validation and publish
// rules as the LMDB backend (server/storage/key_store.h), so tests and
// single-process experiments run without a data directory. It never touches
// the disk, so nothing survives the object, and it never returns kFull or
// kIo.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/key_store.h"

namespace xd::server {

class MemoryKeyStore final : public KeyStore {
 public:
  StorageError publish(std::string_view user, const protocol::e2e::DeviceKeys& keys,
                       const KeyStoreLimits& limits, PublishOutcome& out) override;
  StorageError devices(std::string_view user, std::vector<DeviceSummary>& out) override;
  StorageError claim(std::string_view user, std::optional<std::uint32_t> device,
                     std::vector<protocol::e2e::PreKeyBundle>& out) override;
  StorageError retract(std::string_view user, std::uint32_t device) override;
  StorageError remove_user(std::string_view user) override;

 private:
  // Ordered by device id, so listings come out in the LMDB backend's order.
  using Devices = std::map<std::uint32_t, protocol::e2e::DeviceKeys>;
  std::map<std::string, Devices, std::less<>> users_;
};

}  // namespace xd::server
