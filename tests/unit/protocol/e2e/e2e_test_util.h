// Helpers shared by the end-to-end encryption tests: hex conversion and
// deterministic keys (seeded_random_for_test), so every run is identical.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/e2e/e2e_keys.h"

namespace xd::protocol::e2e::test {

// libsodium is initialised before any test runs.
inline const bool kSodiumReady = init();

inline std::vector<std::uint8_t> unhex(std::string_view h) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>((nib(h[i]) << 4) | nib(h[i + 1])));
  }
  return out;
}

template <typename Bytes>
std::string hex(const Bytes& b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    const auto v = static_cast<std::uint8_t>(c);
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

inline Key32 seed(std::uint8_t tag) {
  Key32 k{};
  k.fill(tag);
  return k;
}

// One device: identity, signed prekey 1 and one-time prekeys 1..10.
struct TestDevice {
  IdentityKeyPair identity;
  SignedPreKey signed_prekey;
  std::vector<OneTimePreKey> one_time;

  explicit TestDevice(const RandomFn& random) {
    identity = generate_identity(random);
    signed_prekey = generate_signed_prekey(identity, 1, random);
    one_time = generate_one_time_prekeys(1, 10, random);
  }

  PreKeyBundle bundle(bool with_one_time, std::size_t index = 0) const {
    PreKeyBundle b;
    b.device = 1;
    b.identity_key = identity.public_key;
    b.signed_prekey_id = signed_prekey.id;
    b.signed_prekey = signed_prekey.pair.public_key;
    b.signed_prekey_signature = signed_prekey.signature;
    if (with_one_time) {
      b.has_one_time_prekey = true;
      b.one_time_prekey_id = one_time[index].id;
      b.one_time_prekey = one_time[index].pair.public_key;
    }
    return b;
  }
};

}  // namespace xd::protocol::e2e::test
