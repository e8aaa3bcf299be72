// HKDF with HMAC-SHA-256 (RFC 5869), the only key-derivation function of
// end-to-end encryption (spec/e2e.md §4.3, §5.2, §5.4). libsodium 1.0.18 has
// no HKDF, so it is built here on crypto_auth_hmacsha256. Pure functions:
// never performs I/O, never keeps state, never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "protocol/e2e/e2e_keys.h"

namespace xd::protocol::e2e {

inline constexpr std::size_t kHkdfHashLength = 32;
inline constexpr std::size_t kHkdfMaxOutput = 255 * kHkdfHashLength;

// HMAC-SHA-256 of |message| under |key| (any key length).
Key32 hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message);

// HKDF-Extract (RFC 5869 §2.2). An empty |salt| means 32 zero octets.
Key32 hkdf_extract(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm);

// HKDF-Expand (RFC 5869 §2.3): fills all of |out|. |info| is any octet
// string. Returns false, leaving |out| zeroed, when |out| is longer than
// kHkdfMaxOutput.
bool hkdf_expand(const Key32& prk, std::string_view info, std::span<std::uint8_t> out);

// Extract then expand. Same contract as hkdf_expand; the intermediate PRK
// is wiped.
bool hkdf_sha256(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
                 std::string_view info, std::span<std::uint8_t> out);

}  // namespace xd::protocol::e2e
