// Presence (RFC 6121 §4) and subscription stanzas (RFC 6121 §3) for local
// users: broadcast of available/unavailable presence to subscribers and
// the user's own resources, probes answered from the session table,
// directed presence, and subscription requests handed to the roster
// service. Presence to unknown users is dropped silently (catalogue F48).
#pragma once

#include <functional>
#include <memory>

#include "protocol/jid/jid.h"
#include "protocol/xml/element.h"
#include "server/roster_service.h"
#include "server/router.h"
#include "server/session.h"

namespace xd::server {

class PresenceManager {
 public:
  PresenceManager(Router& router, RosterService& roster) : router_(router), roster_(roster) {}

  // A presence stanza from the local session |origin| ('from' stamped);
  // |to| is null for a broadcast.
  void outbound(Session& origin, const protocol::Jid* to, std::unique_ptr<protocol::Element> p);

  // |session| is going away: contacts see it become unavailable.
  void session_ended(Session& session);

  // Called after a session's initial presence with non-negative priority
  // was broadcast (the offline backlog follows it, RFC 6121 §4.2.2 note).
  void set_initial_presence_hook(std::function<void(Session&)> hook) {
    on_initial_ = std::move(hook);
  }

 private:
  void broadcast(Session& origin, const protocol::Element& presence, bool initial);
  void subscription(Session& origin, const protocol::Jid& to, const protocol::Element& p);
  // Delivers to every available resource of the local bare JID |bare|.
  void to_available(const protocol::Jid& bare, const protocol::Element& p);
  // Sends the current presence of every available resource of |contact| to
  // |recipient| (a full or bare local JID).
  void send_presences_of(const protocol::Jid& contact, const protocol::Jid& recipient);

  Router& router_;
  RosterService& roster_;
  std::function<void(Session&)> on_initial_;
};

}  // namespace xd::server
