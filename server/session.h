// A bound client session as the router and modules see it: its full JID,
// its presence state, and a way to hand it a stanza. Implemented by the c2s
// session (server/c2s_session.h); a cluster backend will add remote ones.
// Implementations never block and never call back into the router from
// deliver().
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "protocol/jid/jid.h"
#include "protocol/stream_error.h"
#include "protocol/xml/element.h"

namespace xd::server {

class Session {
 public:
  virtual ~Session() = default;

  // The bound full JID (RFC 6120 §7).
  virtual const protocol::Jid& jid() const = 0;

  // Serializes |stanza| for this session's wire format and queues it. The
  // caller keeps ownership; the session does not keep a reference.
  virtual void deliver(const protocol::Element& stanza) = 0;

  // Ends the session with a stream error (e.g. conflict when a new session
  // binds the same resource, RFC 6120 §7.7.2.2). The close completes later.
  virtual void kick(protocol::StreamCondition condition, std::string_view text) = 0;

  // Presence state (RFC 6121 §4): available once initial presence was sent.
  bool available() const { return available_; }
  int priority() const { return priority_; }
  // The last available presence the client broadcast, with 'from' stamped,
  // or null. Sent to contacts that probe and to new subscribers.
  const protocol::Element* last_presence() const { return last_presence_.get(); }
  void set_presence(std::unique_ptr<protocol::Element> presence, int priority) {
    available_ = presence != nullptr;
    priority_ = priority;
    last_presence_ = std::move(presence);
  }

  // RFC 6121 §2.1.6: a resource that requested the roster gets roster pushes.
  bool interested_in_roster() const { return roster_requested_; }
  void set_interested_in_roster() { roster_requested_ = true; }

  // XEP-0280: this resource wants copies of its account's chat messages.
  bool carbons_enabled() const { return carbons_; }
  void set_carbons(bool on) { carbons_ = on; }

 private:
  bool available_ = false;
  bool roster_requested_ = false;
  bool carbons_ = false;
  int priority_ = 0;
  std::unique_ptr<protocol::Element> last_presence_;
};

}  // namespace xd::server
