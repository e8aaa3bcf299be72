// E2eDevice: this client's end-to-end device (spec/e2e.md) on top of its
// ClientStore: the identity and device id (made on first use), the signed
// prekey and one-time prekeys it publishes (spec/e2e-keys.md §3), the
// Double Ratchet session with each remote device, trust on first use of
// remote identity keys, and the encryption and decryption of message
// payloads. Every change is written to the store. encrypt() and decrypt()
// open no transaction of their own: callers wrap each with the message row
// it belongs to in one ClientStore::transaction, so a crash never separates
// a ratchet step from its message. load_or_create() and start_session()
// are atomic on their own and must not be called inside a transaction.
// It does no I/O beyond the store and never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/store/client_store.h"
#include "protocol/e2e/e2e_keys.h"
#include "protocol/e2e/encrypted_element.h"

namespace xd::client {

// One remote device a message is encrypted to: a bare JID and device id.
struct DeviceAddress {
  std::string jid;
  std::uint32_t device = 0;
  bool operator<(const DeviceAddress& o) const {
    return jid != o.jid ? jid < o.jid : device < o.device;
  }
};

class E2eDevice {
 public:
  // One-time prekeys kept on the server: topped up to kPrekeyTarget when
  // fewer than kPrekeyLowWater remain (spec/e2e-keys.md §8).
  static constexpr std::size_t kPrekeyTarget = 100;
  static constexpr std::size_t kPrekeyLowWater = 25;

  E2eDevice(ClientStore& store, protocol::e2e::RandomFn random);

  // Loads the device, creating identity, device id, a signed prekey and no
  // one-time prekeys yet on first use.
  ClientStoreError load_or_create(std::int64_t now_ms);
  std::uint32_t device_id() const { return device_id_; }
  const protocol::e2e::IdentityKeyPair& identity() const { return identity_; }
  std::string fingerprint() const { return protocol::e2e::fingerprint(identity_.public_key); }

  // The keys to publish: identity, current signed prekey and |new_prekeys|
  // freshly made one-time prekeys (stored first, so a published key always
  // has its secret here).
  ClientStoreError publishable(std::size_t new_prekeys, protocol::e2e::DeviceKeys& out);

  // Starts a session with |peer|'s device from a claimed bundle. Refuses a
  // bundle whose signature does not verify. |identity_changed| tells the
  // caller that this device id presented another identity key before; the
  // new key is accepted (and remembered) as the user must be told.
  enum class StartResult { kOk, kBadBundle, kStoreError };
  StartResult start_session(const std::string& peer, const protocol::e2e::PreKeyBundle& bundle,
                            std::int64_t now_ms, bool& identity_changed);
  bool has_session(const std::string& peer, std::uint32_t device);
  std::vector<std::uint32_t> session_devices(const std::string& peer);
  void drop_session(const std::string& peer, std::uint32_t device);

  // Encrypts |text| once (spec/e2e.md §7) and its payload key to each of
  // |targets| that has a session (spec/e2e.md §8); saves the advanced
  // sessions. False on a store failure or when no target has a session.
  bool encrypt(const std::vector<DeviceAddress>& targets, std::string_view text,
               protocol::e2e::EncryptedMessage& out);

  enum class DecryptResult {
    kOk,
    kDuplicate,         // this device already decrypted it (spec/e2e.md §9)
    kNotForThisDevice,  // no <key/> for our device id
    kUndecryptable,     // no session, unknown prekey, tampered or malformed
    kStoreError,
  };
  // Decrypts |message| from |peer|'s device message.sid. On kOk the session
  // and used prekey are saved and |text| holds the body; |identity_changed|
  // is set when a new session came with a different identity key than the
  // one remembered for that device. |detail| says why for the others.
  DecryptResult decrypt(const std::string& peer, const protocol::e2e::EncryptedMessage& message,
                        std::int64_t now_ms, std::string& text, bool& identity_changed,
                        std::string& detail);

 private:
  DecryptResult decrypt_key(const std::string& peer, const protocol::e2e::EncryptedMessage& message,
                            const protocol::e2e::EncryptedKey& key, std::int64_t now_ms,
                            std::string& text, bool& identity_changed, std::string& detail);

  ClientStore* store_;
  protocol::e2e::RandomFn random_;
  std::uint32_t device_id_ = 0;
  protocol::e2e::IdentityKeyPair identity_;
};

}  // namespace xd::client
