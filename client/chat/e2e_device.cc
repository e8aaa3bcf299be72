#include "client/chat/e2e_device.h"

#include <sodium.h>

#include <utility>

#include "protocol/e2e/envelope.h"
#include "protocol/e2e/payload.h"
#include "protocol/e2e/ratchet_session.h"

namespace xd::client {

namespace e2e = protocol::e2e;

E2eDevice::E2eDevice(ClientStore& store, e2e::RandomFn random)
    : store_(&store), random_(std::move(random)) {}

ClientStoreError E2eDevice::load_or_create(std::int64_t now_ms) {
  ClientStoreError e = store_->device(device_id_);
  if (e == ClientStoreError::kOk) return store_->load_identity(identity_);
  if (e != ClientStoreError::kNotFound) return e;
  // spec/e2e-keys.md §3: a device id is random in 1 .. 2^31-1, so two
  // devices of one account practically never collide, and a reinstalled
  // client is a new device.
  std::uint32_t id = 0;
  while (id == 0) {
    random_(reinterpret_cast<std::uint8_t*>(&id), sizeof id);
    id &= e2e::kMaxDeviceId;
  }
  identity_ = e2e::generate_identity(random_);
  const e2e::SignedPreKey spk = e2e::generate_signed_prekey(identity_, 1, random_);
  e = store_->transaction([&] {
    return store_->save_identity(identity_) == ClientStoreError::kOk &&
           store_->save_signed_prekey(spk, now_ms) == ClientStoreError::kOk &&
           store_->set_device(id) == ClientStoreError::kOk;
  });
  if (e != ClientStoreError::kOk) return e;
  device_id_ = id;
  return ClientStoreError::kOk;
}

ClientStoreError E2eDevice::publishable(std::size_t new_prekeys, e2e::DeviceKeys& out) {
  e2e::SignedPreKey spk;
  ClientStoreError e = store_->current_signed_prekey(spk);
  if (e != ClientStoreError::kOk) return e;
  out = e2e::DeviceKeys{};
  out.device = device_id_;
  out.identity_key = identity_.public_key;
  out.signed_prekey_id = spk.id;
  out.signed_prekey = spk.pair.public_key;
  out.signed_prekey_signature = spk.signature;
  if (new_prekeys == 0) return ClientStoreError::kOk;
  std::uint32_t first = 0;
  e = store_->next_prekey_id(first, static_cast<std::uint32_t>(new_prekeys));
  if (e != ClientStoreError::kOk) return e;
  std::vector<e2e::OneTimePreKey> keys =
      e2e::generate_one_time_prekeys(first, new_prekeys, random_);
  e = store_->save_one_time_prekeys(keys);
  if (e == ClientStoreError::kOk) {
    for (const auto& k : keys) out.one_time_prekeys.emplace_back(k.id, k.pair.public_key);
  }
  for (auto& k : keys) sodium_memzero(k.pair.secret_key.data(), k.pair.secret_key.size());
  return e;
}

E2eDevice::StartResult E2eDevice::start_session(const std::string& peer,
                                                const e2e::PreKeyBundle& bundle,
                                                std::int64_t now_ms, bool& identity_changed) {
  identity_changed = false;
  e2e::Session session;
  if (!e2e::Session::initiate(identity_, bundle, random_, session)) return StartResult::kBadBundle;
  bool changed = false;
  const ClientStoreError e = store_->transaction([&] {
    ClientStoreError r =
        store_->remember_identity(peer, bundle.device, bundle.identity_key, now_ms);
    if (r == ClientStoreError::kIdentityChanged) {
      changed = true;
      r = store_->replace_identity(peer, bundle.device, bundle.identity_key, now_ms);
    }
    return r == ClientStoreError::kOk &&
           store_->save_session(peer, bundle.device, session.serialize()) == ClientStoreError::kOk;
  });
  // Reported only when the change was committed.
  identity_changed = e == ClientStoreError::kOk && changed;
  return e == ClientStoreError::kOk ? StartResult::kOk : StartResult::kStoreError;
}

bool E2eDevice::has_session(const std::string& peer, std::uint32_t device) {
  std::string state;
  return store_->load_session(peer, device, state) == ClientStoreError::kOk;
}

std::vector<std::uint32_t> E2eDevice::session_devices(const std::string& peer) {
  std::vector<std::uint32_t> out;
  if (store_->session_devices(peer, out) != ClientStoreError::kOk) out.clear();
  return out;
}

void E2eDevice::drop_session(const std::string& peer, std::uint32_t device) {
  (void)store_->delete_session(peer, device);
}

bool E2eDevice::encrypt(const std::vector<DeviceAddress>& targets, std::string_view text,
                        e2e::EncryptedMessage& out) {
  e2e::SealedPayload sealed = e2e::seal_payload(text, random_);
  if (sealed.ciphertext.empty()) return false;
  out = e2e::EncryptedMessage{};
  out.sid = device_id_;
  out.iv = sealed.iv;
  out.payload = std::move(sealed.ciphertext);
  const std::string_view payload_key(reinterpret_cast<const char*>(sealed.key.data()),
                                     sealed.key.size());
  for (const DeviceAddress& t : targets) {
    std::string state;
    if (store_->load_session(t.jid, t.device, state) != ClientStoreError::kOk) continue;
    e2e::Session session;
    if (!e2e::Session::deserialize(state, session)) continue;
    std::string envelope = session.encrypt(payload_key, random_);
    if (store_->save_session(t.jid, t.device, session.serialize()) != ClientStoreError::kOk) {
      sodium_memzero(sealed.key.data(), sealed.key.size());
      return false;
    }
    out.keys.push_back(e2e::EncryptedKey{t.device, std::move(envelope)});
  }
  sodium_memzero(sealed.key.data(), sealed.key.size());
  return !out.keys.empty();
}

E2eDevice::DecryptResult E2eDevice::decrypt(const std::string& peer,
                                            const e2e::EncryptedMessage& message,
                                            std::int64_t now_ms, std::string& text,
                                            bool& identity_changed, std::string& detail) {
  identity_changed = false;
  // spec/e2e.md §8.1: device ids are per account, so a key for another
  // account's device may carry our id too; try each until one is ours.
  DecryptResult result = DecryptResult::kNotForThisDevice;
  detail = "not encrypted for this device";
  for (const auto& k : message.keys) {
    if (k.rid != device_id_) continue;
    result = decrypt_key(peer, message, k, now_ms, text, identity_changed, detail);
    if (result != DecryptResult::kUndecryptable) break;
  }
  return result;
}

E2eDevice::DecryptResult E2eDevice::decrypt_key(const std::string& peer,
                                                const e2e::EncryptedMessage& message,
                                                const e2e::EncryptedKey& key_element,
                                                std::int64_t now_ms, std::string& text,
                                                bool& identity_changed, std::string& detail) {
  const e2e::EncryptedKey* ours = &key_element;
  e2e::Envelope envelope;
  if (e2e::parse_envelope(ours->envelope, envelope) != e2e::EnvelopeError::kOk) {
    detail = "malformed envelope";
    return DecryptResult::kUndecryptable;
  }
  std::string payload_key;
  e2e::Session session;
  std::string state;
  const bool have_session =
      store_->load_session(peer, message.sid, state) == ClientStoreError::kOk &&
      e2e::Session::deserialize(state, session);
  e2e::DecryptStatus status = e2e::DecryptStatus::kMalformed;
  std::uint32_t used_prekey = 0;
  bool new_session = false;
  if (envelope.prekey && !(have_session && session.base_key() == envelope.base_key)) {
    // spec/e2e.md §4.3: a new session from a pre-key envelope (X3DH as
    // responder). Our prekeys are looked up by id; the copies live here
    // until accept() returns.
    e2e::SignedPreKey spk;
    e2e::OneTimePreKey otpk;
    e2e::Session::AcceptKeys keys;
    keys.signed_prekey = [&](std::uint32_t id) -> const e2e::SignedPreKey* {
      return store_->load_signed_prekey(id, spk) == ClientStoreError::kOk ? &spk : nullptr;
    };
    keys.one_time_prekey = [&](std::uint32_t id) -> const e2e::OneTimePreKey* {
      return store_->load_one_time_prekey(id, otpk) == ClientStoreError::kOk ? &otpk : nullptr;
    };
    e2e::Session fresh;
    status = e2e::Session::accept(identity_, keys, ours->envelope, fresh, payload_key, used_prekey);
    sodium_memzero(spk.pair.secret_key.data(), spk.pair.secret_key.size());
    sodium_memzero(otpk.pair.secret_key.data(), otpk.pair.secret_key.size());
    if (status == e2e::DecryptStatus::kOk) {
      session = std::move(fresh);
      new_session = true;
    }
  } else if (have_session) {
    status = session.decrypt(ours->envelope, payload_key);
  } else {
    detail = "no session with " + peer + " device " + std::to_string(message.sid);
    return DecryptResult::kUndecryptable;
  }
  if (status == e2e::DecryptStatus::kDuplicate) return DecryptResult::kDuplicate;
  if (status != e2e::DecryptStatus::kOk) {
    detail = std::string(e2e::decrypt_status_name(status));
    return DecryptResult::kUndecryptable;
  }
  e2e::Key32 key{};
  if (payload_key.size() != key.size()) {
    sodium_memzero(payload_key.data(), payload_key.size());
    detail = "payload key of the wrong size";
    return DecryptResult::kUndecryptable;
  }
  std::copy(payload_key.begin(), payload_key.end(), key.begin());
  sodium_memzero(payload_key.data(), payload_key.size());
  const bool opened = e2e::open_payload(key, message.iv, message.payload, text);
  sodium_memzero(key.data(), key.size());
  if (!opened) {
    // The key was genuine but the payload was not: someone changed it on
    // the way. The session step stands (the envelope was authentic).
    detail = "payload does not authenticate";
  }
  ClientStoreError e = ClientStoreError::kOk;
  if (new_session) {
    e = store_->remember_identity(peer, message.sid, session.remote_identity(), now_ms);
    if (e == ClientStoreError::kIdentityChanged) {
      identity_changed = true;
      e = store_->replace_identity(peer, message.sid, session.remote_identity(), now_ms);
    }
    if (e == ClientStoreError::kOk && used_prekey != 0) {
      // spec/e2e.md §3.3: a one-time prekey is used once.
      e = store_->delete_one_time_prekey(used_prekey);
      if (e == ClientStoreError::kNotFound) e = ClientStoreError::kOk;
    }
  }
  if (e == ClientStoreError::kOk) e = store_->save_session(peer, message.sid, session.serialize());
  if (e != ClientStoreError::kOk) {
    detail = std::string(client_store_error_message(e));
    return DecryptResult::kStoreError;
  }
  return opened ? DecryptResult::kOk : DecryptResult::kUndecryptable;
}

}  // namespace xd::client
