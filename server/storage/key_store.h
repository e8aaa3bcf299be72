// The per-device end-to-end key directory (spec/e2e-keys.md): each account's
// devices with their identity key, signed prekey and one-time prekeys, the
// interface every backend implements, and the rules a publish follows. The
// store keeps public keys only; it never sees a private key, never verifies
// signatures (protocol/e2e/key_directory.h did, before the store is asked),
// never throws, and hands each one-time prekey out at most once, deleting it
// in the same transaction that reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/e2e/e2e_keys.h"
#include "server/storage/storage_error.h"

namespace xd::server {

// The caps of spec/e2e-keys.md §8, from the [limits] settings
// e2e_max_devices and e2e_max_prekeys.
struct KeyStoreLimits {
  std::size_t max_devices = 16;              // devices per account
  std::size_t max_prekeys_per_device = 100;  // one-time prekeys stored per device
};

// What a publish did (spec/e2e-keys.md §3.2). Anything but kStored left the
// store unchanged.
struct PublishOutcome {
  enum class Result {
    kStored,            // the device's keys are stored
    kIdentityConflict,  // the device exists with another identity key (conflict)
    kPreKeyConflict,    // a one-time prekey id is stored with another key (conflict)
    kTooManyDevices,    // a new device beyond max_devices (resource-constraint)
    kTooManyPreKeys,    // more than max_prekeys_per_device after the add (resource-constraint)
  };
  Result result = Result::kStored;
  // On kStored: the one-time prekeys now stored for the device.
  std::size_t prekeys = 0;
};

// One device of an account and its remaining one-time prekeys.
struct DeviceSummary {
  std::uint32_t device = 0;
  std::size_t prekeys = 0;
};

// kOk when |keys| can be stored: a device id in 1..2^31-1, a signed prekey
// id other than 0, one-time prekey ids other than 0 and none twice. kInvalid
// otherwise. Every backend calls it, so all refuse the same input; it does
// not check the signature.
StorageError validate_device_keys(const protocol::e2e::DeviceKeys& keys);

// The publish rules of spec/e2e-keys.md §3.2 as a pure function, so every
// backend applies exactly the same ones: |stored| is the device's current
// record (null for a new device), |device_count| the number of devices the
// account has now, |incoming| a publish that passed validate_device_keys.
// On kStored |merged| is the record to write (the stored one-time prekeys
// in their order, then the new ones in the publish's order); otherwise
// |merged| is unspecified and nothing may be written. Adding nothing never
// trips the prekey cap, so a signed prekey rotation still works after the
// cap was lowered below what a device holds.
PublishOutcome::Result merge_published_keys(const protocol::e2e::DeviceKeys* stored,
                                            std::size_t device_count,
                                            const protocol::e2e::DeviceKeys& incoming,
                                            const KeyStoreLimits& limits,
                                            protocol::e2e::DeviceKeys& merged);

// The bundle a claim hands out for |keys| (spec/e2e-keys.md §4.2): the
// device's keys and, if any is left, its oldest one-time prekey, which is
// removed from |keys| (the caller then writes |keys| back in the same
// transaction).
protocol::e2e::PreKeyBundle take_bundle(protocol::e2e::DeviceKeys& keys);

// The key directory. Users are enforced localparts of local accounts; the
// store does not check that the account exists (the module does, and
// account removal calls remove_user). Used from one thread at a time; never
// calls back. The caller owns every argument and output. Every write is one
// synchronous transaction (LMDB): when it returns kOk the change is on disk.
class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // Publishes |keys| for |user| following spec/e2e-keys.md §3.2 and
  // |limits|: a new device is created if the account has fewer than
  // max_devices; an existing one must keep its identity key, gets the new
  // signed prekey, and gains the listed one-time prekeys (an id already
  // stored with the same key is idempotent). kOk with |out| telling what
  // happened; only |out.result| == kStored changed anything. kInvalid per
  // validate_username / validate_device_keys, kFull when out of space
  // (nothing changed), kCorrupt when the device's stored record is
  // unreadable, kIo on a failed commit (fatal).
  virtual StorageError publish(std::string_view user, const protocol::e2e::DeviceKeys& keys,
                               const KeyStoreLimits& limits, PublishOutcome& out) = 0;

  // Replaces |out| with |user|'s devices in increasing id order and the
  // number of one-time prekeys each has left. No devices: kOk and empty.
  // kCorrupt if a record is unreadable (|out| then holds the readable ones).
  virtual StorageError devices(std::string_view user, std::vector<DeviceSummary>& out) = 0;

  // Claims one bundle per device of |user| (only |device| when set), in
  // increasing device id order, into |out| (replaced): each with the
  // device's oldest one-time prekey, which is deleted in the same write
  // transaction, or without one when none is left (spec/e2e-keys.md §4.2).
  // kOk (empty |out| when the user has no device); kNotFound when |device|
  // is set and unknown; kFull / kIo as for publish, and then no prekey was
  // handed out: |out| is empty. kCorrupt if a record is unreadable: |out|
  // then holds the bundles of the readable devices, whose prekeys are gone
  // from the store all the same, so the caller should still send them.
  virtual StorageError claim(std::string_view user, std::optional<std::uint32_t> device,
                             std::vector<protocol::e2e::PreKeyBundle>& out) = 0;

  // Deletes |device| of |user| with all its keys (spec/e2e-keys.md §6).
  // kNotFound if there is no such device.
  virtual StorageError retract(std::string_view user, std::uint32_t device) = 0;

  // Deletes every device of |user| (account removal). kOk also when there
  // was none.
  virtual StorageError remove_user(std::string_view user) = 0;
};

}  // namespace xd::server
