#include "protocol/c2s/c2s_features.h"

#include <string>

#include "protocol/compact/dictionary.h"

namespace xd::protocol {

void append_c2s_features(const C2sFeatures& f, std::string& out) {
  out.append("<stream:features>");
  if (f.starttls) {
    // RFC 6120 §5.4.1: <required/> makes TLS mandatory-to-negotiate.
    out.append("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>");
    if (f.starttls_required) out.append("<required/>");
    out.append("</starttls>");
  }
  if (f.sasl.any()) {
    // RFC 6120 §6.4.1: in order of preference. The -PLUS variants come
    // first so that a client able to bind to the channel does (RFC 5802 §6).
    out.append("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
    if (f.sasl.plus()) {
      out.append("<mechanism>SCRAM-SHA-256-PLUS</mechanism>");
      out.append("<mechanism>SCRAM-SHA-1-PLUS</mechanism>");
    }
    if (f.sasl.scram) {
      out.append("<mechanism>SCRAM-SHA-256</mechanism>");
      out.append("<mechanism>SCRAM-SHA-1</mechanism>");
    }
    if (f.sasl.plain) out.append("<mechanism>PLAIN</mechanism>");
    out.append("</mechanisms>");
    if (f.sasl.plus()) {
      // XEP-0440 §3: which binding types the -PLUS mechanisms accept, so
      // the client need not guess.
      out.append("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
      if (f.sasl.tls_server_end_point) {
        out.append("<channel-binding type='tls-server-end-point'/>");
      }
      if (f.sasl.tls_exporter) out.append("<channel-binding type='tls-exporter'/>");
      out.append("</sasl-channel-binding>");
    }
  }
  if (f.registration) out.append("<register xmlns='http://jabber.org/features/iq-register'/>");
  if (f.bind) {
    out.append("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>");
    // RFC 3921 §3 session establishment is a no-op kept for old clients;
    // <optional/> (draft-cridland-xmpp-session-01) tells new ones to skip it.
    out.append("<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>");
  }
  if (f.sm) out.append("<sm xmlns='urn:xmpp:sm:3'/>");
  if (f.csi) out.append("<csi xmlns='urn:xmpp:csi:0'/>");
  if (f.compact) {
    // spec/compact.md §3.1: the dictionary version this server speaks, and
    // the compression it allows.
    out.append("<compact xmlns='urn:xmppd:compact:1' dictionary='");
    out.append(std::to_string(compact::dictionary_version()));
    out.append(f.compact_compression ? "'><compression>zstd</compression></compact>" : "'/>");
  }
  if (f.max_bytes != 0 || f.idle_seconds != 0) {
    // XEP-0478 §3: what the client must stay within to avoid a stream
    // error, so it can shrink or refuse a large stanza instead.
    out.append("<limits xmlns='urn:xmpp:stream-limits:0'>");
    if (f.max_bytes != 0) {
      out.append("<max-bytes>");
      out.append(std::to_string(f.max_bytes));
      out.append("</max-bytes>");
    }
    if (f.idle_seconds != 0) {
      out.append("<idle-seconds>");
      out.append(std::to_string(f.idle_seconds));
      out.append("</idle-seconds>");
    }
    out.append("</limits>");
  }
  out.append("</stream:features>");
}

}  // namespace xd::protocol
