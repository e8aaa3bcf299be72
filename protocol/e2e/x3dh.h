// The X3DH key agreement (spec/e2e.md §4): the initiator combines its
// identity key and a fresh ephemeral key with the responder's claimed
// bundle; the responder repeats the computation from a pre-key envelope's
// fields and its own prekeys. Both end with the same 32-octet secret that
// seeds the Double Ratchet, and the 64-octet associated data that binds
// both identities to every message. Pure math: never performs I/O, never
// keeps state; randomness comes from the caller.
#pragma once

#include <array>
#include <cstdint>

#include "protocol/e2e/e2e_keys.h"

namespace xd::protocol::e2e {

inline constexpr std::size_t kAssociatedDataSize = 64;
using AssociatedData = std::array<std::uint8_t, kAssociatedDataSize>;

// What X3DH yields (spec/e2e.md §4.3, §4.4). |shared_secret| is SK.
struct X3dhResult {
  Key32 shared_secret{};
  // IK_A || IK_B: the initiator's then the responder's Ed25519 identity key.
  AssociatedData associated_data{};
};

// The initiator's side. |ephemeral| is generated from |random| and returned
// in |out_ephemeral|: its public half is the envelope's base key. Returns
// false, with |out| zeroed, when the bundle's signature does not verify, a
// key has no valid X25519 form, or any DH output is all zeros.
bool x3dh_initiate(const IdentityKeyPair& ours, const PreKeyBundle& theirs, const RandomFn& random,
                   X3dhResult& out, DhKeyPair& out_ephemeral);

// The responder's side: |their_identity| and |their_base_key| come from the
// pre-key envelope, |signed_prekey| and |one_time_prekey| (null when the
// envelope names none) from our own store. Same failure contract.
bool x3dh_respond(const IdentityKeyPair& ours, const Key32& their_identity,
                  const Key32& their_base_key, const SignedPreKey& signed_prekey,
                  const OneTimePreKey* one_time_prekey, X3dhResult& out);

// X25519 of |secret| and |public_key| into |out|: false (|out| zeroed) when
// the result is all zeros, i.e. |public_key| has small order (spec/e2e.md
// §4.2).
bool x25519(const Key32& secret, const Key32& public_key, Key32& out);

}  // namespace xd::protocol::e2e
