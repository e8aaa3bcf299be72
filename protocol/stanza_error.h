// Stanza-level error conditions (RFC 6120 §8.3.3) as one X-macro list with
// their default error types, and the builder of an error reply to a stanza.
// Stanza errors are never fatal to the stream. Never performs I/O.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

namespace xd::protocol {

class Element;

// RFC 6120 §8.3.2 error types.
enum class StanzaErrorType : int { kAuth, kCancel, kContinue, kModify, kWait };
std::string_view stanza_error_type_name(StanzaErrorType type);

// X(enumerator, wire name, default type). Values occupy the reserved range
// [200, 299]; none of them closes the stream.
#define XD_STANZA_CONDITIONS(X)                                 \
  X(kBadRequest, "bad-request", kModify)                        \
  X(kConflict, "conflict", kCancel)                             \
  X(kFeatureNotImplemented, "feature-not-implemented", kCancel) \
  X(kForbidden, "forbidden", kAuth)                             \
  X(kGone, "gone", kCancel)                                     \
  X(kInternalServerError, "internal-server-error", kCancel)     \
  X(kItemNotFound, "item-not-found", kCancel)                   \
  X(kJidMalformed, "jid-malformed", kModify)                    \
  X(kNotAcceptable, "not-acceptable", kModify)                  \
  X(kNotAllowed, "not-allowed", kCancel)                        \
  X(kNotAuthorized, "not-authorized", kAuth)                    \
  X(kPolicyViolation, "policy-violation", kModify)              \
  X(kRecipientUnavailable, "recipient-unavailable", kWait)      \
  X(kRedirect, "redirect", kModify)                             \
  X(kRegistrationRequired, "registration-required", kAuth)      \
  X(kRemoteServerNotFound, "remote-server-not-found", kCancel)  \
  X(kRemoteServerTimeout, "remote-server-timeout", kWait)       \
  X(kResourceConstraint, "resource-constraint", kWait)          \
  X(kServiceUnavailable, "service-unavailable", kCancel)        \
  X(kSubscriptionRequired, "subscription-required", kAuth)      \
  X(kUndefinedCondition, "undefined-condition", kCancel)        \
  X(kUnexpectedRequest, "unexpected-request", kWait)

enum class StanzaCondition : int {
  kFirst_ = 199,
#define XD_X(e, n, t) e,
  XD_STANZA_CONDITIONS(XD_X)
#undef XD_X
      kLast_,
};

std::string_view stanza_condition_name(StanzaCondition condition);
StanzaErrorType stanza_condition_default_type(StanzaCondition condition);
std::optional<StanzaCondition> stanza_condition_from_name(std::string_view name);

// Namespace of stanza error conditions (RFC 6120 §8.3.3).
inline constexpr std::string_view kStanzasErrorNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

// Everything needed to describe one stanza error.
struct StanzaError {
  StanzaCondition condition = StanzaCondition::kUndefinedCondition;
  std::optional<StanzaErrorType> type;  // default: the condition's default type
  std::string_view text;                // never peer-supplied data (XEP-0205)
  std::string_view by;                  // RFC 6120 §8.3.2 'by', optional
};

// Builds the <error/> child for |error| in |stanza_ns| (the namespace of
// the stanza it goes into, e.g. jabber:client). The caller owns the result.
// |app_specific| (may be null) becomes the application-specific child.
std::unique_ptr<Element> make_error_child(const StanzaError& error, std::string_view stanza_ns,
                                          std::unique_ptr<Element> app_specific = nullptr);

// Builds the error reply to |stanza| (RFC 6120 §8.3.1): same element name
// and namespace, 'id' kept, 'to'/'from' swapped, type='error', and the
// <error/> child. The original payload is not echoed (XEP-0205 §3), so an
// oversize or hostile payload never travels back. Returns null when
// |stanza| is itself of type 'error': RFC 6120 §8.3.1 forbids answering an
// error with an error, and callers rely on that to avoid loops.
std::unique_ptr<Element> make_error_reply(const Element& stanza, const StanzaError& error,
                                          std::unique_ptr<Element> app_specific = nullptr);

// The defined condition of |stanza| when it is an error stanza (type
// 'error' with an <error/> child in its own namespace holding a known
// condition element, RFC 6120 §8.3.2), else nullopt. Reads only; used where
// errors are counted (metrics), never on the routing path.
std::optional<StanzaCondition> stanza_error_condition(const Element& stanza);

}  // namespace xd::protocol
