// The <stream:features/> a c2s stream advertises at each stage of
// negotiation (RFC 6120 §4.3.2), and the SASL offer they carry, which the
// SASL step later checks <auth/> against. Pure: builds bytes from flags,
// never performs I/O and never decides policy itself.
#pragma once

#include <string>
#include <string_view>

namespace xd::protocol {

inline constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
inline constexpr std::string_view kSessionNs = "urn:ietf:params:xml:ns:xmpp-session";
inline constexpr std::string_view kRegisterFeatureNs = "http://jabber.org/features/iq-register";
inline constexpr std::string_view kRegisterNs = "jabber:iq:register";
// XEP-0440: the channel-binding types a server supports.
inline constexpr std::string_view kSaslCbNs = "urn:xmpp:sasl-cb:0";
// XEP-0352 client state indication.
inline constexpr std::string_view kCsiNs = "urn:xmpp:csi:0";
// XEP-0478 stream limits advertisement.
inline constexpr std::string_view kStreamLimitsNs = "urn:xmpp:stream-limits:0";

// The SASL mechanisms offered on one stream.
struct C2sSaslOffer {
  // SCRAM-SHA-256 and SCRAM-SHA-1.
  bool scram = false;
  // PLAIN (RFC 4616); only under TLS or on a deliberately plaintext listener.
  bool plain = false;
  // Channel-binding types usable on this TLS connection; either one makes
  // the -PLUS variants offered (RFC 5802 §6, RFC 9266, RFC 5929).
  bool tls_exporter = false;
  bool tls_server_end_point = false;

  bool plus() const { return tls_exporter || tls_server_end_point; }
  bool any() const { return scram || plain || plus(); }
};

struct C2sFeatures {
  bool starttls = false;             // RFC 6120 §5.4.1
  bool starttls_required = false;    // <required/> inside <starttls/>
  C2sSaslOffer sasl;                 // RFC 6120 §6.4.1
  bool registration = false;         // XEP-0077 §3.1 stream feature
  bool bind = false;                 // RFC 6120 §7.4, plus the RFC 3921 session feature
  bool sm = false;                   // XEP-0198 §2 stream management
  bool csi = false;                  // XEP-0352 §2 client state indication
  bool compact = false;              // spec/compact.md §3.1 the compact dialect
  bool compact_compression = false;  // ... with zstd frames on offer
  // XEP-0478 §3 <limits/>: the largest first-level element this stream
  // accepts now, and the silence after which the server checks liveness.
  // 0 leaves the child out; both 0 leave <limits/> out.
  uint64_t max_bytes = 0;
  uint32_t idle_seconds = 0;
};

// Appends <stream:features>...</stream:features> for |features| to |out|.
// The stream prefix is the one our header declares. Never fails.
void append_c2s_features(const C2sFeatures& features, std::string& out);

}  // namespace xd::protocol
