// The LMDB KeyStore: one record per (user, device) in the "e2e_keys"
// sub-database holding the device's public keys and its remaining one-time
// prekeys in publish order, keyed so that a user's devices are one prefix
// scan in device id order. A claim reads, trims and rewrites the records in
// one synchronous write transaction, so a one-time prekey that was handed
// out is gone from the disk before the answer leaves (spec/e2e-keys.md §4.2)
// and is never handed out again, even after a crash. It never keeps a
// transaction open between calls and never crashes on a corrupt record
// (kCorrupt).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/key_store.h"
#include "server/storage/lmdb/lmdb_env.h"

namespace xd::server {

// Sub-database name, fixed by the on-disk format.
inline constexpr std::string_view kLmdbKeysDb = "e2e_keys";

// The record type of a device (record_codec.h's numbering: high nibble
// type 8, version 1). Layout, integers little-endian as in record_codec.h:
//
//   device v1 = 0x81 str(user) u32(device) identity(32) u32(spk_id) spk(32)
//               signature(64) u32(count) (u32(id) key(32))*count
//
// Key: key_part(user) NUL, then the device id as 4 big-endian octets, so
// key order is device order.
inline constexpr uint8_t kDeviceKeysRecordV1 = 0x81;

std::string device_keys_key(std::string_view user, std::uint32_t device);
std::string device_keys_key_prefix(std::string_view user);

// The record for |keys| of |user| (both validated by the caller; asserted).
std::string encode_device_keys(std::string_view user, const protocol::e2e::DeviceKeys& keys);
// Fills |user| and |keys| from |bytes|: kOk, or kCorrupt when |bytes| is
// not exactly one well-formed v1 record whose values pass validation. The
// count is checked against the bytes left before anything is allocated.
StorageError decode_device_keys(std::string_view bytes, std::string& user,
                                protocol::e2e::DeviceKeys& keys);

class LmdbKeyStore final : public KeyStore {
 public:
  // Opens (creating if needed) the "e2e_keys" sub-database of |env| and sets
  // |out| to a store that borrows |env|, which must outlive it. On error
  // |out| is untouched.
  static StorageError open(LmdbEnv& env, std::unique_ptr<LmdbKeyStore>& out);

  StorageError publish(std::string_view user, const protocol::e2e::DeviceKeys& keys,
                       const KeyStoreLimits& limits, PublishOutcome& out) override;
  StorageError devices(std::string_view user, std::vector<DeviceSummary>& out) override;
  StorageError claim(std::string_view user, std::optional<std::uint32_t> device,
                     std::vector<protocol::e2e::PreKeyBundle>& out) override;
  StorageError retract(std::string_view user, std::uint32_t device) override;
  StorageError remove_user(std::string_view user) override;

 private:
  LmdbKeyStore(LmdbEnv& env, unsigned dbi) : env_(env), dbi_(dbi) {}

  LmdbEnv& env_;
  unsigned dbi_;
};

}  // namespace xd::server
