// One xmppd node of a cluster (architecture.md §6, docs/cluster.md): the
// session directory (who is connected on which node, in the KV bucket
// xd_sessions, with node heartbeats in xd_nodes), and the hand-offs between
// nodes. A storable message for a user connected elsewhere is published to
// that node's subject on the XD_ROUTE stream; one for a user connected
// nowhere goes to the user's subject on XD_OFFLINE; the sender's ack waits
// for JetStream's. A node commits what it takes from XD_ROUTE to its own
// queue before acknowledging it, pulls a user's XD_OFFLINE messages into
// its queue at login, and hands a user's queue back to XD_OFFLINE when the
// user's last session on it ends. Presence, IQs and unstored messages go
// at most once over core NATS. Single-threaded on the loop (NatsLink
// brings every NATS event there); never parses client input.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/net_loop.h"
#include "net/timer.h"
#include "protocol/jid/jid.h"
#include "protocol/xml/element.h"
#include "server/cluster/nats_link.h"

namespace xd::server {

class DeliveryQueue;
class PushNotifier;
class Router;
class Session;
class SessionTable;

struct ClusterTimings {
  int64_t heartbeat_ms = 1000;
  int64_t dead_after_ms = 5000;
  bool journal = true;  // ServerConfig::cluster_journal
};

class ClusterNode final : private net::NetLoop::PrepareHook {
 public:
  ClusterNode(net::NetLoop& loop, NatsLink& link, Router& router, DeliveryQueue& delivery,
              ClusterTimings timings);
  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // Clears this node's directory entries left by an earlier run, hands the
  // local queues back to XD_OFFLINE (nobody is connected here yet), starts
  // the heartbeat, the directory watchers and the XD_ROUTE consumer.
  bool start(std::string& error);

  void set_push(PushNotifier* push) { push_ = push; }

  // A clean shutdown (the loop has stopped, every session is gone): the
  // local queue goes to the offline streams (blocking publishes, each
  // acknowledged by JetStream before its entry leaves LMDB), and the
  // node's directory entries and heartbeat are deleted, so a node taken
  // out of service for good strands nothing.
  void leave();

  // --- Directory ----------------------------------------------------------
  // The local session table changed for the account |user| (enforced
  // localpart); the directory entry is rewritten at the end of the loop
  // iteration.
  void sessions_changed(const std::string& user);
  // Live nodes other than this one where |user| has sessions.
  std::vector<std::string> remote_nodes(const std::string& user) const;
  // The live node other than this one where |full| is bound, or empty.
  std::string remote_node_of(const protocol::Jid& full) const;
  // Whether |user| has sessions on a live node other than this one (no
  // allocation: asked for every message routed to a user not here).
  bool online_elsewhere(const std::string& user) const;

  // --- Routing ------------------------------------------------------------
  // A storable message from |origin| to the existing account |to|: to the
  // local queue when the target sessions are here (with its journal copy),
  // handed to every other node where they are, or to the offline stream
  // when the user is nowhere.
  void route_stored(Session* origin, const protocol::Jid& to, std::unique_ptr<protocol::Element> m);
  // Sends |stanza| for |to| to the other nodes where |to| is connected
  // (presence, IQs, unstored messages; at most once).
  void forward_live(const protocol::Jid& to, const protocol::Element& stanza);
  // The same to one named node (an answer to a probe goes to the node that
  // asked, which the directory replica may not show yet).
  void send_live(const std::string& node, const protocol::Jid& to, const protocol::Element& stanza);

  // A login on this node is due its backlog (initial presence): first the
  // user's offline stream is moved into the local queue (blocking round
  // trips), then |deliver| runs, now or, if the stream cannot be read, once
  // it can (or publish_timeout later). Not after forget(|session|).
  void login_backlog(Session& session, std::function<void(Session&)> deliver);
  // |session| is going away: pending hand-offs stop referring to it.
  void forget(Session& session);

 private:
  struct NodeState {
    uint64_t last_seen_ms = 0;  // loop clock of the last heartbeat seen
  };
  struct Hold {
    Session* origin = nullptr;
    uint64_t token = 0;
    std::unique_ptr<protocol::Element> element;  // for an error reply
    int waiting = 0;
    bool failed = false;
    // The local queue took it too: its commit already told the client
    // (Session::committed), the hold only keeps the XEP-0198 ack back.
    bool local = false;
  };

