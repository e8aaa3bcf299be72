#include "protocol/e2e/e2e_keys.h"

#include <sodium.h>

#include <cstring>
#include <memory>

namespace xd::protocol::e2e {

RandomFn system_random() {
  return [](std::uint8_t* out, std::size_t n) { randombytes_buf(out, n); };
}

RandomFn seeded_random_for_test(const Key32& seed) {
  // spec/e2e.md §11.1. The counter is shared by copies of the function,
  // so a copied RandomFn continues the same sequence instead of repeating it.
  auto counter = std::make_shared<std::uint64_t>(0);
  return [seed, counter](std::uint8_t* out, std::size_t n) {
    std::uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    std::uint64_t c = (*counter)++;
    for (std::size_t i = 0; i < sizeof nonce; ++i) {
      nonce[i] = static_cast<std::uint8_t>(c >> (8 * i));
    }
    crypto_stream_chacha20(out, n, nonce, seed.data());
  };
}

bool init() { return sodium_init() >= 0; }

// spec/e2e.md §3.1: the Ed25519 pair comes from a 32-octet random seed.
IdentityKeyPair generate_identity(const RandomFn& random) {
  IdentityKeyPair pair;
  std::uint8_t seed[crypto_sign_SEEDBYTES];
  random(seed, sizeof seed);
  crypto_sign_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed);
  sodium_memzero(seed, sizeof seed);
  return pair;
}

// spec/e2e.md §3.2: the X25519 secret is 32 random octets, used as is
// (crypto_scalarmult clamps when it uses it).
DhKeyPair generate_dh(const RandomFn& random) {
  DhKeyPair pair;
  random(pair.secret_key.data(), pair.secret_key.size());
  crypto_scalarmult_base(pair.public_key.data(), pair.secret_key.data());
  return pair;
}

SignedPreKey generate_signed_prekey(const IdentityKeyPair& identity, std::uint32_t id,
                                    const RandomFn& random) {
  SignedPreKey key;
  key.id = id;
  key.pair = generate_dh(random);
  crypto_sign_detached(key.signature.data(), nullptr, key.pair.public_key.data(),
                       key.pair.public_key.size(), identity.secret_key.data());
  return key;
}

std::vector<OneTimePreKey> generate_one_time_prekeys(std::uint32_t first_id, std::size_t count,
                                                     const RandomFn& random) {
  std::vector<OneTimePreKey> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    OneTimePreKey key;
    key.id = first_id + static_cast<std::uint32_t>(i);
    key.pair = generate_dh(random);
    keys.push_back(key);
  }
  return keys;
}

bool verify_signed_prekey(const Key32& identity_key, const Key32& signed_prekey,
                          const Sig64& signature) {
  // The identity key must also have an X25519 form, since X3DH uses it
  // (spec/e2e.md §4.1); libsodium refuses small-order and non-canonical
  // points in both calls.
  std::uint8_t x25519[crypto_scalarmult_BYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x25519, identity_key.data()) != 0) return false;
  return crypto_sign_verify_detached(signature.data(), signed_prekey.data(), signed_prekey.size(),
                                     identity_key.data()) == 0;
}

bool verify_bundle(const PreKeyBundle& bundle) {
  return verify_signed_prekey(bundle.identity_key, bundle.signed_prekey,
                              bundle.signed_prekey_signature);
}

// spec/e2e.md §3.4.
std::string fingerprint(const Key32& identity_key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(71);
  for (std::size_t i = 0; i < identity_key.size(); ++i) {
    if (i > 0 && i % 4 == 0) out.push_back(' ');
    out.push_back(kHex[identity_key[i] >> 4]);
    out.push_back(kHex[identity_key[i] & 0x0f]);
  }
  return out;
}

}  // namespace xd::protocol::e2e
