// The durable delivery path (architecture.md §1 and §3, spec/delivery.md):
// storable messages accepted during one loop iteration are committed to
// their recipients' queues in one synchronous LMDB transaction in the
// loop's prepare phase (group commit); only then are senders' XEP-0198
// counters released and the stanzas handed to the recipients' sessions.
// Entries leave the queue when a session reports them delivered (ack or
// write completion); entries given back by a session that ended go to the
// account's other sessions or wait for the next login, whose backlog is
// bracketed by catch-up markers. A commit that fails with an I/O error
// stops the process (fail-stop): nothing unstored is ever acknowledged.
// Single-threaded; never blocks except in the commit's fsync.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/net_loop.h"
#include "protocol/jid/jid.h"
#include "protocol/xml/element.h"
#include "server/metrics.h"
#include "server/storage/message_store.h"

namespace xd::server {

class PushNotifier;
class Router;
class Session;

// spec/delivery.md §3 (XEP-0160, XEP-0334): whether |message| goes through
// the durable queue.
bool is_storable(const protocol::Element& message);

// XEP-0082 date-time in UTC with milliseconds: 2026-11-28T03:41:07.123Z.
std::string xmpp_timestamp(uint64_t unix_ms);

// Wall-clock milliseconds since the epoch.
uint64_t wall_clock_ms();

class DeliveryQueue final : private net::NetLoop::PrepareHook {
 public:
  DeliveryQueue(net::NetLoop& loop, MessageStore& store, Router& router, QueuePolicy policy);
  ~DeliveryQueue() override;
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // A storable message from |origin| (null for the server itself) to the
  // existing local account |to| (bare or full). Adds the stanza-id, holds
  // the origin's ack and queues it for this iteration's commit.
  // Returns the entry's sequence number, or 0 when it was refused at once.
  uint64_t accept(Session* origin, const protocol::Jid& to, std::unique_ptr<protocol::Element> m);

  // A message another cluster node handed over (docs/cluster.md §4): as
  // accept() with no origin, keeping the time |stamp_ms| it was first
  // accepted at. |queue_only|: stored without being handed to any session
  // (a login's backlog, read from the offline stream before the catch-up
  // starts, so it comes between the markers). |done| runs after the commit
  // with whether the entry is safe (stored, or a duplicate of one that is)
  // and, when stored, its sequence number (0 otherwise).
  struct RemoteAccept {
    uint64_t stamp_ms = 0;
    bool queue_only = false;
    std::function<void(bool safe, uint64_t seq)> done;
  };
  void accept_remote(const protocol::Jid& to, std::unique_ptr<protocol::Element> m,
                     RemoteAccept how);
  // Removes the committed entry (|user|, |seq|) without counting it as
  // delivered (it moved to another node's queue).
  void drop(const std::string& user, uint64_t seq) {
    batch_.removals.push_back({user, seq});
    schedule();
  }

  // The entry (|user|, |seq|) reached a client: delete it.
  void delivered(const std::string& user, uint64_t seq);
  // |session| ended holding the entries |seqs| of its account without
  // delivering them: they go to the account's other available sessions or
  // stay queued. Call after the session left the session table.
  void release(Session& session, const std::vector<uint64_t>& seqs);
  // Initial presence (RFC 6121 §4.2): the account's queued entries that are
  // not in flight elsewhere, oldest first, between catch-up markers, then
  // whatever was queued meanwhile; paced by Session::queue_room(). Until it
  // is done, new entries for the session wait in the queue, so no live
  // message overtakes the backlog.
  void deliver_backlog(Session& session);
  // The session has room again (acks, a drained write queue).
  void resume_backlog(Session& session);
  bool catching_up(const Session& session) const { return backlogs_.count(&session) != 0; }
  // |session| is going away: it must never be called back.
  void forget(Session& session);

  // Stream-management records go in the next commit.
  void persist_sm(SmRecord record);
  void forget_sm(std::string id);

