// The one comparison of secrets in protocol/sasl: SCRAM proofs, server
// signatures, channel-binding data and PLAIN's derived keys all go through
// secret_equal(), so that no secret is compared in variable time
// (hostile-inputs.md catalogue 41, Prosody CVE-2021-32921). Pure: never
// performs I/O, never allocates, never throws.
#pragma once

#include <cstdint>
#include <string_view>

namespace xd::protocol {

// True when |a| and |b| hold the same bytes. For equal lengths the time taken
// depends only on the length, never on where the first difference is
// (OpenSSL's CRYPTO_memcmp has no early exit). Different lengths return false
// at once: lengths are public here (a hash size, a base64-decoded binding).
bool secret_equal(std::string_view a, std::string_view b);

// How many times secret_equal() has run in this process. It lets a test
// prove that a verification path goes through the constant-time compare
// (tests/unit/protocol/sasl/secret_equal_test.cc), where timing cannot be
// asserted. Relaxed atomic: exact within one thread.
uint64_t secret_equal_calls_for_test();

}  // namespace xd::protocol
