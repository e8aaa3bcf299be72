// The compact dialect's wire constants and the varint both directions use
// (spec/compact.md §4, §5). One place for every byte value the spec
// assigns, so the encoder, decoder and tests cannot disagree. Pure
// constants and arithmetic: no allocation, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace xd::protocol::compact {

// spec §3.2: the direct-mode preface, "XC" + protocol version +
// dictionary version + capability flags.
inline constexpr uint8_t kPrefaceMagic0 = 0x58;  // 'X'
inline constexpr uint8_t kPrefaceMagic1 = 0x43;  // 'C'
inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kPrefaceBytes = 5;
inline constexpr uint8_t kPrefaceCompression = 0x01;  // capability: zstd frames accepted
inline constexpr uint8_t kPrefaceReserved = 0xFE;

// spec §3.1: the namespace of the negotiation elements and of the
// dialect's own nonzas (§9).
inline constexpr std::string_view kCompactNs = "urn:xmppd:compact:1";
// spec §3.1: the only compression algorithm name defined by version 1.
inline constexpr std::string_view kCompressionZstd = "zstd";

// spec §4.2: the flags byte of a frame.
enum class FrameKind : uint8_t {
  kElement = 0,    // a stanza or nonza
  kOpen = 1,       // a stream header (direct mode only)
  kClose = 2,      // </stream:stream>; empty body
  kKeepalive = 3,  // whitespace keepalive; empty body
};
inline constexpr uint8_t kFrameKindMask = 0x03;
inline constexpr uint8_t kFrameCompressed = 0x04;
inline constexpr uint8_t kFrameReserved = 0xF8;

// spec §5.4: the type byte of a string value.
inline constexpr uint8_t kTypeEmpty = 0x00;
inline constexpr uint8_t kTypeTokenFirst = 0x01;  // 0x01..0xEB: primary token 1..235
inline constexpr uint8_t kTypeTokenLast = 0xEB;
inline constexpr uint8_t kTypeToken2 = 0xEC;     // secondary token: 236 + next byte
inline constexpr uint8_t kTypeJid = 0xED;        // typed JID (§5.8)
inline constexpr uint8_t kTypeNibble = 0xEE;     // packed "0-9-.:TZ+" (§5.5)
inline constexpr uint8_t kTypeHexLower = 0xEF;   // packed lowercase hex (§5.5)
inline constexpr uint8_t kTypeRaw = 0xF0;        // varint length + UTF-8
inline constexpr uint8_t kTypeBinary = 0xF1;     // varint length + bytes, text is base64 (§5.7)
inline constexpr uint8_t kTypeElement = 0xF2;    // in a child list: an element follows
inline constexpr uint8_t kTypeHexUpper = 0xF3;   // packed uppercase hex (§5.5)
inline constexpr uint8_t kTypeUuid = 0xF4;       // 16 bytes, canonical lowercase UUID (§5.6)
inline constexpr uint8_t kTypeQualified = 0xF5;  // in an attribute list: namespaced attribute
// 0xF6..0xFF are reserved (§13).

inline constexpr uint16_t kPrimaryTokens = 235;
inline constexpr uint16_t kMaxTokens = 235 + 256;

// spec §5.1: the element header byte.
inline constexpr uint8_t kHdrAttrMask = 0x0F;  // attribute count 0..14; 15 = varint follows
inline constexpr uint8_t kHdrAttrEscape = 0x0F;
inline constexpr uint8_t kHdrNamespace = 0x10;  // an explicit namespace follows the name
inline constexpr uint8_t kHdrChildren = 0x20;   // a child count and the children follow
inline constexpr uint8_t kHdrReserved = 0xC0;

// spec §5.8: the JID flags byte.
inline constexpr uint8_t kJidLocal = 0x01;
inline constexpr uint8_t kJidResource = 0x02;
inline constexpr uint8_t kJidStreamDomain = 0x04;
inline constexpr uint8_t kJidReserved = 0xF8;

// spec §5.5: the nibble alphabet (16 symbols, index = nibble value).
inline constexpr std::string_view kNibbleAlphabet = "0123456789-.:TZ+";

// spec §4.1: unsigned LEB128, at most 5 bytes, at most 2^32 - 1, minimal.
inline constexpr size_t kMaxVarintBytes = 5;

inline size_t varint_size(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline void append_varint(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

enum class VarintResult { kOk, kNeedMore, kBad };

// Reads a varint from [p, end). On kOk, |value| is set and |p| advanced.
// kNeedMore: the bytes end inside a varint that may still be valid.
// kBad: longer than 5 bytes, above 2^32 - 1, or not minimal (a last byte
// of 0 after the first).
inline VarintResult read_varint(const uint8_t*& p, const uint8_t* end, uint32_t& value) {
  uint64_t v = 0;
  const uint8_t* q = p;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (q == end) return VarintResult::kNeedMore;
    const uint8_t b = *q++;
    v |= static_cast<uint64_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      if (i > 0 && b == 0) return VarintResult::kBad;
      if (v > 0xFFFFFFFFu) return VarintResult::kBad;
      value = static_cast<uint32_t>(v);
      p = q;
      return VarintResult::kOk;
    }
  }
  return VarintResult::kBad;
}

}  // namespace xd::protocol::compact
