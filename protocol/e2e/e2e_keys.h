// The key material of end-to-end encryption (spec/e2e.md §3): a device's
// Ed25519 identity key, its signed X25519 prekey and one-time X25519
// prekeys, and the bundle the server hands out for one device
// (spec/e2e-keys.md). Plain data and the libsodium calls that make and
// check it. Randomness always comes from the caller (RandomFn) so the
// spec's test vectors are reproducible; this unit never reads a clock,
// never does I/O and never keeps global state beyond libsodium's own
// initialisation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace xd::protocol::e2e {

using Key32 = std::array<std::uint8_t, 32>;

// The namespace of everything end-to-end on the wire: the <encrypted/>
// element (spec/e2e.md §8) and the key directory (spec/e2e-keys.md).
inline constexpr std::string_view kE2eNs = "urn:xmppd:e2e:1";

// Device ids are 1 .. 2^31 - 1 (spec/e2e-keys.md §3), prekey ids never 0.
inline constexpr std::uint32_t kMaxDeviceId = 0x7fffffff;
using Sig64 = std::array<std::uint8_t, 64>;

// Fills |out| with |n| octets of randomness: randombytes_buf in production,
// a seeded stream in tests and vector generators.
using RandomFn = std::function<void(std::uint8_t* out, std::size_t n)>;

// The production RandomFn (libsodium's randombytes_buf).
RandomFn system_random();

// A deterministic RandomFn for tests and the test-vector generator
// (spec/e2e.md §11.1): call i (counting from 0) of the returned function
// yields the first n octets of the ChaCha20 keystream (the original
// 64-bit-nonce variant) under key |seed| with the nonce i encoded as 8
// little-endian octets. Never for production keys.
RandomFn seeded_random_for_test(const Key32& seed);

// sodium_init(); false when libsodium cannot be used. Idempotent; every
// entry point of this directory assumes it returned true once.
bool init();

// A device's long-term identity (spec/e2e.md §3.1): an Ed25519 pair. Its
// X25519 form for X3DH is derived (crypto_sign_ed25519_*_to_curve25519).
struct IdentityKeyPair {
  Key32 public_key{};
  std::array<std::uint8_t, 64> secret_key{};  // libsodium's seed||public form
};

// An X25519 pair (prekeys, ephemeral and ratchet keys).
struct DhKeyPair {
  Key32 public_key{};
  Key32 secret_key{};
};

// A medium-term prekey signed by the identity key (spec/e2e.md §3.2): the
// Ed25519 signature covers the 32 public-key octets.
struct SignedPreKey {
  std::uint32_t id = 0;
  DhKeyPair pair;
  Sig64 signature{};
};

// A one-time prekey (spec/e2e.md §3.3); ids are never 0.
struct OneTimePreKey {
  std::uint32_t id = 0;
  DhKeyPair pair;
};

// The public half of one device's keys as published (spec/e2e-keys.md §3):
// identity, signed prekey and any number of one-time prekeys.
struct DeviceKeys {
  std::uint32_t device = 0;  // 1 .. 2^31-1
  Key32 identity_key{};
  std::uint32_t signed_prekey_id = 0;
  Key32 signed_prekey{};
  Sig64 signed_prekey_signature{};
  std::vector<std::pair<std::uint32_t, Key32>> one_time_prekeys;
};

// What a claim returns for one device (spec/e2e-keys.md §4): the device's
// keys with at most one one-time prekey, which the server has deleted.
struct PreKeyBundle {
  std::uint32_t device = 0;
  Key32 identity_key{};
  std::uint32_t signed_prekey_id = 0;
  Key32 signed_prekey{};
  Sig64 signed_prekey_signature{};
  bool has_one_time_prekey = false;
  std::uint32_t one_time_prekey_id = 0;
  Key32 one_time_prekey{};
};

IdentityKeyPair generate_identity(const RandomFn& random);
DhKeyPair generate_dh(const RandomFn& random);
SignedPreKey generate_signed_prekey(const IdentityKeyPair& identity, std::uint32_t id,
                                    const RandomFn& random);
// |count| one-time prekeys with ids first_id, first_id + 1, ...
std::vector<OneTimePreKey> generate_one_time_prekeys(std::uint32_t first_id, std::size_t count,
                                                     const RandomFn& random);

// True when the signed prekey's signature verifies under the identity key
// (and the identity key is a valid Ed25519 point).
bool verify_signed_prekey(const Key32& identity_key, const Key32& signed_prekey,
                          const Sig64& signature);
bool verify_bundle(const PreKeyBundle& bundle);

// The identity key as people compare it (spec/e2e.md §3.4): 64 lowercase
// hex digits in eight groups of eight separated by spaces.
std::string fingerprint(const Key32& identity_key);

}  // namespace xd::protocol::e2e
