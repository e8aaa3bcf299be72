#include "protocol/e2e/payload.h"

#include <sodium.h>

namespace xd::protocol::e2e {
namespace {

constexpr std::string_view kPayloadAd = "xmppd-e2e-v1 payload";

static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kPayloadTagSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24);

}  // namespace

// spec/e2e.md §7.
SealedPayload seal_payload(std::string_view plaintext, const RandomFn& random) {
  SealedPayload out;
  if (plaintext.size() > kMaxPayloadPlaintext) return out;
  random(out.key.data(), out.key.size());
  random(out.iv.data(), out.iv.size());
  out.ciphertext.resize(plaintext.size() + kPayloadTagSize);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(out.ciphertext.data()), &len,
      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>(kPayloadAd.data()), kPayloadAd.size(), nullptr,
      out.iv.data(), out.key.data());
  out.ciphertext.resize(len);
  return out;
}

bool open_payload(const Key32& key, const std::array<std::uint8_t, 24>& iv,
                  std::string_view ciphertext, std::string& plaintext) {
  if (ciphertext.size() < kPayloadTagSize || ciphertext.size() > kMaxPayloadCiphertext) {
    return false;
  }
  std::string out(ciphertext.size() - kPayloadTagSize, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), &len, nullptr,
          reinterpret_cast<const unsigned char*>(ciphertext.data()), ciphertext.size(),
          reinterpret_cast<const unsigned char*>(kPayloadAd.data()), kPayloadAd.size(), iv.data(),
          key.data()) != 0) {
    return false;
  }
  out.resize(len);
  plaintext = std::move(out);
  return true;
}

}  // namespace xd::protocol::e2e
