// What a C2sStream tells its owner: the actions the owner must take
// (start TLS, close the socket) and the results of negotiation (an
// authenticated identity, a bound resource, a client's stanza). Plain
// owned data; never performs I/O.
#pragma once

#include <memory>
#include <optional>
#include <string>

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
    // is its full JID, 'to' is absent or a normalised JID.
    kStanza,
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
};

}  // namespace xd::protocol