  // Called after each commit for every entry it removed (delivered,
  // dropped), user and sequence number: the cluster acknowledges the
  // hand-off an entry came with only then (docs/cluster.md §4).
  void set_removal_hook(std::function<void(const std::string& user, uint64_t seq)> hook) {
    removal_hook_ = std::move(hook);
  }

  // Notifications for messages stored while no connected session took them.
  void set_push(PushNotifier* push) { push_ = push; }
  // Where commits, stored and delivered messages are counted (may be null).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }

  // Commits what is pending now (shutdown); returns the store's answer.
  StorageError flush();

  MessageStore& store() { return store_; }
  const QueuePolicy& policy() const { return policy_; }
  // Entries handed to sessions and not yet delivered or released.
  size_t in_flight() const;

 private:
  struct Pending {
    Session* origin = nullptr;
    uint64_t token = 0;
    protocol::Jid to;
    std::unique_ptr<protocol::Element> element;
    bool early = false;       // written to its recipients before the commit (§1.5)
    bool queue_only = false;  // RemoteAccept::queue_only
    std::function<void(bool safe, uint64_t seq)> done;  // RemoteAccept::done
  };
  // accept() and accept_remote(): the common part.
  uint64_t accept_common(Session* origin, const protocol::Jid& to,
                         std::unique_ptr<protocol::Element> m, uint64_t stamp_ms,
                         RemoteAccept* remote);

  void on_loop_prepare() override;
  // spec/delivery.md §1.5: hands the just-accepted entry |i| of the batch
  // to its recipients now when that keeps every promise: all of them
  // connected and none catching up, no earlier entry of the account
  // waiting for this commit, and its origin-id not a duplicate.
  bool deliver_early(size_t i);
  void schedule();
  StorageError commit();
  // A backlog being delivered to one session (deliver_backlog).
  struct Backlog {
    std::string user;
    std::vector<uint64_t> seqs;  // the entries announced in the start marker
    size_t next = 0;             // index into |seqs|
    uint64_t snapshot = 0;       // every entry committed later has a higher seq
    uint64_t tail_after = 0;     // tail phase: entries after this one
    std::string marker_id;
    bool done_sent = false;
  };
  // Sends what fits of |session|'s backlog; erases it when complete.
  void pump_backlog(Session& session);
  bool removing(const std::string& user, uint64_t seq) const;
  // With metrics_ set.
  void count_not_stored(NotStoredReason reason);

  // Hands |q| to |sessions|; returns how many took it, and in |connected|
  // how many of those have a live connection.
  // |live|: the message as an element when it was just accepted (saves a
  // decode for XML recipients).
  size_t hand_over(const QueuedStanza& q, const std::vector<Session*>& sessions, bool delayed,
                   size_t* connected = nullptr, const protocol::Element* live = nullptr);

  net::NetLoop& loop_;
  MessageStore& store_;
  Router& router_;
  QueuePolicy policy_;
  CommitBatch batch_;
  std::vector<Pending> pending_;  // parallel to batch_.stores
  // Of the batch being collected: accounts with an entry that waits for the
  // commit (their later entries wait too, to keep the order), and the
  // origin-id keys of its entries (a repeat inside one batch is a duplicate).
  std::unordered_set<std::string> slow_users_;
  std::unordered_set<std::string> batch_dedupe_;
  bool early_in_batch_ = false;  // an entry of batch_ was written early
  uint64_t deferred_at_ = 0;     // the loop iteration the commit last yielded in
  // user -> seq -> sessions holding it.
  std::unordered_map<std::string, std::unordered_map<uint64_t, uint32_t>> inflight_;
  std::unordered_map<const Session*, Backlog> backlogs_;
  PushNotifier* push_ = nullptr;
  Metrics* metrics_ = nullptr;
  std::function<void(const std::string& user, uint64_t seq)> removal_hook_;
  bool scheduled_ = false;
};

}  // namespace xd::server
