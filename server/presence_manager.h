// Presence (RFC 6121 §4) and subscription stanzas (RFC 6121 §3) for local
// users: broadcast of available/unavailable presence to subscribers and
// the user's own resources, probes answered from the session table,
// directed presence, and subscription requests handed to the roster
// service. Presence to unknown users is dropped silently (catalogue F48).
// A session's broadcasts are rate-limited (catalogue G51, XEP-0205 §4.8):
// beyond the limit they are not fanned out, and the session's latest state
// goes out once its budget allows.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

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

  // Catalogue G51: called with a delay in ms when a broadcast was held back
  // and flush_deferred() should run after it (the server arms a timer; a
  // timer already running is left as it is). Without a hook held-back
  // states wait for the session's next broadcast or its end.
  void set_deferred_hook(std::function<void(uint64_t delay_ms)> hook) {
    on_deferred_ = std::move(hook);
  }
  // Broadcasts the current state of every session whose broadcast was held
  // back and whose budget now allows one. Returns the delay in ms after
  // which it should run again, 0 when nothing is held back any more.
  uint64_t flush_deferred();

 private:
  // Broadcasts |presence| of |origin| (RFC 6121 §4.2.2, §4.4.2). With
  // |limited| the fan-out to contacts and own resources takes one from
  // the session's broadcast budget and is held back when there is none;
  // what goes to |origin| itself for an |initial| presence never is.
  void broadcast(Session& origin, const protocol::Element& presence, bool initial, bool limited);
  void subscription(Session& origin, const protocol::Jid& to, const protocol::Element& p);
  // Delivers to every available resource of the local bare JID |bare|.
  void to_available(const protocol::Jid& bare, const protocol::Element& p);
  // Sends the current presence of every available resource of |contact| to
  // |recipient| (a full or bare local JID).
  // RFC 6121 §4.3 across cluster nodes: asks the nodes where |contact| is
  // connected to send its available resources' presence to |requester|.
  void probe_elsewhere(const protocol::Jid& contact, const protocol::Jid& requester);
  void send_presences_of(const protocol::Jid& contact, const protocol::Jid& recipient);

  Router& router_;
  RosterService& roster_;
  std::function<void(Session&)> on_initial_;
  std::function<void(uint64_t)> on_deferred_;
  // Full JIDs of sessions with a held-back broadcast, looked up again when
  // flushed (a session may have ended meanwhile). A session is added only
  // when its BroadcastBucket::deferred flag turns on, so this holds about
  // one entry per session at most.
  std::vector<protocol::Jid> deferred_;
};

}  // namespace xd::server
