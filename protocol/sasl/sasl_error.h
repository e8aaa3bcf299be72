// SASL failure conditions (RFC 6120 §6.5) as one X-macro list that generates
// the enum, the wire names and the log messages, plus SaslResult, the
// value-or-condition type every SASL function in protocol/sasl/ returns.
// Never performs I/O and never throws: a peer's bad input is a condition.
#pragma once

#include <cassert>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

namespace xd::protocol {

// X(enumerator, wire name, message). Values occupy the reserved range
// [300, 399]. Fatal threshold: none. Every condition ends the current SASL
// exchange, but RFC 6120 §6.4.5 lets the client retry on the same stream; the
// cap on retries per stream (hostile-inputs.md catalogue 37) is the session's.
#define XD_SASL_CONDITIONS(X)                                                              \
  X(kAborted, "aborted", "the initiating entity aborted the exchange")                     \
  X(kAccountDisabled, "account-disabled", "the account is disabled")                       \
  X(kCredentialsExpired, "credentials-expired", "the credentials have expired")            \
  X(kEncryptionRequired, "encryption-required", "the mechanism requires TLS")              \
  X(kIncorrectEncoding, "incorrect-encoding", "the base64 encoding is incorrect")          \
  X(kInvalidAuthzid, "invalid-authzid", "the authzid is not allowed for this authcid")     \
  X(kInvalidMechanism, "invalid-mechanism", "the mechanism is not offered")                \
  X(kMalformedRequest, "malformed-request", "the SASL message violates its grammar")       \
  X(kMechanismTooWeak, "mechanism-too-weak", "the mechanism is weaker than policy allows") \
  X(kNotAuthorized, "not-authorized", "authentication failed")                             \
  X(kTemporaryAuthFailure, "temporary-auth-failure", "temporary server-side failure")

enum class SaslCondition : int {
  kFirst_ = 299,
#define XD_X(e, n, m) e,
  XD_SASL_CONDITIONS(XD_X)
#undef XD_X
      kLast_,
};

// The RFC 6120 §6.5 element name of |condition|, e.g. "not-authorized".
// Out-of-range values map to "temporary-auth-failure" rather than crashing.
std::string_view sasl_condition_name(SaslCondition condition);
// A short English description for logs. It never contains peer data.
std::string_view sasl_condition_message(SaslCondition condition);
// The condition whose wire name is exactly |name| (case-sensitive), or nullopt.
std::optional<SaslCondition> sasl_condition_from_name(std::string_view name);

// Namespace of SASL negotiation elements (RFC 6120 §6.4).
inline constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";

// Either a value or the SASL condition the exchange fails with. There is no
// third "half" state: a failed step carries no partial value. Accessing the
// wrong alternative is a programmer error (assert), never a peer-triggered one.
template <typename T>
class [[nodiscard]] SaslResult {
 public:
  SaslResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  SaslResult(SaslCondition condition) : v_(std::in_place_index<1>, condition) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // The value; only valid when ok().
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  // The failure condition; only valid when !ok().
  SaslCondition condition() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, SaslCondition> v_;
};

// A step that yields nothing on success.
using SaslStatus = SaslResult<std::monostate>;
inline SaslStatus sasl_ok() { return SaslStatus(std::monostate{}); }

}  // namespace xd::protocol
