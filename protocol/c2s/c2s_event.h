// What a C2sStream tells its owner: the actions the owner must take
// (start TLS, close the socket) and the results of negotiation (an
// authenticated identity, a bound resource, a client's stanza). Plain
// owned data; never performs I/O.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/jid/jid.h"
#include "protocol/stream_error.h"
#include "protocol/xml/element.h"

namespace xd::protocol {

struct C2sEvent {
  enum class Type {
    // <proceed/> is in output(): write it, then start the TLS handshake on
    // the raw transport and call tls_established() when it completes.
    kStartTls,
    // SASL succeeded for |jid| (bare) with |mechanism|.
    kAuthenticated,
    // Resource binding succeeded: |jid| is the full JID of the session.
    kBound,
    // |stanza| (owned by the receiver) came from the bound client: 'from'
    // is its full JID, 'to' is absent or a normalised JID. With stream
    // management (|sm_counted|), |seq| is its inbound number modulo 2^32
    // (what h becomes once it and every earlier stanza are handled).
    kStanza,
    // XEP-0198: <enabled/> was written. |sm_id| is the resumption id, empty
    // when the stream is not resumable.
    kSmEnabled,
    // spec/compact.md §3: the stream now speaks the compact dialect.
    kCompact,
    // XEP-0198: the client sent <r/>; answer with send_sm_ack(h).
    kSmRequest,
    // XEP-0198: the client acknowledged the stanzas sent with |tags|
    // (non-zero tags only, oldest first).
    kSmAcked,
    // XEP-0198 §5: the stream resumed the session |jid| (full) with id
    // |sm_id|; <resumed/> and the unacknowledged stanzas were written,
    // unless the client's h was invalid: then kClosed follows at once (the
    // owner, now holding the session's state, ends it properly).
    kResumed,
    // XEP-0352: the client is |active| or inactive.
    kClientState,
    // The stream is over: write output(), then close the socket. |clean| is
    // true when the peer ended its stream itself (</stream:stream> or a
    // <stream:error/> of its own); |error| is the stream error we sent, if
    // any; |reason| is for logs only.
    kClosed,
  };

  Type type = Type::kClosed;
  Jid jid;
  std::string mechanism;
  std::unique_ptr<Element> stanza;
  std::string reason;
  bool clean = false;
  std::optional<StreamCondition> error;
  uint32_t seq = 0;
  bool sm_counted = false;  // kStanza: |seq| is meaningful (it may wrap to 0)
  bool active = true;
  std::string sm_id;
  std::vector<uint64_t> tags;
};

}  // namespace xd::protocol
