// End-to-end key bundles of a cluster (spec/e2e-keys.md, docs/cluster.md
// §3): the KeyStore interface over the replicated JetStream key-value
// bucket xd_keys, so a device's keys published on one node are claimed on
// any. One key per user (the hex of the enforced localpart) holds all the
// user's devices; every change, a claim's prekey removal included, is a
// compare-and-set on that key's revision, so a one-time prekey is never
// handed out twice even when two nodes claim at once (spec §4.2). Blocking
// round trips to NATS on the loop thread. Never sees a private key.
#pragma once

#include <nats/nats.h>

#include <string>
#include <vector>

#include "server/storage/key_store.h"

namespace xd::server {

// The stored form of one user's devices: the count, then each device's
// record as LMDB stores it (lmdb_key_store.h), length-prefixed. Strict
// decoding (kCorrupt on anything malformed or naming another user).
std::string encode_user_devices(std::string_view user,
                                const std::vector<protocol::e2e::DeviceKeys>& devices);
StorageError decode_user_devices(std::string_view bytes, std::string_view user,
                                 std::vector<protocol::e2e::DeviceKeys>& devices);

class KvKeyStore final : public KeyStore {
 public:
  // |kv| is owned by the NatsLink, which outlives the store.
  explicit KvKeyStore(kvStore* kv) : kv_(kv) {}

  StorageError publish(std::string_view user, const protocol::e2e::DeviceKeys& keys,
                       const KeyStoreLimits& limits, PublishOutcome& out) override;
  StorageError devices(std::string_view user, std::vector<DeviceSummary>& out) override;
  StorageError claim(std::string_view user, std::optional<std::uint32_t> device,
                     std::vector<protocol::e2e::PreKeyBundle>& out) override;
  StorageError retract(std::string_view user, std::uint32_t device) override;
  StorageError remove_user(std::string_view user) override;

 private:
  kvStore* kv_;
};

}  // namespace xd::server
