// Strict parsers and builders for the four SCRAM messages and the GS2 header
// (RFC 5802 §5 and the §7 ABNF, channel binding per RFC 5056 and RFC 9266).
// Parsing accepts only the grammar: attributes in their fixed order, each
// once, no mandatory extensions, exact escapes and canonical base64. It never
// performs I/O, holds no state, never throws, and does no cryptography.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/sasl/sasl_error.h"

namespace xd::protocol {

// The GS2 channel-binding flag (RFC 5802 §7 gs2-cbind-flag, RFC 5801 §4).
enum class Gs2CbindFlag {
  kNotSupported,      // "n": the client does not support channel binding
  kSupportedNotUsed,  // "y": the client supports it but thinks the server does not
  kUsed,              // "p=<cb-name>": the client binds to channel type cb-name
};

// A parsed GS2 header. |authzid| is the decoded saslname, empty when absent
// (saslname is 1*char, so an empty authzid cannot be sent, only omitted).
struct Gs2Header {
  Gs2CbindFlag flag = Gs2CbindFlag::kNotSupported;
  std::string cb_name;  // only when flag == kUsed
  std::string authzid;
};

// client-first-message = gs2-header client-first-message-bare.
struct ClientFirstMessage {
  Gs2Header gs2;
  std::string gs2_header;  // the exact header bytes, final ',' included (input to c=)
  std::string bare;        // the exact client-first-message-bare (input to AuthMessage)
  std::string username;    // decoded saslname, not yet PRECIS-prepared
  std::string nonce;       // c-nonce
};

// server-first-message. The caller keeps the raw text for AuthMessage.
struct ServerFirstMessage {
  std::string nonce;  // c-nonce followed by s-nonce
  std::string salt;   // decoded bytes
  uint32_t iterations = 0;
};

// client-final-message.
struct ClientFinalMessage {
  std::string without_proof;    // exact client-final-message-without-proof
  std::string channel_binding;  // decoded c= (gs2 header followed by cbind data)
  std::string nonce;
  std::string proof;  // decoded p=
};

// server-final-message: exactly one of |verifier| (decoded v=) and |error|
// (the e= server-error-value text) is non-empty.
struct ServerFinalMessage {
  std::string verifier;
  std::string error;
};

// Parsers. Each takes a complete message (the caller has already removed the
// XMPP base64 layer), copies what it keeps, and returns the parsed message or:
// - kMalformedRequest: any grammar violation: unknown GS2 flag, missing,
//   misordered, duplicated or unknown fixed attribute, a mandatory extension
//   "m=" (RFC 5802 §5.1: one we do not understand MUST fail authentication),
//   '=' not followed by "2C" or "3D" in a saslname (RFC 5802 §5.1), invalid
//   UTF-8, a nonce with a non-printable character, an iteration count that
//   is not a positive decimal without leading zeros or exceeds 2^32-1;
// - kIncorrectEncoding: a c=, p=, s= or v= value that is not canonical
//   base64 (see base64.h), or is empty.
// Optional extensions (RFC 5802 §7 "extensions") in their designated places
// are checked against the attr-val grammar and then ignored, as RFC 5802
// §5.1 requires ("Unknown optional extensions MUST be ignored upon receipt");
// an extension that reuses one of the RFC 5802 attribute names is a duplicate
// and is malformed.
SaslResult<ClientFirstMessage> parse_client_first(std::string_view message);
SaslResult<ServerFirstMessage> parse_server_first(std::string_view message);
SaslResult<ClientFinalMessage> parse_client_final(std::string_view message);
SaslResult<ServerFinalMessage> parse_server_final(std::string_view message);

// Decodes a saslname (RFC 5802 §5.1: "=2C" is ',', "=3D" is '='; any other
// '=' fails). Only the upper-case spellings are accepted. Returns the decoded
// string, or kMalformedRequest for bad escapes, a raw ',' or NUL, invalid
// UTF-8 or an empty name.
SaslResult<std::string> scram_unescape_saslname(std::string_view saslname);
// Encodes |name| as a saslname. |name| must be non-empty valid UTF-8 without
// NUL (checked by assert: it comes from our own configuration or client).
std::string scram_escape_saslname(std::string_view name);
// True when |nonce| is a non-empty RFC 5802 "printable" run (%x21-2B / %x2D-7E).
bool scram_is_printable_nonce(std::string_view nonce);

// Builders. Inputs are our own values, not peer data; their grammar
// preconditions are asserted. Each returns a new string owned by the caller.
std::string build_gs2_header(const Gs2Header& header);
std::string build_client_first_bare(std::string_view username, std::string_view nonce);
std::string build_server_first(std::string_view nonce, std::string_view salt, uint32_t iterations);
// |cbind_input| is gs2 header followed by channel-binding data (RFC 5802 §7).
std::string build_client_final_without_proof(std::string_view cbind_input, std::string_view nonce);
std::string build_client_final(std::string_view without_proof, std::string_view proof);
std::string build_server_final(std::string_view verifier);
// |error_value| is a server-error-value such as "invalid-proof" (RFC 5802 §7).
std::string build_server_error(std::string_view error_value);

}  // namespace xd::protocol
