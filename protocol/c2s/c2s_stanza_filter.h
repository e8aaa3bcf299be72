// The checks and rewrites every stanza from a bound client goes through
// before the server sees it: 'from' stamped with the session's full JID,
// 'to' validated and normalised, IQ shape enforced, forged server
// stanza-ids removed (RFC 6120 §8.1.2.1, §8.2.3; XEP-0359 §3.3). It edits
// the parsed tree in place and never re-parses or re-serialises a stanza;
// never performs I/O.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "protocol/jid/jid.h"

namespace xd::protocol {

class Element;

inline constexpr std::string_view kStanzaIdNs = "urn:xmpp:sid:0";

// RFC 6120 §8.2.3: an iq has a non-empty 'id' and a known 'type'; get and
// set carry exactly one child element, result at most one.
bool c2s_iq_well_formed(const Element& iq);

class C2sStanzaFilter {
 public:
  enum class Verdict {
    kRoute,  // hand the (rewritten) stanza to the server
    kReply,  // send |reply| back to the client instead; the stream stays up
    kDrop,   // discard silently (an error stanza that cannot be answered)
  };

  // |full| is the session's bound JID, |domain| the served domain; the
  // filter copies both.
  C2sStanzaFilter(const Jid& full, std::string_view domain);

  // Checks |stanza|, a message, presence or iq in jabber:client, and
  // rewrites it in place:
  // - 'from' becomes the full JID whatever the client wrote (catalogue F42);
  // - 'to', when present, is parsed and replaced by its normalised form; an
  //   invalid one is answered with <jid-malformed/> type modify (F44);
  // - an iq of the wrong shape is answered with <bad-request/> (G49);
  // - <stanza-id xmlns='urn:xmpp:sid:0'/> children whose 'by' is this
  //   domain or one of its accounts, or is no JID at all, are removed: only
  //   the server assigns those (F43).
  // On kReply, |reply| holds the error stanza (owned by the caller). Errors
  // are never answered with errors (RFC 6120 §8.3.1): such a stanza gets
  // kDrop. Never calls back.
  Verdict filter(Element& stanza, std::unique_ptr<Element>& reply);

 private:
  void strip_stanza_ids(Element& stanza) const;

  std::string full_;
  std::string domain_;
  // The last 'to' seen and its normalised form: a client usually talks to
  // one peer at a time, so this skips most PRECIS work.
  std::string last_to_;
  std::string last_to_normalized_;
};

}  // namespace xd::protocol
