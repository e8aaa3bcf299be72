// The server side of SASL PLAIN (RFC 4616): a strict parser of the
// "authzid NUL authcid NUL passwd" message and a password check against the
// stored SCRAM keys, since the server keeps only those, never passwords.
// Never performs I/O, never throws, never compares secrets in variable time;
// the caller must offer PLAIN only under TLS (hostile-inputs.md decision 5).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/sasl/sasl_error.h"
#include "protocol/sasl/scram.h"

namespace xd::protocol {

// Largest authzid, authcid or password we accept, in octets. RFC 4616 §2
// requires accepting at least 255; accepting more only widens the attack
// surface before authentication.
inline constexpr size_t kPlainMaxFieldBytes = 255;

// A parsed PLAIN message. All three views point into the caller's message
// buffer: nothing is copied, so the caller, who owns that buffer, controls
// how long the password lives and must wipe it (OPENSSL_cleanse) when done.
struct PlainMessage {
  std::string_view authzid;   // empty when absent
  std::string_view authcid;   // raw, not yet PRECIS-prepared
  std::string_view password;  // raw, not yet prepared with opaque_string
};

// Parses |message| (the decoded <auth/> payload). Fails with:
// - kMalformedRequest unless it has exactly two NULs, a non-empty authcid
//   and password, every part valid UTF-8 (RFC 4616 §2 UTF8-char) of at most
//   kPlainMaxFieldBytes octets;
// - kInvalidAuthzid when an authzid is present and is neither the authcid
//   nor "authcid@|domain|" (hostile-inputs.md decision 5 and catalogue 38).
// On success the views in the result alias |message|.
SaslResult<PlainMessage> plain_parse(std::string_view message, std::string_view domain);
// The result would dangle: the views must point into a buffer that outlives it.
SaslResult<PlainMessage> plain_parse(std::string&& message, std::string_view domain) = delete;

// True when |prepared_password| (already prepared with opaque_string) derives
// the StoredKey in |credentials| with its salt, iteration count and hash.
// The comparison is constant-time (secret_equal). For an unknown user, pass
// scram_fake_credentials(...) so that the same PBKDF2 work is done and the
// answer is the same false (catalogue 37). Returns false for credentials
// without a salt, iterations or keys of the right size. Derived secrets are
// wiped before returning.
bool plain_verify(const ScramCredentials& credentials, std::string_view prepared_password);

}  // namespace xd::protocol
