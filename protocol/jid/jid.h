// XMPP addresses (RFC 7622): parsing, PRECIS/IDNA enforcement and the
// normalised form that routing, rosters and storage keys compare. A Jid only
// ever holds enforced parts, so two Jids are equal exactly when they name
// the same entity. Never performs I/O, never resolves names, keeps no global
// state.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace xd::protocol {

// Why an address was refused. X(enumerator, name, message). The failure
// values occupy the reserved range [400, 499] (stream errors use 1xx, stanza
// errors 2xx, SASL 3xx); kOk is 0 so a result tests as "no error". Every
// failure maps to the <jid-malformed/> stanza error (RFC 6120 §8.3.3.8) and
// leaves the stream usable: fatal threshold none.
#define XD_JID_ERRORS(X)                                                           \
  X(kEmpty, "empty", "the address is empty")                                       \
  X(kEmptyLocal, "empty-local", "'@' with an empty localpart")                     \
  X(kEmptyDomain, "empty-domain", "the domainpart is empty")                       \
  X(kEmptyResource, "empty-resource", "'/' with an empty resourcepart")            \
  X(kLocalTooLong, "local-too-long", "localpart longer than 1023 octets")          \
  X(kDomainTooLong, "domain-too-long", "domainpart longer than 1023 octets")       \
  X(kResourceTooLong, "resource-too-long", "resourcepart longer than 1023 octets") \
  X(kLabelTooLong, "label-too-long", "domain label longer than 63 octets")         \
  X(kInvalidLocal, "invalid-local", "localpart fails UsernameCaseMapped")          \
  X(kInvalidDomain, "invalid-domain", "domainpart is not a valid domain name")     \
  X(kInvalidResource, "invalid-resource", "resourcepart fails OpaqueString")       \
  X(kInvalidIpLiteral, "invalid-ip-literal", "malformed IPv4 or IPv6 address literal")

enum class JidError : int {
  kOk = 0,
  kFirst_ = 399,
#define XD_X(e, n, m) e,
  XD_JID_ERRORS(XD_X)
#undef XD_X
      kLast_,
};
static_assert(static_cast<int>(JidError::kLast_) <= 500, "JidError overflows [400, 499]");

// Stable lower-case name of |error| for logs and tests: "ok" for kOk, and
// "unknown" for a value outside the list (including kFirst_ and kLast_).
// The returned view points at static storage.
std::string_view jid_error_name(JidError error);

// One-line English description of |error| for logs; never sent to peers
// (the peer sees only <jid-malformed/>). Static storage.
std::string_view jid_error_message(JidError error);

// An enforced XMPP address: optional localpart, domainpart, optional
// resourcepart. Values are plain data: copyable, movable, and safe to share
// read-only between threads. A default-constructed Jid has every part empty
// and is not a valid address; only parse() and from_parts() produce valid
// ones.
class Jid {
 public:
  // The largest enforced part in octets (RFC 7622 §3.2, §3.3, §3.4).
  static constexpr std::size_t kMaxPartBytes = 1023;
  // The largest domain label in octets, measured in its A-label form when it
  // is internationalised (RFC 1035 §2.3.4, RFC 5890 §2.3.2.1).
  static constexpr std::size_t kMaxLabelBytes = 63;

  Jid() = default;

  // Parses |text| as "[local@]domain[/resource]" (RFC 7622 §3.1): the
  // resourcepart starts after the first '/', the localpart ends at the first
  // '@' before that '/'. Each part is then enforced: the localpart with
  // UsernameCaseMapped plus the RFC 7622 §3.3.1 forbidden characters, the
  // resourcepart with OpaqueString, the domainpart with RFC 5895 mapping
  // and IDNA2008 (A-labels are stored as U-labels) or as an IP literal.
  // Errors are checked in reading order (empty parts, then localpart,
  // domainpart, resourcepart) and the first one is returned; a part longer
  // than 4 x 1023 octets on input is reported as too long before any Unicode
  // work. |text| is borrowed for the call only. On kOk |out| holds the
  // enforced address; on any error |out| is left unchanged. Never calls back.
  static JidError parse(std::string_view text, Jid& out);

  // Builds an address from separate parts, enforcing each exactly as
  // parse() does. An empty |local| or |resource| means the part is absent;
  // |domain| is required. Unlike parse(), the parts are not split, so a '/'
  // or '@' inside |local| is reported as kInvalidLocal. On kOk |out| holds
  // the enforced address; on error |out| is left unchanged.
  static JidError from_parts(std::string_view local, std::string_view domain,
                             std::string_view resource, Jid& out);

  // from_parts() with the ASCII fast paths turned off: every part goes
  // through ICU (and libidn2) as non-ASCII input does. Same contract and,
  // by construction, the same results; the differential tests in
  // tests/unit/protocol/jid/jid_test.cc check exactly that.
  static JidError from_parts_icu_for_test(std::string_view local, std::string_view domain,
                                          std::string_view resource, Jid& out);

  // The enforced parts, in UTF-8. An absent part is the empty string. The
  // references stay valid until this Jid is assigned to or destroyed.
  const std::string& local() const { return local_; }
  const std::string& domain() const { return domain_; }
  const std::string& resource() const { return resource_; }

  // True when there is no resourcepart.
  bool is_bare() const { return resource_.empty(); }
  // True when there is a localpart.
  bool has_local() const { return !local_.empty(); }

  // This address without its resourcepart (a copy).
  Jid bare() const;
  // The full form "[local@]domain[/resource]". Parsing it yields an equal
  // Jid: the enforced form is a fixed point.
  std::string str() const;
  // The bare form "[local@]domain".
  std::string bare_str() const;

  // Equality of the enforced forms: localpart and domainpart compare as
  // enforced (so case and width variants are already folded), the
  // resourcepart compares code point for code point (RFC 7622 §3.4.3).
  friend bool operator==(const Jid& a, const Jid& b) = default;

 private:
  static JidError enforce_parts(std::string_view local, std::string_view domain,
                                std::string_view resource, bool ascii_fast_path, Jid& out);

  std::string local_;
  std::string domain_;
  std::string resource_;
};

// Hash consistent with operator==: equal Jids hash equally. It is std::hash
// based and unkeyed, so a table keyed by peer-chosen Jids needs its own size
// cap (hash flooding).
struct JidHash {
  std::size_t operator()(const Jid& jid) const noexcept;
};

}  // namespace xd::protocol

template <>
struct std::hash<xd::protocol::Jid> {
  std::size_t operator()(const xd::protocol::Jid& jid) const noexcept {
    return xd::protocol::JidHash{}(jid);
  }
};
