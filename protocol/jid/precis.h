// PRECIS string preparation and enforcement (RFC 8264, profiles from
// RFC 8265) for JID localparts, resourceparts and passwords, computed from
// ICU's Unicode properties rather than hand-written tables.
// Pure functions: never performs I/O, never keeps state between calls.
#pragma once

#include <string>
#include <string_view>

namespace xd::protocol {

// Why enforcement failed. kOk is zero so the result tests as "no error".
enum class PrecisError : int {
  kOk = 0,
  kInvalidUtf8,  // the input is not well-formed UTF-8
  kEmpty,        // the enforced string is empty (RFC 8264 §5.2.6 / profile rules)
  kDisallowed,   // a code point is DISALLOWED or UNASSIGNED in the string class
  kBidi,         // the Bidi Rule (RFC 5893) is violated (UsernameCaseMapped only)
};

// Stable lower-case name of |error| for logs and tests.
std::string_view precis_error_name(PrecisError error);

// RFC 8265 §3.3 UsernameCaseMapped (IdentifierClass; width mapping, case
// mapping, NFC, Bidi Rule). On kOk |out| holds the enforced form; on error
// |out| is unspecified. Applying it to its own output yields the same string.
// Input made only of ASCII octets is enforced without ICU (the common case);
// the result, value and error, is the same as ICU's.
PrecisError username_case_mapped(std::string_view in, std::string& out);

// RFC 8265 §4.2 OpaqueString (FreeformClass; non-ASCII spaces mapped to
// U+0020, NFC, case preserved). Used for resourceparts (RFC 7622 §3.4) and
// for passwords before SCRAM/PLAIN hashing (RFC 7677 §4, RFC 8265 §4).
// ASCII input takes the same ICU-free path as above.
PrecisError opaque_string(std::string_view in, std::string& out);

namespace detail {

// The ICU implementations of the two profiles, which the functions above
// use for any input holding a non-ASCII octet. Exposed so that tests can
// check the ASCII fast path against them and so that Jid can offer an
// ICU-only test hook; production code calls the functions above. Same
// contracts as those.
PrecisError username_case_mapped_icu(std::string_view in, std::string& out);
PrecisError opaque_string_icu(std::string_view in, std::string& out);

}  // namespace detail

}  // namespace xd::protocol