  void on_loop_prepare() override;
  // Publishes this iteration's journal copies as one JetStream message.
  void flush_journal();
  // Queues a hand-off of |data| for |to| to |node|, published with the
  // iteration's others to that node in flush_routes(); |done(ok)| when
  // JetStream has it (or gave up).
  void queue_route(const std::string& node, const protocol::Jid& to, uint64_t stamp_ms,
                   std::string_view data, std::function<void(bool)> done);
  void flush_routes();
  void heartbeat();
  bool node_live(const std::string& node) const;
  void on_sessions_change(const KvChange& c);
  void on_nodes_change(const KvChange& c);
  void on_route(const NatsMsgPtr& msg);
  static std::string ack_key(const std::string& user, uint64_t seq);
  // DeliveryQueue's removal hook: the hand-off of (|user|, |seq|), if it
  // came from XD_ROUTE, is acknowledged now; if it came from XD_OFFLINE, it
  // is deleted there now.
  void on_removed(const std::string& user, uint64_t seq);
  bool consume_routes();
  // The janitor's part when |node| died: its consumer goes, and what waits
  // on its XD_ROUTE subject is routed again (where the users are now, or
  // to the offline stream).
  void take_over(const std::string& node);
  // Routes again every message on |subject| of |stream| (a dead node's),
  // then purges them once all are placed.
  void drain(const char* stream, const std::string& subject);
  // A stored entry for |to| (in stored form) sent where |to| is now: the
  // nodes hosting it, else the offline stream. |done(ok)| on the loop.
  void reroute(const protocol::Jid& to, std::string_view data, uint64_t stamp_ms,
               std::function<void(bool)> done);
  void on_live(natsMsg* msg);
  void on_wake(const std::string& user);
  // Publishes one stored entry to XD_OFFLINE; |done(ok)| on the loop.
  void publish_offline(const std::string& user, std::string_view data, uint64_t stamp_ms,
                       std::function<void(bool)> done);
  // Hands |user|'s local queue to XD_OFFLINE.
  void evict(const std::string& user);
  // Moves |user|'s offline stream into the local queue; |queue_only| as in
  // DeliveryQueue::RemoteAccept. Returns how many were moved.
  // False when the stream could not be read or the commit failed.
  bool pull_offline(const std::string& user, bool queue_only);
  void retry_logins();
  void publish_entry(const std::string& user);
  void ensure_wake(const std::string& user);
  void hold_done(uint64_t hold, bool ok);
  std::string offline_subject(const std::string& user) const;

  net::NetLoop& loop_;
  NatsLink& link_;
  Router& router_;
  DeliveryQueue& delivery_;
  ClusterTimings timings_;
  PushNotifier* push_ = nullptr;
  std::string epoch_;  // this run of the node
  std::unique_ptr<net::Timer> heartbeat_timer_;
  // The directory replica: user -> node -> resources there.
  std::unordered_map<std::string, std::unordered_map<std::string, std::vector<std::string>>> dir_;
  std::unordered_map<std::string, NodeState> nodes_;
  // What this node last wrote for a user (its resources), to skip rewrites.
  std::unordered_map<std::string, std::vector<std::string>> published_;
  std::unordered_set<std::string> dirty_;
  std::unordered_map<std::string, uint64_t> wake_subs_;  // user -> subscription
  std::unordered_set<std::string> evicting_;
  // Logins whose offline stream is read once more a little later: a
  // wake-up published on another NATS server before this node's interest
  // reached it is lost, the stream is not.
  std::unordered_map<std::string, uint64_t> repull_;
  struct PendingLogin {
    std::function<void(Session&)> deliver;
    uint64_t give_up_ms = 0;
  };
  std::unordered_map<Session*, PendingLogin> pending_logins_;
  // Dead nodes whose route subject is drained once more at the given time
  // (a sender may have published to it before it saw the death).
  std::unordered_map<std::string, uint64_t> redrain_;
  // Hand-offs from XD_ROUTE committed here and not yet delivered, by
  // ack_key: acknowledged to JetStream when their entry leaves the queue.
  // A batch of hand-offs taken from XD_ROUTE: acknowledged when every
  // record is settled (safe elsewhere, or its entry left the queue).
  struct InboundBatch {
    NatsMsgPtr msg;
    size_t remaining = 0;
    bool failed = false;
  };
  void settle_inbound(const std::shared_ptr<InboundBatch>& batch, bool ok);
  std::unordered_map<std::string, std::shared_ptr<InboundBatch>> route_acks_;
  // Hand-offs of this iteration by destination node (queue_route).
  struct RouteBatch {
    std::string body;  // records, framed
    std::vector<std::function<void(bool)>> done;
  };
  std::unordered_map<std::string, RouteBatch> route_out_;
  // Offline messages read into the local queue, by ack_key: their stream
  // sequence, deleted from XD_OFFLINE when the entry leaves the queue.
  std::unordered_map<std::string, uint64_t> offline_acks_;
  // Same-node entries' copies in XD_JOURNAL, by ack_key: their stream
  // sequence, deleted when the entry leaves the queue. |journal_pending_|:
  // copies not yet acknowledged; |removed_early_|: of those, entries that
  // left the queue first (their copy is deleted when its ack comes).
  std::unordered_map<std::string, uint64_t> journal_acks_;
  // Journal messages (stream sequence) -> entries in them still queued.
  std::unordered_map<uint64_t, size_t> journal_refs_;
  // This iteration's copies, published together in the prepare phase.
  struct JournalEntry {
    std::string key;    // ack_key
    uint64_t hold = 0;  // the sender's Hold
  };
  std::vector<JournalEntry> journal_batch_;
  std::string journal_body_;  // their records, framed
  std::unordered_set<std::string> journal_pending_;
  std::unordered_set<std::string> removed_early_;
  // Per resident user, the last offline stream sequence read into the
  // local queue (later reads start after it).
  std::unordered_map<std::string, uint64_t> pulled_;
  uint64_t route_sub_ = 0;
  uint64_t beats_ = 0;
  uint64_t last_beat_ms_ = 0;  // loop clock of the previous heartbeat() tick
  std::unordered_map<uint64_t, Hold> holds_;
  uint64_t next_hold_ = 1;
  bool scheduled_ = false;
};

}  // namespace xd::server
