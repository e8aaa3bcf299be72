// XEP-0077 §3.1 in-band registration as a c2s stream offers it before
// authentication: the form for an iq get and account creation through the
// host for an iq set. Usernames are enforced exactly as at login, so a
// spelling that maps onto an existing account conflicts (catalogue F45).
// Never performs I/O and never stores anything itself.
#pragma once

#include <memory>

#include "protocol/c2s/c2s_config.h"
#include "protocol/c2s/c2s_host.h"

namespace xd::protocol {

class Element;

// Answers |iq|, a jabber:client iq carrying <query xmlns='jabber:iq:register'/>.
// Returns the reply, owned by the caller: the registration form for a get,
// an empty result once the host created the account for a set, or an error:
// <bad-request/> for an iq of the wrong shape (RFC 6120 §8.2.3) or of type
// result, <not-acceptable/> for a missing or unenforceable username or
// password, <not-allowed/> for <remove/> before login, otherwise what the
// host returned, e.g. <conflict/>. Returns null for an iq of type error,
// which is never answered (RFC 6120 §8.3.1). The reply carries no 'from' or
// 'to': before login the client has no address to send to. May call
// |host|.register_account, never anything else.
std::unique_ptr<Element> c2s_register_reply(const Element& iq, const C2sConfig& config,
                                            C2sHost& host);

}  // namespace xd::protocol
