// Strict RFC 4648 §4 base64 for SASL payloads and SCRAM attributes. Decoding
// accepts exactly one spelling per byte string (padding required, no
// whitespace, no line breaks, zero trailing bits), because SCRAM compares the
// encoded channel-binding text and a lenient decoder would accept variants.
// Pure functions: never performs I/O, never keeps state, never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xd::protocol {

// Encodes |bytes| with the standard alphabet and '=' padding (RFC 4648 §4).
// The caller owns the returned string. Never fails.
std::string base64_encode(std::string_view bytes);

// Decodes |text| strictly. Returns nullopt unless |text| is the canonical
// encoding of some byte string: its length is a multiple of 4, it uses only
// the RFC 4648 §4 alphabet, '=' appears only as one or two final padding
// characters, and the bits that padding discards are zero (RFC 4648 §3.5,
// "canonical encoding"). The empty string decodes to the empty string.
// The caller owns the returned bytes.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace xd::protocol
