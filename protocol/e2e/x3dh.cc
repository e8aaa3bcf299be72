#include "protocol/e2e/x3dh.h"

#include <sodium.h>

#include <algorithm>
#include <string_view>

#include "protocol/e2e/hkdf.h"

namespace xd::protocol::e2e {
namespace {

constexpr std::string_view kX3dhInfo = "xmppd-e2e-v1 X3DH";

// The IKM of spec/e2e.md §4.3: 32 0xFF octets, then DH1..DH3 and the
// optional DH4. Wiped by its destructor.
struct Ikm {
  std::array<std::uint8_t, 32 * 5> bytes{};
  std::size_t size = 0;
  Ikm() {
    std::fill_n(bytes.begin(), 32, 0xff);
    size = 32;
  }
  ~Ikm() { sodium_memzero(bytes.data(), bytes.size()); }
  Ikm(const Ikm&) = delete;
  Ikm& operator=(const Ikm&) = delete;
  bool add_dh(const Key32& secret, const Key32& public_key) {
    Key32 dh;
    if (!x25519(secret, public_key, dh)) return false;
    std::copy(dh.begin(), dh.end(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
    size += dh.size();
    sodium_memzero(dh.data(), dh.size());
    return true;
  }
};

// spec/e2e.md §4.1: the X25519 forms of the Ed25519 identity keys.
bool identity_public_x25519(const Key32& ed25519, Key32& out) {
  return crypto_sign_ed25519_pk_to_curve25519(out.data(), ed25519.data()) == 0;
}

void identity_secret_x25519(const IdentityKeyPair& ours, Key32& out) {
  crypto_sign_ed25519_sk_to_curve25519(out.data(), ours.secret_key.data());
}

bool derive(const Ikm& ikm, const Key32& initiator_identity, const Key32& responder_identity,
            X3dhResult& out) {
  static constexpr std::uint8_t kZeroSalt[32] = {};
  if (!hkdf_sha256(kZeroSalt, std::span<const std::uint8_t>(ikm.bytes.data(), ikm.size), kX3dhInfo,
                   out.shared_secret)) {
    return false;
  }
  std::copy(initiator_identity.begin(), initiator_identity.end(), out.associated_data.begin());
  std::copy(responder_identity.begin(), responder_identity.end(), out.associated_data.begin() + 32);
  return true;
}

}  // namespace

bool x25519(const Key32& secret, const Key32& public_key, Key32& out) {
  // libsodium returns -1 exactly when the output is all zeros.
  if (crypto_scalarmult(out.data(), secret.data(), public_key.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return false;
  }
  return true;
}

// spec/e2e.md §4.3.
bool x3dh_initiate(const IdentityKeyPair& ours, const PreKeyBundle& theirs, const RandomFn& random,
                   X3dhResult& out, DhKeyPair& out_ephemeral) {
  out = X3dhResult{};
  if (!verify_bundle(theirs)) return false;
  Key32 their_ik;
  if (!identity_public_x25519(theirs.identity_key, their_ik)) return false;
  Key32 our_ik;
  identity_secret_x25519(ours, our_ik);
  DhKeyPair ek = generate_dh(random);
  Ikm ikm;
  bool ok = ikm.add_dh(our_ik, theirs.signed_prekey) &&       // DH1 = DH(IK_A, SPK_B)
            ikm.add_dh(ek.secret_key, their_ik) &&            // DH2 = DH(EK_A, IK_B)
            ikm.add_dh(ek.secret_key, theirs.signed_prekey);  // DH3 = DH(EK_A, SPK_B)
  if (ok && theirs.has_one_time_prekey) {
    ok = ikm.add_dh(ek.secret_key, theirs.one_time_prekey);  // DH4 = DH(EK_A, OPK_B)
  }
  ok = ok && derive(ikm, ours.public_key, theirs.identity_key, out);
  sodium_memzero(our_ik.data(), our_ik.size());
  if (!ok) {
    sodium_memzero(ek.secret_key.data(), ek.secret_key.size());
    out = X3dhResult{};
    return false;
  }
  out_ephemeral = ek;
  sodium_memzero(ek.secret_key.data(), ek.secret_key.size());
  return true;
}

// spec/e2e.md §4.4: the same four DH values with the roles swapped.
bool x3dh_respond(const IdentityKeyPair& ours, const Key32& their_identity,
                  const Key32& their_base_key, const SignedPreKey& signed_prekey,
                  const OneTimePreKey* one_time_prekey, X3dhResult& out) {
  out = X3dhResult{};
  Key32 their_ik;
  if (!identity_public_x25519(their_identity, their_ik)) return false;
  Key32 our_ik;
  identity_secret_x25519(ours, our_ik);
  Ikm ikm;
  bool ok = ikm.add_dh(signed_prekey.pair.secret_key, their_ik) &&      // DH1
            ikm.add_dh(our_ik, their_base_key) &&                       // DH2
            ikm.add_dh(signed_prekey.pair.secret_key, their_base_key);  // DH3
  if (ok && one_time_prekey != nullptr) {
    ok = ikm.add_dh(one_time_prekey->pair.secret_key, their_base_key);  // DH4
  }
  ok = ok && derive(ikm, their_identity, ours.public_key, out);
  sodium_memzero(our_ik.data(), our_ik.size());
  if (!ok) out = X3dhResult{};
  return ok;
}

}  // namespace xd::protocol::e2e
