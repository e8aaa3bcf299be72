// The binary envelope of one Double Ratchet message (spec/e2e.md §6): a
// version, a type, the X3DH fields of a pre-key message, the ratchet header
// and the AEAD ciphertext. Parsing is bounds-checked and copies nothing: the
// parsed views point into the caller's bytes. Never performs I/O, never
// allocates while parsing, never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/e2e/e2e_keys.h"

namespace xd::protocol::e2e {

inline constexpr std::uint8_t kEnvelopeVersion = 0x01;
inline constexpr std::uint8_t kEnvelopeTypeMessage = 0x01;
inline constexpr std::uint8_t kEnvelopeTypePreKey = 0x02;
// The Poly1305 tag: the shortest ciphertext (an empty plaintext).
inline constexpr std::size_t kMinEnvelopeCiphertext = 16;
inline constexpr std::size_t kMaxEnvelopeCiphertext = 1024;
// Octets before the ciphertext (spec/e2e.md §6.1).
inline constexpr std::size_t kEnvelopeHeaderSize = 2 + 32 + 4 + 4;
inline constexpr std::size_t kPreKeyEnvelopeHeaderSize = kEnvelopeHeaderSize + 32 + 32 + 4 + 4;
inline constexpr std::size_t kMaxEnvelopeSize = kPreKeyEnvelopeHeaderSize + kMaxEnvelopeCiphertext;

// One parsed envelope. The two views point into the parsed bytes and are
// valid as long as those are.
struct Envelope {
  bool prekey = false;
  // Only meaningful when |prekey|.
  Key32 sender_identity{};
  Key32 base_key{};
  std::uint32_t signed_prekey_id = 0;
  std::uint32_t one_time_prekey_id = 0;  // 0: none was used
  // The ratchet header (spec/e2e.md §5.3).
  Key32 ratchet_key{};
  std::uint32_t previous_chain_length = 0;
  std::uint32_t message_number = 0;
  std::string_view ciphertext;
  // Every octet before |ciphertext|: authenticated as associated data.
  std::string_view authenticated_prefix;
};

// X(enumerator, name, message). Values occupy the reserved range
// [800, 819]. Fatal threshold: every value but kOk rejects the envelope;
// none affects anything beyond it.
#define XD_ENVELOPE_ERRORS(X)                                          \
  X(kOk, "ok", "the envelope is well-formed")                          \
  X(kTruncated, "truncated", "the envelope ends inside its header")    \
  X(kVersion, "version", "the envelope's version is not 1")            \
  X(kType, "type", "the envelope's type is unknown")                   \
  X(kTooLong, "too-long", "the ciphertext is longer than 1024 octets") \
  X(kTooShort, "too-short", "the ciphertext is shorter than its 16-octet tag")

enum class EnvelopeError : int {
  kFirst_ = 799,
#define XD_X(e, n, m) e,
  XD_ENVELOPE_ERRORS(XD_X)
#undef XD_X
      kLast_,
};

// A stable lowercase name for logs and tests, e.g. "truncated";
// out-of-range values give "unknown".
std::string_view envelope_error_name(EnvelopeError error);

// Parses |bytes| as one whole envelope (spec/e2e.md §6.2). On kOk, |out|
// holds the fields, with views into |bytes|; otherwise |out| is unspecified.
EnvelopeError parse_envelope(std::string_view bytes, Envelope& out);

// Appends the octets that precede the ciphertext for |header| (its
// |prekey| flag selects the type; |ciphertext| and |authenticated_prefix|
// are ignored) to |out|. The caller appends the ciphertext.
void append_envelope_header(const Envelope& header, std::string& out);

}  // namespace xd::protocol::e2e
