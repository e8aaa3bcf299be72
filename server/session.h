// A bound client session as the router and modules see it: its full JID,
// its presence state, and a way to hand it a stanza. Implemented by the c2s
// session (server/c2s_session.h); a cluster backend will add remote ones.
// Implementations never block and never call back into the router from
// deliver().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/jid/jid.h"
#include "protocol/stream_error.h"
#include "protocol/xml/element.h"
#include "server/send_limits.h"
#include "server/storage/message_store.h"

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

  // Hands over a stanza from the durable queue (spec/delivery.md §1.3), in
  // its stored form (server/stored_stanza.h), with the element too when it
  // was just accepted (|live|, else null); with |delayed| it is backlog and
  // gets a delay stamp.
  // The session later reports DeliveryQueue::delivered() once the client
  // acknowledged it (stream management) or the write completed, or gives
  // it back with DeliveryQueue::release() when it ends without either.
  // False when the session cannot take it (closing).
  virtual bool deliver_queued(const QueuedStanza& /*stanza*/, bool /*delayed*/,
                              const protocol::Element* /*live*/ = nullptr) {
    return false;
  }

  // How many more queued stanzas the session can take now without going
  // over its limits (stream-management window, write queue). The backlog
  // is paced by it; the session calls DeliveryQueue::resume_backlog() when
  // room opens up again.
  virtual size_t queue_room() { return SIZE_MAX; }

  // False while the session waits for a resumption without a connection
  // (XEP-0198 §5): what it takes reaches no device until then.
  virtual bool connected() const { return true; }

  // The stanza this session is routing right now waits for a group commit
  // before it counts as handled (XEP-0198 h). Returns the token that
  // release_ack() gets after the commit.
  virtual uint64_t hold_ack() { return 0; }
  virtual void release_ack(uint64_t /*token*/) {}
  // A message this session sent is committed (|stanza_id| is its XEP-0359
  // id, empty for a resend dropped as a duplicate), accepted at |stamp_ms|
  // wall-clock time: the moment the sender may show it as sent
  // (spec/compact.md §9). Called just before release_ack().
  virtual void committed(const protocol::Element& /*message*/, std::string_view /*stanza_id*/,
                         uint64_t /*stamp_ms*/) {}

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

  // Catalogue G51 (server/send_limits.h): the distinct recipients of this
  // session's messages (Router) and its presence broadcast budget
  // (PresenceManager).
  RecipientWindow& recipients() { return recipients_; }
  BroadcastBucket& broadcasts() { return broadcasts_; }

 private:
  bool available_ = false;
  bool roster_requested_ = false;
  bool carbons_ = false;
  int priority_ = 0;
  std::unique_ptr<protocol::Element> last_presence_;
  RecipientWindow recipients_;
  BroadcastBucket broadcasts_;
};

}  // namespace xd::server
