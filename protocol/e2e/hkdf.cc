#include "protocol/e2e/hkdf.h"

#include <sodium.h>

#include <algorithm>

namespace xd::protocol::e2e {

Key32 hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, message.data(), message.size());
  Key32 out;
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
  return out;
}

Key32 hkdf_extract(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm) {
  // RFC 5869 §2.2: "if not provided, [salt] is set to a string of HashLen
  // zeros". HMAC pads short keys with zeros, so this only documents intent.
  static constexpr std::uint8_t kZeros[kHkdfHashLength] = {};
  if (salt.empty()) salt = kZeros;
  return hmac_sha256(salt, ikm);
}

bool hkdf_expand(const Key32& prk, std::string_view info, std::span<std::uint8_t> out) {
  std::fill(out.begin(), out.end(), 0);
  if (out.size() > kHkdfMaxOutput) return false;
  // T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty (RFC 5869 §2.3).
  std::uint8_t t[kHkdfHashLength];
  std::size_t t_len = 0;
  std::size_t done = 0;
  for (std::uint8_t i = 1; done < out.size(); ++i) {
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, prk.data(), prk.size());
    crypto_auth_hmacsha256_update(&st, t, t_len);
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const std::uint8_t*>(info.data()),
                                  info.size());
    crypto_auth_hmacsha256_update(&st, &i, 1);
    crypto_auth_hmacsha256_final(&st, t);
    sodium_memzero(&st, sizeof st);
    t_len = sizeof t;
    const std::size_t n = std::min(sizeof t, out.size() - done);
    std::copy(t, t + n, out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
  }
  sodium_memzero(t, sizeof t);
  return true;
}

bool hkdf_sha256(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
                 std::string_view info, std::span<std::uint8_t> out) {
  Key32 prk = hkdf_extract(salt, ikm);
  const bool ok = hkdf_expand(prk, info, out);
  sodium_memzero(prk.data(), prk.size());
  return ok;
}

}  // namespace xd::protocol::e2e
