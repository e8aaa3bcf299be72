// The XML form of an end-to-end encrypted message and of the retry receipt
// (spec/e2e.md §8): builds and parses the <encrypted/> and <retry/> children
// of a <message/>, with the bounds of §8.3 checked before anything is
// decoded. Octets only: this unit never decrypts, never performs I/O and
// never throws.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/e2e/e2e_keys.h"
#include "protocol/e2e/envelope.h"
#include "protocol/xml/element.h"

namespace xd::protocol::e2e {

// Bounds of spec/e2e.md §8.3.
inline constexpr std::size_t kMaxEncryptedKeys = 64;
// The largest envelope §6 allows, so every well-formed envelope fits.
inline constexpr std::size_t kMaxKeyEnvelope = kMaxEnvelopeSize;
inline constexpr std::size_t kMaxEncryptedPayload = 64 * 1024 + 16;

struct EncryptedKey {
  std::uint32_t rid = 0;
  std::string envelope;  // raw octets (spec/e2e.md §6)
};

struct EncryptedMessage {
  std::uint32_t sid = 0;
  std::vector<EncryptedKey> keys;
  std::array<std::uint8_t, 24> iv{};
  std::string payload;  // raw ciphertext, tag included (spec/e2e.md §7)
};

// Appends <encrypted xmlns='urn:xmppd:e2e:1'>…</encrypted> for |encrypted|
// to |message|. Does not check the bounds: the caller builds what it sends.
void add_encrypted(protocol::Element& message, const EncryptedMessage& encrypted);

// X(enumerator, name, message). Values occupy the reserved range
// [840, 859]. Every value but kOk means the message is not usable as an
// encrypted message; kMissing means it is not one at all.
#define XD_ENCRYPTED_ERRORS(X)                                                  \
  X(kOk, "ok", "the encrypted element is well-formed")                          \
  X(kMissing, "missing", "the message has no encrypted element")                \
  X(kMalformed, "malformed", "the encrypted element violates spec/e2e.md §8.1") \
  X(kTooLarge, "too-large", "the encrypted element exceeds a bound of §8.3")

enum class EncryptedError : int {
  kFirst_ = 839,
#define XD_X(e, n, m) e,
  XD_ENCRYPTED_ERRORS(XD_X)
#undef XD_X
      kLast_,
};

// A stable lowercase name, e.g. "too-large"; out-of-range values give
// "unknown".
std::string_view encrypted_error_name(EncryptedError error);

// Finds the first <encrypted xmlns='urn:xmppd:e2e:1'/> child of |message|
// and parses it (spec/e2e.md §8.1, §8.3): sid and rid decimal device ids,
// 1 to 64 keys of at most kMaxKeyEnvelope decoded octets each, an iv of exactly 24
// octets, a payload of at most 64 KiB + 16 octets; base64 strict except that
// leading and trailing whitespace is ignored. On kOk |out| is replaced;
// otherwise it is unspecified.
EncryptedError parse_encrypted(const protocol::Element& message, EncryptedMessage& out);

// Appends the retry receipt <retry xmlns='urn:xmppd:e2e:1' id='ORIGIN'
// sid='DEVICE'/> (spec/e2e.md §8.4) to |message|.
void add_retry(protocol::Element& message, std::string_view origin_id, std::uint32_t sid);

// Parses the first <retry/> child of |message|. False, with the outputs
// unspecified, when it is absent, the id is empty or the sid is not a
// device id.
bool parse_retry(const protocol::Element& message, std::string& origin_id, std::uint32_t& sid);

}  // namespace xd::protocol::e2e
