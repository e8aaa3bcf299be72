#include "protocol/sasl/base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>

namespace xd::protocol {
namespace {

// Maps an alphabet character to its 6-bit value, or -1. Written as ranges
// rather than a table so that the strictness rules are visible.
int sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  if (bytes.empty()) return out;
  // EVP_EncodeBlock writes 4 * ceil(n / 3) characters plus a NUL and inserts
  // no line breaks, unlike the EVP_EncodeUpdate streaming API. It takes an
  // int length, so encode in chunks that are whole 3-byte groups.
  constexpr size_t kChunk = 3 * 1024 * 1024;
  out.resize(4 * ((bytes.size() + 2) / 3) + 1);
  size_t written = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += kChunk) {
    size_t n = std::min(kChunk, bytes.size() - pos);
    int w = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                            reinterpret_cast<const unsigned char*>(bytes.data() + pos),
                            static_cast<int>(n));
    written += static_cast<size_t>(w);
  }
  out.resize(written);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const auto* q = reinterpret_cast<const unsigned char*>(text.data() + i);
    // Padding is legal only in the final quantum: "xx==" or "xxx=".
    int pad = 0;
    if (last) {
      if (q[3] == '=') pad = (q[2] == '=') ? 2 : 1;
    }
    int v[4] = {0, 0, 0, 0};
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = sextet(q[k]);
      if (v[k] < 0) return std::nullopt;  // also rejects '=' in the middle
    }
    uint32_t group = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                     (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    // Non-canonical trailing bits (RFC 4648 §3.5): "QQ==" and "QR==" must not
    // both decode to "A", or two spellings of one c= value would exist.
    if (pad == 2 && (v[1] & 0x0f) != 0) return std::nullopt;
    if (pad == 1 && (v[2] & 0x03) != 0) return std::nullopt;
    out.push_back(static_cast<char>((group >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((group >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(group & 0xff));
  }
  return out;
}

}  // namespace xd::protocol
