// Stream-level error conditions (RFC 6120 §4.9.3) as one X-macro list that
// generates the enum, the wire names and the human messages, plus the
// builder of a <stream:error/> element. Every stream error is fatal: the
// sender closes the stream after it. Never performs I/O.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

namespace xd::protocol {

class Element;

// X(enumerator, wire name, message). Values occupy the reserved range
// [100, 199]; all of them are fatal (RFC 6120 §4.9.1.1: the stream is closed).
#define XD_STREAM_CONDITIONS(X)                                                             \
  X(kBadFormat, "bad-format", "the entity sent XML that cannot be processed")               \
  X(kBadNamespacePrefix, "bad-namespace-prefix", "unsupported or missing namespace prefix") \
  X(kConflict, "conflict", "a new stream conflicts with this one")                          \
  X(kConnectionTimeout, "connection-timeout", "no traffic for too long")                    \
  X(kHostGone, "host-gone", "the host is no longer served here")                            \
  X(kHostUnknown, "host-unknown", "the host is not served here")                            \
  X(kImproperAddressing, "improper-addressing", "missing or invalid 'to' or 'from'")        \
  X(kInternalServerError, "internal-server-error", "internal server error")                 \
  X(kInvalidFrom, "invalid-from", "the 'from' address is not authorized")                   \
  X(kInvalidNamespace, "invalid-namespace", "wrong stream or content namespace")            \
  X(kInvalidXml, "invalid-xml", "the XML is invalid")                                       \
  X(kNotAuthorized, "not-authorized", "not authorized before negotiation completed")        \
  X(kNotWellFormed, "not-well-formed", "the XML is not well-formed")                        \
  X(kPolicyViolation, "policy-violation", "a local policy was violated")                    \
  X(kRemoteConnectionFailed, "remote-connection-failed", "remote connection failed")        \
  X(kReset, "reset", "the stream is being reset")                                           \
  X(kResourceConstraint, "resource-constraint", "the server lacks resources")               \
  X(kRestrictedXml, "restricted-xml", "restricted XML (DTD, comment, PI or entity)")        \
  X(kSeeOtherHost, "see-other-host", "connect to another host")                             \
  X(kSystemShutdown, "system-shutdown", "the server is shutting down")                      \
  X(kUndefinedCondition, "undefined-condition", "undefined condition")                      \
  X(kUnsupportedEncoding, "unsupported-encoding", "only UTF-8 is supported")                \
  X(kUnsupportedFeature, "unsupported-feature", "a required feature is unsupported")        \
  X(kUnsupportedStanzaType, "unsupported-stanza-type", "unknown top-level element")         \
  X(kUnsupportedVersion, "unsupported-version", "only version 1.0 is supported")

enum class StreamCondition : int {
  kFirst_ = 99,
#define XD_X(e, n, m) e,
  XD_STREAM_CONDITIONS(XD_X)
#undef XD_X
      kLast_,
};

// The RFC 6120 element name of |condition|, e.g. "policy-violation".
std::string_view stream_condition_name(StreamCondition condition);
// A short English description for logs (never sent with peer data in it).
std::string_view stream_condition_message(StreamCondition condition);
// The condition whose wire name is |name|, or nullopt.
std::optional<StreamCondition> stream_condition_from_name(std::string_view name);

// Namespace of stream error conditions (RFC 6120 §4.9.3).
inline constexpr std::string_view kStreamsErrorNs = "urn:ietf:params:xml:ns:xmpp-streams";
// The stream namespace (RFC 6120 §4.8.1).
inline constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";
// XEP-0182: the registry's namespace for general application-specific
// conditions, used in stream errors (RFC 6120 §4.9.4) and stanza errors
// (§8.3.4) alike: <stanza-too-big/>, <resource-limit-exceeded/>.
inline constexpr std::string_view kXmppErrorsNs = "urn:xmpp:errors";

// Builds <stream:error><condition/>[<text>|text|</text>][app-specific]</stream:error>.
// |app_specific| (may be null) is moved in as the application-specific
// condition child (RFC 6120 §4.9.4). The caller owns the result. |text| must
// never carry peer-supplied data (XEP-0205: do not echo the offending input).
std::unique_ptr<Element> make_stream_error(StreamCondition condition, std::string_view text = {},
                                           std::unique_ptr<Element> app_specific = nullptr);

}  // namespace xd::protocol
