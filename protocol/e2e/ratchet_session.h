// One Double Ratchet session with one remote device (spec/e2e.md §5), begun
// by X3DH (§4): encrypt turns a plaintext into envelope octets (§6),
// decrypt turns envelope octets back, detecting replays and tampering (§9).
// A failed decrypt leaves the session exactly as it was. The session is
// plain data that serializes to a versioned, bounded byte string; it never
// performs I/O, never reads a clock and needs randomness only to encrypt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/e2e/e2e_keys.h"
#include "protocol/e2e/x3dh.h"

namespace xd::protocol::e2e {

// Bounds of spec/e2e.md §5.6.
inline constexpr std::uint32_t kMaxSkip = 1000;
inline constexpr std::size_t kMaxStoredSkipped = 2000;
// Receiving ratchet keys remembered, besides the current one, to recognise
// replays of messages from chains that are over (spec/e2e.md §9.1).
inline constexpr std::size_t kPreviousReceivingKeys = 4;
// The longest plaintext encrypt() accepts: the envelope's ciphertext bound
// less the tag.
inline constexpr std::size_t kMaxSessionPlaintext = 1024 - 16;

// X(enumerator, name, message). Values occupy the reserved range
// [820, 839]. Every value but kOk leaves the session unchanged.
#define XD_DECRYPT_STATUSES(X)                                                             \
  X(kOk, "ok", "decrypted")                                                                \
  X(kDuplicate, "duplicate", "the message was already decrypted")                          \
  X(kUndecryptable, "undecryptable", "authentication failed: tampered or not for us")      \
  X(kMalformed, "malformed", "the envelope is not well-formed or not for this session")    \
  X(kTooManySkipped, "too-many-skipped", "the message skips more than 1000 message keys")  \
  X(kUnknownPreKey, "unknown-prekey", "the pre-key message names a prekey we do not have") \
  X(kBadSignature, "bad-signature", "the bundle's signed prekey signature does not verify")

enum class DecryptStatus : int {
  kFirst_ = 819,
#define XD_X(e, n, m) e,
  XD_DECRYPT_STATUSES(XD_X)
#undef XD_X
      kLast_,
};

// A stable lowercase name, e.g. "duplicate"; out-of-range values give
// "unknown".
std::string_view decrypt_status_name(DecryptStatus status);

class Session {
 public:
  Session() = default;
  ~Session();
  Session(const Session&) = default;
  Session& operator=(const Session&) = default;
  Session(Session&&) = default;
  Session& operator=(Session&&) = default;

  // Starts a session as the initiator (spec/e2e.md §4.3, §5.1) with the
  // claimed bundle |theirs|. Returns false, leaving |out| unchanged, when the
  // bundle's signature does not verify or a key is unusable. Until a message
  // from the peer decrypts, encrypt() produces pre-key envelopes.
  static bool initiate(const IdentityKeyPair& ours, const PreKeyBundle& theirs,
                       const RandomFn& random, Session& out);

  // Our prekeys by id; null when we do not hold that id. Called
  // synchronously within accept() only.
  struct AcceptKeys {
    std::function<const SignedPreKey*(std::uint32_t)> signed_prekey;
    std::function<const OneTimePreKey*(std::uint32_t)> one_time_prekey;
  };

  // The responder's side (spec/e2e.md §4.4, §5.1): X3DH from the pre-key
  // |envelope| and the first decrypt. On kOk, |out| is the new session,
  // |plaintext| the message and |used_one_time_prekey_id| the one-time
  // prekey to delete now (0: none). Otherwise nothing is written.
  // kUnknownPreKey: a named prekey is not held; kMalformed: not a pre-key
  // envelope or unusable keys; kUndecryptable: authentication failed.
  static DecryptStatus accept(const IdentityKeyPair& ours, const AcceptKeys& keys,
                              std::string_view envelope, Session& out, std::string& plaintext,
                              std::uint32_t& used_one_time_prekey_id);

  // Encrypts |plaintext| (at most kMaxSessionPlaintext octets) and returns
  // the envelope octets; an initiator sends pre-key envelopes until it has
  // decrypted a message from the peer (spec/e2e.md §5.3). Returns an empty
  // string, with the session unchanged, when |plaintext| is too long or the
  // sending chain is exhausted (2^32 - 1 messages). |random| is called only
  // when a DH ratchet step is due (§5.4).
  std::string encrypt(std::string_view plaintext, const RandomFn& random);

  // Decrypts one envelope of this session (spec/e2e.md §5.5, §9). Writes
  // |plaintext| only on kOk; any other status leaves the session unchanged.
  // A pre-key envelope is accepted when it carries this session's base key
  // and the peer's identity key.
  DecryptStatus decrypt(std::string_view envelope, std::string& plaintext);

  const Key32& remote_identity() const { return remote_identity_; }
  const Key32& local_identity() const { return local_identity_; }
  // True while we are the initiator and still send pre-key envelopes.
  bool is_initiator_pending() const { return initiator_pending_; }
  // The X3DH ephemeral public key of the session, which both sides know: a
  // pre-key envelope with this base key belongs to this session.
  Key32 base_key() const { return base_key_; }
  // Stored skipped message keys (spec/e2e.md §5.6), for tests and metrics.
  std::size_t skipped_key_count() const { return skipped_.size(); }

  // The session state (spec/e2e.md §5.7). It contains secrets: the caller
  // stores it as such.
  std::string serialize() const;
  // Parses |bytes| into |out|. Returns false, leaving |out| unchanged, on
  // any deviation from §5.7: unknown version or flags, a count above its
  // bound, a sending key pair that does not match, trailing octets.
  static bool deserialize(std::string_view bytes, Session& out);

  // Equality of every state field (tests).
  bool equals_for_test(const Session& other) const;

 private:
  struct SkippedKey {
    Key32 ratchet_key{};
    std::uint32_t n = 0;
    Key32 message_key{};
  };

  void wipe();
  // Encrypts or decrypts with message key |mk| (spec/e2e.md §5.4).
  std::string seal(const Key32& mk, std::string_view prefix, std::string_view plaintext) const;
  bool open(const Key32& mk, std::string_view prefix, std::string_view ciphertext,
            std::string& plaintext) const;
  DecryptStatus decrypt_parsed(std::string_view envelope, std::string& plaintext);
  void store_skipped(const std::vector<SkippedKey>& keys);

  bool initiator_ = false;
  bool initiator_pending_ = false;
  // The next encrypt() performs the sending half of a DH ratchet step.
  bool send_ratchet_pending_ = false;
  bool has_receiving_chain_ = false;
  bool has_sending_chain_ = false;
  Key32 local_identity_{};
  Key32 remote_identity_{};
  AssociatedData associated_data_{};
  Key32 base_key_{};
  std::uint32_t signed_prekey_id_ = 0;
  std::uint32_t one_time_prekey_id_ = 0;
  Key32 root_key_{};
  DhKeyPair sending_ratchet_;
  Key32 receiving_ratchet_key_{};
  Key32 sending_chain_key_{};
  Key32 receiving_chain_key_{};
  std::uint32_t sending_n_ = 0;
  std::uint32_t receiving_n_ = 0;
  std::uint32_t previous_sending_n_ = 0;
  std::vector<Key32> previous_receiving_keys_;  // newest last
  std::deque<SkippedKey> skipped_;              // oldest first
};

}  // namespace xd::protocol::e2e
