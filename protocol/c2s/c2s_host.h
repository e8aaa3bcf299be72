// The interface through which a C2sStream asks its server for accounts,
// resource bindings, randomness and authentication throttling. It is how
// the sans-I/O stream stays free of storage, clocks and random devices:
// every such need is one synchronous call here. Implementations must never
// call back into the stream that called them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/c2s/stream_management.h"
#include "protocol/jid/jid.h"
#include "protocol/sasl/scram.h"
#include "protocol/stanza_error.h"

namespace xd::protocol {

// What a host hands back for a successful XEP-0198 resumption.
struct C2sResumption {
  Jid full;              // the resumed session's full JID
  uint32_t handled = 0;  // h for <resumed/>: client stanzas the server handled
  StreamManagement sm;   // the outbound state (unacknowledged stanzas) taken over
};

class C2sHost {
 public:
  virtual ~C2sHost() = default;

  // Looks up the stored SCRAM credentials of |username|, a localpart
  // already enforced with UsernameCaseMapped (RFC 8265 §3.3) that also
  // passed the RFC 7622 localpart rules. Returns true and fills |out| (the
  // stream wipes it after use) when the account exists and has credentials
  // for |hash|; false otherwise. Must not reveal anything else: the stream
  // answers a missing account exactly like a wrong password.
  virtual bool find_credentials(std::string_view username, ScramHash hash,
                                ScramCredentials& out) = 0;

  // XEP-0077 §3.1: creates the account |username| (enforced as above) with
  // |password|, the raw password as sent, which the stream has checked
  // against the OpaqueString profile; the host prepares and derives it
  // (scram_derive_from_password) and keeps only the SCRAM keys. Returns
  // nullopt when created, otherwise the stanza condition to answer with:
  // kConflict for an existing account, kResourceConstraint or
  // kPolicyViolation for quotas and rate limits, and so on.
  virtual std::optional<StanzaCondition> register_account(std::string_view username,
                                                          std::string_view password) = 0;

  // RFC 6120 §7: binds |full| (the authenticated bare JID plus an enforced
  // resourcepart) to this stream. Returns nullopt when bound; otherwise the
  // condition for the bind error, e.g. kResourceConstraint when the account
  // has too many sessions (catalogue F47), or kConflict when the policy is
  // to refuse a duplicate resource. kResourceConstraint means the session
  // cap and nothing else: the stream adds XEP-0205 <resource-limit-exceeded/>
  // to it. A kick-old policy is carried out by the host itself (it closes
  // the old session) before it returns nullopt.
  virtual std::optional<StanzaCondition> bind_resource(const Jid& full) = 0;

  // Fills |out| with |n| cryptographically random bytes (stream ids, SCRAM
  // nonces, generated resources). Never fails; an unusable random source is
  // an environment failure and aborts.
  virtual void random_bytes(uint8_t* out, size_t n) = 0;

  // False while the per-address failed-authentication throttle is active;
  // the stream then answers <auth/> with <temporary-auth-failure/> without
  // checking anything (catalogue E37).
  virtual bool auth_allowed() = 0;
  // A SASL exchange with |mechanism| ran and failed (wrong password, unknown
  // user, bad authzid, malformed message), for the throttle and logs.
  virtual void auth_failed(std::string_view mechanism) = 0;
  // |bare| authenticated with |mechanism|.
  virtual void auth_succeeded(const Jid& bare, std::string_view mechanism) = 0;

  // The stream wrote a stanza error of its own with |condition| (a refused
  // binding or registration, an unparsable 'to', a malformed iq), for the
  // server's error counters; errors the host sends itself are not reported
  // here. Called after the error is in output(). The default ignores it.
  virtual void stanza_error_sent(StanzaCondition /*condition*/) {}

  // XEP-0198 §5: the authenticated client asks to resume the session
  // |previd|, having received |client_h| stanzas. The host checks that the
  // id belongs to this account and is within its window, detaches the old
  // session (closing its stream with <conflict/> if it is still open) and
  // fills |out|. False: <failed><item-not-found/></failed>, nothing changed.
  virtual bool resume_session(std::string_view /*previd*/, uint32_t /*client_h*/,
                              C2sResumption& /*out*/) {
    return false;
  }
};

}  // namespace xd::protocol
