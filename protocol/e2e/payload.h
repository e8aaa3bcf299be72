// The encrypted message body (spec/e2e.md §7): the body is sealed once with
// a fresh random key and nonce, and only that 32-octet key travels through
// each recipient device's Double Ratchet session. Pure functions: never
// performs I/O, never keeps state; randomness comes from the caller.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/e2e/e2e_keys.h"

namespace xd::protocol::e2e {

inline constexpr std::size_t kMaxPayloadPlaintext = 64 * 1024;
inline constexpr std::size_t kPayloadTagSize = 16;
inline constexpr std::size_t kMaxPayloadCiphertext = kMaxPayloadPlaintext + kPayloadTagSize;

struct SealedPayload {
  Key32 key{};
  std::array<std::uint8_t, 24> iv{};
  std::string ciphertext;  // tag included
};

// Seals |plaintext| with XChaCha20-Poly1305-IETF under a key and nonce drawn
// from |random| (key first, then nonce), with associated data
// "xmppd-e2e-v1 payload". A |plaintext| longer than kMaxPayloadPlaintext is
// the caller's error: the result then has an empty |ciphertext| (which no
// open_payload accepts) and a zero key.
SealedPayload seal_payload(std::string_view plaintext, const RandomFn& random);

// Opens |ciphertext|. Returns false, leaving |plaintext| unchanged, when it
// is shorter than the tag, longer than kMaxPayloadCiphertext or does not
// authenticate.
bool open_payload(const Key32& key, const std::array<std::uint8_t, 24>& iv,
                  std::string_view ciphertext, std::string& plaintext);

}  // namespace xd::protocol::e2e
