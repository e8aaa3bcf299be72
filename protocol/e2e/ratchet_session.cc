#include "protocol/e2e/ratchet_session.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <limits>

#include "protocol/e2e/envelope.h"
#include "protocol/e2e/hkdf.h"
#include "protocol/name_table.h"

namespace xd::protocol::e2e {
namespace {

struct Entry {
  std::string_view name;
  std::string_view message;
};

constexpr Entry kEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_DECRYPT_STATUSES(XD_X)
#undef XD_X
};

static_assert(static_cast<int>(DecryptStatus::kFirst_) + 1 == 820 &&
                  static_cast<int>(DecryptStatus::kLast_) <= 840,
              "decrypt statuses own [820, 839]");

constexpr std::string_view kRatchetInfo = "xmppd-e2e-v1 ratchet";
constexpr std::string_view kMessageInfo = "xmppd-e2e-v1 message";
constexpr std::uint8_t kSessionStateVersion = 1;

// Flags octet of the serialized state (spec/e2e.md §5.7).
constexpr std::uint8_t kFlagInitiator = 0x01;
constexpr std::uint8_t kFlagInitiatorPending = 0x02;
constexpr std::uint8_t kFlagSendRatchetPending = 0x04;
constexpr std::uint8_t kFlagReceivingChain = 0x08;
constexpr std::uint8_t kFlagSendingChain = 0x10;
constexpr std::uint8_t kKnownFlags = 0x1f;

void wipe_key(Key32& k) { sodium_memzero(k.data(), k.size()); }

// Zeroes a set of keys when it goes out of scope.
template <size_t N>
struct Wiper {
  std::array<Key32*, N> keys;
  ~Wiper() {
    for (Key32* k : keys) wipe_key(*k);
  }
};

// KDF_RK (spec/e2e.md §5.2): HKDF(salt = root key, IKM = DH output,
// info = "xmppd-e2e-v1 ratchet") -> new root key || chain key.
void kdf_rk(const Key32& root_key, const Key32& dh_out, Key32& new_root, Key32& chain_key) {
  std::array<std::uint8_t, 64> okm;
  hkdf_sha256(root_key, dh_out, kRatchetInfo, okm);
  std::copy_n(okm.begin(), 32, new_root.begin());
  std::copy_n(okm.begin() + 32, 32, chain_key.begin());
  sodium_memzero(okm.data(), okm.size());
}

// KDF_CK (spec/e2e.md §5.2): message key = HMAC(ck, 0x01), next chain key
// = HMAC(ck, 0x02). |ck| is advanced in place.
void kdf_ck(Key32& ck, Key32& message_key) {
  static constexpr std::uint8_t kMessageByte[1] = {0x01};
  static constexpr std::uint8_t kChainByte[1] = {0x02};
  message_key = hmac_sha256(ck, kMessageByte);
  Key32 next = hmac_sha256(ck, kChainByte);
  ck = next;
  wipe_key(next);
}

bool same_key(const Key32& a, const Key32& b) {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Serialization helpers.
void put_u32(std::uint32_t v, std::string& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}
void put_key(const Key32& k, std::string& out) {
  out.append(reinterpret_cast<const char*>(k.data()), k.size());
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u8(std::uint8_t& v) {
    if (in_.size() - pos_ < 1) return false;
    v = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (in_.size() - pos_ < 2) return false;
    v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(in_[pos_]) << 8) |
                                   static_cast<std::uint8_t>(in_[pos_ + 1]));
    pos_ += 2;
    return true;
  }
  bool u32(std::uint32_t& v) {
    if (in_.size() - pos_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  bool key(Key32& k) {
    if (in_.size() - pos_ < k.size()) return false;
    std::copy_n(in_.begin() + static_cast<std::ptrdiff_t>(pos_), k.size(), k.begin());
    pos_ += k.size();
    return true;
  }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

AssociatedData make_ad(const Key32& initiator_identity, const Key32& responder_identity) {
  AssociatedData ad;
  std::copy(initiator_identity.begin(), initiator_identity.end(), ad.begin());
  std::copy(responder_identity.begin(), responder_identity.end(), ad.begin() + 32);
  return ad;
}

}  // namespace

std::string_view decrypt_status_name(DecryptStatus status) {
  const Entry* e = name_table_entry(kEntries, status);
  return e ? e->name : "unknown";
}

Session::~Session() { wipe(); }

void Session::wipe() {
  wipe_key(root_key_);
  wipe_key(sending_ratchet_.secret_key);
  wipe_key(sending_chain_key_);
  wipe_key(receiving_chain_key_);
  for (SkippedKey& s : skipped_) wipe_key(s.message_key);
}

bool Session::initiate(const IdentityKeyPair& ours, const PreKeyBundle& theirs,
                       const RandomFn& random, Session& out) {
  X3dhResult x3dh;
  DhKeyPair ephemeral;
  if (!x3dh_initiate(ours, theirs, random, x3dh, ephemeral)) return false;
  wipe_key(ephemeral.secret_key);  // spec/e2e.md §4.3: used once, then deleted

  // spec/e2e.md §5.1, initiator: a fresh sending ratchet key, the first
  // sending chain from DH(ratchet, SPK_B); no receiving chain yet.
  Session s;
  s.initiator_ = true;
  s.initiator_pending_ = true;
  s.local_identity_ = ours.public_key;
  s.remote_identity_ = theirs.identity_key;
  s.associated_data_ = x3dh.associated_data;
  s.base_key_ = ephemeral.public_key;
  s.signed_prekey_id_ = theirs.signed_prekey_id;
  s.one_time_prekey_id_ = theirs.has_one_time_prekey ? theirs.one_time_prekey_id : 0;
  s.sending_ratchet_ = generate_dh(random);
  Key32 dh;
  if (!x25519(s.sending_ratchet_.secret_key, theirs.signed_prekey, dh)) {
    wipe_key(x3dh.shared_secret);
    return false;
  }
  kdf_rk(x3dh.shared_secret, dh, s.root_key_, s.sending_chain_key_);
  s.has_sending_chain_ = true;
  wipe_key(dh);
  wipe_key(x3dh.shared_secret);
  out = std::move(s);
  return true;
}

DecryptStatus Session::accept(const IdentityKeyPair& ours, const AcceptKeys& keys,
                              std::string_view envelope, Session& out, std::string& plaintext,
                              std::uint32_t& used_one_time_prekey_id) {
  Envelope env;
  if (parse_envelope(envelope, env) != EnvelopeError::kOk || !env.prekey) {
    return DecryptStatus::kMalformed;
  }
  const SignedPreKey* spk = keys.signed_prekey ? keys.signed_prekey(env.signed_prekey_id) : nullptr;
  if (spk == nullptr) return DecryptStatus::kUnknownPreKey;
  const OneTimePreKey* opk = nullptr;
  if (env.one_time_prekey_id != 0) {
    opk = keys.one_time_prekey ? keys.one_time_prekey(env.one_time_prekey_id) : nullptr;
    if (opk == nullptr) return DecryptStatus::kUnknownPreKey;
  }
  X3dhResult x3dh;
  if (!x3dh_respond(ours, env.sender_identity, env.base_key, *spk, opk, x3dh)) {
    return DecryptStatus::kMalformed;
  }
  // spec/e2e.md §5.1, responder: the signed prekey is the first sending
  // ratchet key, SK the root key; the first message's ratchet key starts
  // the receiving chain.
  Session s;
  s.local_identity_ = ours.public_key;
  s.remote_identity_ = env.sender_identity;
  s.associated_data_ = x3dh.associated_data;
  s.base_key_ = env.base_key;
  s.signed_prekey_id_ = env.signed_prekey_id;
  s.one_time_prekey_id_ = env.one_time_prekey_id;
  s.root_key_ = x3dh.shared_secret;
  s.sending_ratchet_ = spk->pair;
  wipe_key(x3dh.shared_secret);
  std::string pt;
  const DecryptStatus status = s.decrypt_parsed(envelope, pt);
  if (status != DecryptStatus::kOk) return status;
  out = std::move(s);
  plaintext = std::move(pt);
  used_one_time_prekey_id = env.one_time_prekey_id;
  return DecryptStatus::kOk;
}

// spec/e2e.md §5.4: HKDF(zeros, mk, "xmppd-e2e-v1 message") gives the
// XChaCha20-Poly1305 key and nonce; AD = X3DH AD || envelope prefix.
std::string Session::seal(const Key32& mk, std::string_view prefix,
                          std::string_view plaintext) const {
  static constexpr std::uint8_t kZeroSalt[32] = {};
  std::array<std::uint8_t, 32 + 24> okm;
  hkdf_sha256(kZeroSalt, mk, kMessageInfo, okm);
  std::string ad(reinterpret_cast<const char*>(associated_data_.data()), associated_data_.size());
  ad.append(prefix);
  std::string out(plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(out.data()), &len,
      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, okm.data() + 32,
      okm.data());
  out.resize(len);
  sodium_memzero(okm.data(), okm.size());
  return out;
}

bool Session::open(const Key32& mk, std::string_view prefix, std::string_view ciphertext,
                   std::string& plaintext) const {
  if (ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) return false;
  static constexpr std::uint8_t kZeroSalt[32] = {};
  std::array<std::uint8_t, 32 + 24> okm;
  hkdf_sha256(kZeroSalt, mk, kMessageInfo, okm);
  std::string ad(reinterpret_cast<const char*>(associated_data_.data()), associated_data_.size());
  ad.append(prefix);
  std::string out(ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long len = 0;
  const int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<unsigned char*>(out.data()), &len, nullptr,
      reinterpret_cast<const unsigned char*>(ciphertext.data()), ciphertext.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), okm.data() + 32, okm.data());
  sodium_memzero(okm.data(), okm.size());
  if (rc != 0) return false;
  out.resize(len);
  plaintext = std::move(out);
  return true;
}

std::string Session::encrypt(std::string_view plaintext, const RandomFn& random) {
  if (plaintext.size() > kMaxSessionPlaintext) return {};
  if (send_ratchet_pending_) {
    // spec/e2e.md §5.4: the sending half of the DH ratchet step that the
    // last new receiving ratchet key made due.
    DhKeyPair next = generate_dh(random);
    Key32 dh, root, chain;
    Wiper<3> w{{&dh, &root, &chain}};
    if (!x25519(next.secret_key, receiving_ratchet_key_, dh)) {
      wipe_key(next.secret_key);
      return {};
    }
    kdf_rk(root_key_, dh, root, chain);
    wipe_key(sending_ratchet_.secret_key);
    sending_ratchet_ = next;
    wipe_key(next.secret_key);
    root_key_ = root;
    sending_chain_key_ = chain;
    previous_sending_n_ = sending_n_;
    sending_n_ = 0;
    has_sending_chain_ = true;
    send_ratchet_pending_ = false;
  }
  if (!has_sending_chain_ || sending_n_ == std::numeric_limits<std::uint32_t>::max()) return {};

  Key32 ck = sending_chain_key_;
  Key32 mk;
  Wiper<2> w{{&ck, &mk}};
  kdf_ck(ck, mk);

  // spec/e2e.md §5.3, §6.1.
  Envelope header;
  header.prekey = initiator_pending_;
  header.sender_identity = local_identity_;
  header.base_key = base_key_;
  header.signed_prekey_id = signed_prekey_id_;
  header.one_time_prekey_id = one_time_prekey_id_;
  header.ratchet_key = sending_ratchet_.public_key;
  header.previous_chain_length = previous_sending_n_;
  header.message_number = sending_n_;
  std::string out;
  append_envelope_header(header, out);
  out += seal(mk, out, plaintext);
  sending_chain_key_ = ck;
  ++sending_n_;
  return out;
}

DecryptStatus Session::decrypt(std::string_view envelope, std::string& plaintext) {
  return decrypt_parsed(envelope, plaintext);
}

// spec/e2e.md §5.5 and §9. Every path computes into locals and commits only
// after the AEAD tag has verified, so a failed decrypt changes nothing.
DecryptStatus Session::decrypt_parsed(std::string_view envelope, std::string& plaintext) {
  Envelope env;
  if (parse_envelope(envelope, env) != EnvelopeError::kOk) return DecryptStatus::kMalformed;
  if (env.prekey) {
    // §9.2: only the responder receives pre-key envelopes, and only those
    // of this session's X3DH run.
    if (initiator_ || !same_key(env.base_key, base_key_) ||
        !same_key(env.sender_identity, remote_identity_)) {
      return DecryptStatus::kMalformed;
    }
  }
  const std::uint32_t n = env.message_number;

  // §5.6: a stored skipped key.
  for (auto it = skipped_.begin(); it != skipped_.end(); ++it) {
    if (it->n == n && same_key(it->ratchet_key, env.ratchet_key)) {
      std::string pt;
      if (!open(it->message_key, env.authenticated_prefix, env.ciphertext, pt)) {
        return DecryptStatus::kUndecryptable;
      }
      wipe_key(it->message_key);
      skipped_.erase(it);
      plaintext = std::move(pt);
      return DecryptStatus::kOk;
    }
  }

  std::vector<SkippedKey> new_skipped;
  struct SkippedWiper {
    std::vector<SkippedKey>& v;
    ~SkippedWiper() {
      for (SkippedKey& s : v) wipe_key(s.message_key);
    }
  } skipped_wiper{new_skipped};
  Key32 ck, mk, root, dh;
  Wiper<4> w{{&ck, &mk, &root, &dh}};

  const bool current_chain =
      has_receiving_chain_ && same_key(env.ratchet_key, receiving_ratchet_key_);
  if (current_chain) {
    if (n < receiving_n_) return DecryptStatus::kDuplicate;  // §9.1
    if (n - receiving_n_ > kMaxSkip) return DecryptStatus::kTooManySkipped;
    ck = receiving_chain_key_;
    for (std::uint32_t i = receiving_n_; i < n; ++i) {
      SkippedKey s{env.ratchet_key, i, {}};
      kdf_ck(ck, s.message_key);
      new_skipped.push_back(s);
    }
    kdf_ck(ck, mk);
    std::string pt;
    if (!open(mk, env.authenticated_prefix, env.ciphertext, pt)) {
      return DecryptStatus::kUndecryptable;
    }
    receiving_chain_key_ = ck;
    receiving_n_ = n + 1;
    store_skipped(new_skipped);
    initiator_pending_ = false;
    plaintext = std::move(pt);
    return DecryptStatus::kOk;
  }

  for (const Key32& old : previous_receiving_keys_) {
    if (same_key(old, env.ratchet_key)) return DecryptStatus::kDuplicate;  // §9.1
  }

  // §5.5: a new ratchet key. First the rest of the current receiving chain
  // up to PN, then the receiving half of a DH ratchet step.
  if (has_receiving_chain_) {
    if (env.previous_chain_length > receiving_n_ &&
        env.previous_chain_length - receiving_n_ > kMaxSkip) {
      return DecryptStatus::kTooManySkipped;
    }
  }
  if (n > kMaxSkip) return DecryptStatus::kTooManySkipped;
  if (has_receiving_chain_) {
    ck = receiving_chain_key_;
    for (std::uint32_t i = receiving_n_; i < env.previous_chain_length; ++i) {
      SkippedKey s{receiving_ratchet_key_, i, {}};
      kdf_ck(ck, s.message_key);
      new_skipped.push_back(s);
    }
  }
  if (!x25519(sending_ratchet_.secret_key, env.ratchet_key, dh)) {
    return DecryptStatus::kUndecryptable;
  }
  kdf_rk(root_key_, dh, root, ck);
  for (std::uint32_t i = 0; i < n; ++i) {
    SkippedKey s{env.ratchet_key, i, {}};
    kdf_ck(ck, s.message_key);
    new_skipped.push_back(s);
  }
  kdf_ck(ck, mk);
  std::string pt;
  if (!open(mk, env.authenticated_prefix, env.ciphertext, pt)) {
    return DecryptStatus::kUndecryptable;
  }
  if (has_receiving_chain_) {
    previous_receiving_keys_.push_back(receiving_ratchet_key_);
    if (previous_receiving_keys_.size() > kPreviousReceivingKeys) {
      previous_receiving_keys_.erase(previous_receiving_keys_.begin());
    }
  }
  root_key_ = root;
  receiving_ratchet_key_ = env.ratchet_key;
  receiving_chain_key_ = ck;
  receiving_n_ = n + 1;
  has_receiving_chain_ = true;
  send_ratchet_pending_ = true;
  initiator_pending_ = false;
  store_skipped(new_skipped);
  plaintext = std::move(pt);
  return DecryptStatus::kOk;
}

// §5.6: at most kMaxStoredSkipped keys in all; the oldest go first.
void Session::store_skipped(const std::vector<SkippedKey>& keys) {
  for (const SkippedKey& s : keys) skipped_.push_back(s);
  while (skipped_.size() > kMaxStoredSkipped) {
    wipe_key(skipped_.front().message_key);
    skipped_.pop_front();
  }
}

// spec/e2e.md §5.7.
std::string Session::serialize() const {
  std::string out;
  out.reserve(2 + 32 * 9 + 4 * 5 + 1 + 32 * previous_receiving_keys_.size() + 2 +
              68 * skipped_.size());
  out.push_back(static_cast<char>(kSessionStateVersion));
  std::uint8_t flags = 0;
  if (initiator_) flags |= kFlagInitiator;
  if (initiator_pending_) flags |= kFlagInitiatorPending;
  if (send_ratchet_pending_) flags |= kFlagSendRatchetPending;
  if (has_receiving_chain_) flags |= kFlagReceivingChain;
  if (has_sending_chain_) flags |= kFlagSendingChain;
  out.push_back(static_cast<char>(flags));
  put_key(local_identity_, out);
  put_key(remote_identity_, out);
  put_key(base_key_, out);
  put_u32(signed_prekey_id_, out);
  put_u32(one_time_prekey_id_, out);
  put_key(root_key_, out);
  put_key(sending_ratchet_.public_key, out);
  put_key(sending_ratchet_.secret_key, out);
  put_key(receiving_ratchet_key_, out);
  put_key(sending_chain_key_, out);
  put_key(receiving_chain_key_, out);
  put_u32(sending_n_, out);
  put_u32(receiving_n_, out);
  put_u32(previous_sending_n_, out);
  out.push_back(static_cast<char>(previous_receiving_keys_.size()));
  for (const Key32& k : previous_receiving_keys_) put_key(k, out);
  out.push_back(static_cast<char>(skipped_.size() >> 8));
  out.push_back(static_cast<char>(skipped_.size()));
  for (const SkippedKey& s : skipped_) {
    put_key(s.ratchet_key, out);
    put_u32(s.n, out);
    put_key(s.message_key, out);
  }
  return out;
}

bool Session::deserialize(std::string_view bytes, Session& out) {
  Reader r(bytes);
  Session s;
  std::uint8_t version = 0, flags = 0;
  if (!r.u8(version) || version != kSessionStateVersion) return false;
  if (!r.u8(flags) || (flags & ~kKnownFlags) != 0) return false;
  s.initiator_ = (flags & kFlagInitiator) != 0;
  s.initiator_pending_ = (flags & kFlagInitiatorPending) != 0;
  s.send_ratchet_pending_ = (flags & kFlagSendRatchetPending) != 0;
  s.has_receiving_chain_ = (flags & kFlagReceivingChain) != 0;
  s.has_sending_chain_ = (flags & kFlagSendingChain) != 0;
  // Only an initiator sends pre-key envelopes; a pending send step needs
  // the receiving ratchet key it is computed against; a session that can
  // neither send nor become able to is not one encrypt() could use.
  if (s.initiator_pending_ && !s.initiator_) return false;
  if (s.send_ratchet_pending_ && !s.has_receiving_chain_) return false;
  if (!s.has_sending_chain_ && !s.send_ratchet_pending_) return false;
  if (!r.key(s.local_identity_) || !r.key(s.remote_identity_) || !r.key(s.base_key_) ||
      !r.u32(s.signed_prekey_id_) || !r.u32(s.one_time_prekey_id_) || !r.key(s.root_key_) ||
      !r.key(s.sending_ratchet_.public_key) || !r.key(s.sending_ratchet_.secret_key) ||
      !r.key(s.receiving_ratchet_key_) || !r.key(s.sending_chain_key_) ||
      !r.key(s.receiving_chain_key_) || !r.u32(s.sending_n_) || !r.u32(s.receiving_n_) ||
      !r.u32(s.previous_sending_n_)) {
    return false;
  }
  Key32 check;
  crypto_scalarmult_base(check.data(), s.sending_ratchet_.secret_key.data());
  if (!same_key(check, s.sending_ratchet_.public_key)) return false;
  Key32 x;
  if (crypto_sign_ed25519_pk_to_curve25519(x.data(), s.remote_identity_.data()) != 0 ||
      crypto_sign_ed25519_pk_to_curve25519(x.data(), s.local_identity_.data()) != 0) {
    return false;
  }
  std::uint8_t previous = 0;
  if (!r.u8(previous) || previous > kPreviousReceivingKeys) return false;
  s.previous_receiving_keys_.resize(previous);
  for (Key32& k : s.previous_receiving_keys_) {
    if (!r.key(k)) return false;
  }
  std::uint16_t skipped = 0;
  if (!r.u16(skipped) || skipped > kMaxStoredSkipped) return false;
  for (std::uint16_t i = 0; i < skipped; ++i) {
    SkippedKey k;
    if (!r.key(k.ratchet_key) || !r.u32(k.n) || !r.key(k.message_key)) return false;
    s.skipped_.push_back(k);
    wipe_key(k.message_key);
  }
  if (!r.at_end()) return false;
  s.associated_data_ = s.initiator_ ? make_ad(s.local_identity_, s.remote_identity_)
                                    : make_ad(s.remote_identity_, s.local_identity_);
  out = std::move(s);
  return true;
}

bool Session::equals_for_test(const Session& o) const {
  if (skipped_.size() != o.skipped_.size()) return false;
  for (std::size_t i = 0; i < skipped_.size(); ++i) {
    if (skipped_[i].ratchet_key != o.skipped_[i].ratchet_key || skipped_[i].n != o.skipped_[i].n ||
        skipped_[i].message_key != o.skipped_[i].message_key) {
      return false;
    }
  }
  return initiator_ == o.initiator_ && initiator_pending_ == o.initiator_pending_ &&
         send_ratchet_pending_ == o.send_ratchet_pending_ &&
         has_receiving_chain_ == o.has_receiving_chain_ &&
         has_sending_chain_ == o.has_sending_chain_ && local_identity_ == o.local_identity_ &&
         remote_identity_ == o.remote_identity_ && associated_data_ == o.associated_data_ &&
         base_key_ == o.base_key_ && signed_prekey_id_ == o.signed_prekey_id_ &&
         one_time_prekey_id_ == o.one_time_prekey_id_ && root_key_ == o.root_key_ &&
         sending_ratchet_.public_key == o.sending_ratchet_.public_key &&
         sending_ratchet_.secret_key == o.sending_ratchet_.secret_key &&
         receiving_ratchet_key_ == o.receiving_ratchet_key_ &&
         sending_chain_key_ == o.sending_chain_key_ &&
         receiving_chain_key_ == o.receiving_chain_key_ && sending_n_ == o.sending_n_ &&
         receiving_n_ == o.receiving_n_ && previous_sending_n_ == o.previous_sending_n_ &&
         previous_receiving_keys_ == o.previous_receiving_keys_;
}

}  // namespace xd::protocol::e2e
