// IqTracker: the client's pending IQ requests and the check that a reply
// comes from the entity the request went to (RFC 6120 §8.1.2.1; catalogue
// 76, CVE-2013-6483). A reply whose id is unknown or whose 'from' does not
// match is ignored, never handed to the request's callback. Sans-I/O: it
// never writes, never reads a clock (the owner passes "now" for expiry)
// and never throws.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/xml/element.h"

namespace xd::client {

// The reply to one request: the <iq type='result'|'error'/>, or null when it
// timed out or the connection ended.
using IqCallback = std::function<void(const protocol::Element* reply)>;

class IqTracker {
 public:
  // |own_full| is the session's full JID (after binding). A request sent
  // without 'to' (or to the own bare JID) may be answered from nowhere, the
  // own bare JID or the own full JID; any other request only by its 'to'.
  void set_own_jid(std::string own_full);

  // Registers a request with id |id| sent to |to| (empty: no 'to'). The
  // callback runs once: with the reply, or with null at expiry / fail_all.
  void add(std::string id, std::string to, std::uint64_t deadline_ms, IqCallback callback);

  // Handles a reply. Returns true when it matched a pending request (whose
  // callback ran); false when it was ignored (unknown id or wrong sender).
  bool on_reply(const protocol::Element& iq);

  // Runs the callbacks of requests past |now_ms| with null.
  void expire(std::uint64_t now_ms);
  // Runs every pending callback with null (the connection ended).
  void fail_all();

  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::string to;
    std::uint64_t deadline_ms;
    IqCallback callback;
  };
  bool sender_matches(const Pending& p, std::string_view from) const;

  std::string own_full_;
  std::string own_bare_;
  std::unordered_map<std::string, Pending> pending_;
};

}  // namespace xd::client
