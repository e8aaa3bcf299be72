// ClusterNode: the directory replica, the hand-offs and their acks.
#include "server/cluster/cluster_node.h"

#include <algorithm>
#include <random>

#include "server/cluster/kv_record.h"
#include "server/delivery_queue.h"
#include "server/log.h"
#include "server/push_notifier.h"
#include "server/router.h"
#include "server/session.h"
#include "server/stored_stanza.h"

namespace xd::server {

namespace {

constexpr const char* kToHeader = "Xd-To";
constexpr const char* kStampHeader = "Xd-Stamp";
constexpr const char* kFromNodeHeader = "Xd-From-Node";
// A user's offline stream is read in one login at most this deep; the
// rest stays for the next read (the per-account quota bounds it anyway).
constexpr size_t kMaxPull = 20000;

std::string header(natsMsg* m, const char* name) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, name, &v) != NATS_OK || !v) return {};
  return v;
}

std::string_view body(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))};
}

uint64_t stream_seq(natsMsg* m) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) != NATS_OK) return 0;
  const uint64_t seq = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  return seq;
}

std::string random_epoch() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> d;
  return hex_token(std::to_string(d(rd)));
}

}  // namespace

using protocol::Element;
using protocol::Jid;

ClusterNode::ClusterNode(net::NetLoop& loop, NatsLink& link, Router& router,
                         DeliveryQueue& delivery, ClusterTimings timings)
    : loop_(loop),
      link_(link),
      router_(router),
      delivery_(delivery),
      timings_(timings),
      epoch_(random_epoch()) {
  delivery_.set_removal_hook(
      [this](const std::string& user, uint64_t seq) { on_removed(user, seq); });
}

ClusterNode::~ClusterNode() {
  delivery_.set_removal_hook({});
  if (scheduled_) loop_.unschedule(*this);
  // Senders still waiting learn nothing more: their acks stay held and
  // their streams end with the process (the hand-off may or may not have
  // been stored; the client resends what was never acknowledged).
}

std::string ClusterNode::offline_subject(const std::string& user) const {
  return "xd.offline." + hex_token(user);
}

bool ClusterNode::start(std::string& error) {
  const std::string& self = link_.node_id();
  // Entries an earlier run of this node left behind (it was killed): no
  // session of them exists any more.
  kvKeysList keys{};
  natsStatus s = kvStore_Keys(&keys, link_.sessions_kv(), nullptr);
  if (s == NATS_OK) {
    const std::string suffix = "." + self;
    for (int i = 0; i < keys.Count; ++i) {
      std::string_view k = keys.Keys[i];
      if (k.size() > suffix.size() && k.substr(k.size() - suffix.size()) == suffix) {
        kvStore_Delete(link_.sessions_kv(), keys.Keys[i]);
      }
    }
    kvKeysList_Destroy(&keys);
  } else if (s != NATS_NOT_FOUND) {
    error = std::string("cluster: cannot read the session directory: ") + natsStatus_GetText(s);
    return false;
  }
  // The copies an earlier run of this node kept in XD_JOURNAL are of
  // entries its queue still holds (or that the janitor already placed):
  // the queue is handed back next, so the copies go.
  link_.purge_below(kJournalStream, "xd.journal." + self, 0);
  // Whatever the local queue holds belongs to users connected nowhere here.
  std::vector<std::string> users;
  if (delivery_.store().queued_users(users) == StorageError::kOk) {
    for (const std::string& u : users) evict(u);
    if (!users.empty()) XD_INFO("cluster: handing back the queues of %zu users", users.size());
  }
  // Heartbeats are read as they are published (core NATS on the bucket's
  // subjects): liveness needs the latest beat, not the bucket's history,
  // and a watcher's consumer may stall for seconds while it resets.
  if (link_.subscribe(std::string("$KV.") + kNodesBucket + ".*", [this](const NatsMsgPtr& m) {
        KvChange c;
        const std::string subject = natsMsg_GetSubject(m.get());
        c.key = subject.substr(subject.rfind('.') + 1);
        c.value = std::string(body(m.get()));
        c.deleted = !header(m.get(), "KV-Operation").empty();
        on_nodes_change(c);
      }) == 0) {
    error = "cluster: cannot subscribe to the heartbeats";
    return false;
  }
  link_.watch(link_.sessions_kv(), [this](const KvChange& c) { on_sessions_change(c); });
  // A fresh route consumer: what an earlier run of this node took from
  // XD_ROUTE and never acknowledged is delivered again now (its users are
  // not here yet, so it goes on to the offline streams) instead of after
  // the acknowledgement wait.
  link_.delete_consumer(kRouteStream, "route-" + self);
  if (!consume_routes()) {
    error = "cluster: cannot consume xd.route." + self;
    return false;
  }
  if (link_.subscribe("xd.live." + self, [this](const NatsMsgPtr& m) { on_live(m.get()); }) == 0) {
    error = "cluster: cannot subscribe to xd.live." + self;
    return false;
  }
  heartbeat_timer_ = std::make_unique<net::Timer>(loop_, [this] { heartbeat(); });
  heartbeat_timer_->start_repeating(0, static_cast<uint64_t>(timings_.heartbeat_ms));
  heartbeat_timer_->unref();
  XD_INFO("cluster: node %s (epoch %s) joined via %s", self.c_str(), epoch_.c_str(),
          link_.config().urls.c_str());
  return true;
}

bool ClusterNode::consume_routes() {
  const std::string& self = link_.node_id();
  if (route_sub_) link_.unsubscribe(route_sub_);
  route_sub_ = link_.consume(kRouteStream, "xd.route." + self, "route-" + self,
                             [this](const NatsMsgPtr& m) { on_route(m); });
  return route_sub_ != 0;
}

// --- Directory -------------------------------------------------------------

void ClusterNode::sessions_changed(const std::string& user) {
  dirty_.insert(user);
  if (!scheduled_) {
    scheduled_ = true;
    loop_.schedule(*this);
  }
}

void ClusterNode::on_loop_prepare() {
  scheduled_ = false;
  flush_journal();
  flush_routes();
  std::unordered_set<std::string> dirty = std::move(dirty_);
  dirty_.clear();
  for (const std::string& user : dirty) publish_entry(user);
}

void ClusterNode::flush_journal() {
  if (journal_batch_.empty()) return;
  std::vector<JournalEntry> batch = std::move(journal_batch_);
  journal_batch_.clear();
  std::string body;
  append_u32(body, static_cast<uint32_t>(batch.size()));
  body += journal_body_;
  journal_body_.clear();
  link_.publish("xd.journal." + link_.node_id(), body, {},
                [this, batch = std::move(batch)](bool ok, uint64_t stream_at) {
                  // The copy is deleted once every entry in it has left the
                  // queue; entries that left before this ack do not count.
                  size_t live = 0;
                  for (const JournalEntry& e : batch) {
                    journal_pending_.erase(e.key);
                    const bool gone = removed_early_.erase(e.key) > 0;
                    if (ok && !gone) {
                      journal_acks_[e.key] = stream_at;
                      ++live;
                    }
                  }
                  if (ok && live == 0) link_.delete_msg_async(kJournalStream, stream_at);
                  if (ok && live > 0) journal_refs_[stream_at] = live;
                  for (const JournalEntry& e : batch) hold_done(e.hold, ok);
                });
}

void ClusterNode::publish_entry(const std::string& user) {
  Jid bare;
  if (Jid::from_parts(user, router_.domain().domain(), "", bare) != protocol::JidError::kOk) return;
  std::vector<std::string> resources;
  for (Session* s : router_.sessions().resources(bare)) resources.push_back(s->jid().resource());
  std::sort(resources.begin(), resources.end());
  const std::string key = hex_token(user) + "." + link_.node_id();
  auto it = published_.find(user);
  if (resources.empty()) {
    if (it != published_.end()) {
      link_.kv_delete_async(kSessionsBucket, key);
      published_.erase(it);
    }
    if (auto w = wake_subs_.find(user); w != wake_subs_.end()) {
      link_.unsubscribe(w->second);
      wake_subs_.erase(w);
    }
    // The user's last session here ended: what the local queue still holds
    // for them goes where any node can read it (and what it read from the
    // offline stream is deleted there as its entries leave).
    evict(user);
    pulled_.erase(user);
    return;
  }
  ensure_wake(user);
  if (it != published_.end() && it->second == resources) return;
  std::string value = epoch_;
  for (const auto& r : resources) {
    value.push_back('\n');
    value += r;
  }
  link_.kv_put_async(kSessionsBucket, key, value);
  published_[user] = std::move(resources);
}

void ClusterNode::on_sessions_change(const KvChange& c) {
  const size_t dot = c.key.rfind('.');
  if (dot == std::string::npos) return;
  const std::string node = c.key.substr(dot + 1);
  std::string user;
  if (!unhex_token(std::string_view(c.key).substr(0, dot), user)) return;
  if (node == link_.node_id()) {
    // The local table is the truth here. An entry of ours deleted by
    // another node (it took us for dead during a pause) is written again.
    if (c.deleted && published_.erase(user)) sessions_changed(user);
    return;
  }
  if (c.deleted) {
    if (auto it = dir_.find(user); it != dir_.end()) {
      it->second.erase(node);
      if (it->second.empty()) dir_.erase(it);
    }
    return;
  }
  std::vector<std::string> resources;
  size_t start = c.value.find('\n');
  while (start != std::string::npos) {
    size_t end = c.value.find('\n', start + 1);
    resources.push_back(
        c.value.substr(start + 1, end == std::string::npos ? end : end - start - 1));
    start = end;
  }
  std::vector<std::string>& known = dir_[user][node];
  Jid bare;
  if (Jid::from_parts(user, router_.domain().domain(), "", bare) == protocol::JidError::kOk) {
    for (const std::string& r : resources) {
      if (std::find(known.begin(), known.end(), r) != known.end()) continue;
      // RFC 6120 §7.7.2.2 across nodes: the resource was just bound on
      // another node, so the session holding it here (often a hibernating
      // one whose client reconnected elsewhere) is replaced; what it held
      // goes back to the queue and on to the new session.
      Jid full;
      if (Jid::from_parts(user, bare.domain(), r, full) != protocol::JidError::kOk) continue;
      if (Session* local = router_.sessions().find(full)) {
        XD_INFO("cluster: %s bound on node %s: the session here is replaced", full.str().c_str(),
                node.c_str());
        router_.sessions().remove(local);
        local->kick(protocol::StreamCondition::kConflict, "resource bound on another node");
      }
    }
  }
  known = std::move(resources);
}

void ClusterNode::on_nodes_change(const KvChange& c) {
  if (c.deleted) {
    nodes_.erase(c.key);
    return;
  }
  NodeState& n = nodes_[c.key];
  n.last_seen_ms = loop_.now_ms();
}

bool ClusterNode::node_live(const std::string& node) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return false;
  return loop_.now_ms() <= it->second.last_seen_ms + static_cast<uint64_t>(timings_.dead_after_ms);
}

void ClusterNode::heartbeat() {
  link_.kv_put_async(kNodesBucket, link_.node_id(), epoch_);
  const uint64_t tick = loop_.now_ms();
  const uint64_t gap = last_beat_ms_ ? tick - last_beat_ms_ : 0;
  last_beat_ms_ = tick;
  if (gap > 2 * static_cast<uint64_t>(timings_.heartbeat_ms)) {
    // This loop was held up (a blocking call waited for a stream without
    // a leader): the beats of the others wait unread in the mailbox, so
    // their silence says nothing. Everyone gets the benefit of the doubt.
    for (auto& [node, state] : nodes_) state.last_seen_ms = tick;
    return;
  }
  // Nodes silent for dead_after_ms are gone: their sessions leave the
  // replica, and the live node with the smallest id deletes their entries
  // (any node could; one is enough).
  std::vector<std::string> dead;
  std::string smallest = link_.node_id();
  for (const auto& [node, state] : nodes_) {
    if (node == link_.node_id()) continue;
    if (node_live(node)) {
      smallest = std::min(smallest, node);
    } else {
      dead.push_back(node);
    }
  }
  const bool janitor = smallest == link_.node_id();
  for (auto it = dir_.begin(); it != dir_.end();) {
    for (const std::string& node : dead) {
      if (it->second.erase(node) && janitor) {
        link_.kv_delete_async(kSessionsBucket, hex_token(it->first) + "." + node);
      }
    }
    it = it->second.empty() ? dir_.erase(it) : std::next(it);
  }
  const uint64_t now = loop_.now_ms();
  for (const std::string& node : dead) {
    if (!nodes_.erase(node)) continue;
    XD_WARN("cluster: node %s is silent: its sessions are dropped", node.c_str());
    if (janitor) {
      take_over(node);
      redrain_[node] = now + static_cast<uint64_t>(timings_.dead_after_ms);
    }
  }
  for (auto it = redrain_.begin(); it != redrain_.end();) {
    if (it->second > now || nodes_.count(it->first)) {
      // Not yet, or the node is back (it drains its own subject).
      it = nodes_.count(it->first) ? redrain_.erase(it) : std::next(it);
      continue;
    }
    const std::string node = it->first;
    it = redrain_.erase(it);
    take_over(node);
  }
  if (!pending_logins_.empty()) retry_logins();
  // A node taken for dead by the others (a long pause) lost its consumer:
  // it makes a new one. Checked every few beats (one API request).
  if (++beats_ % 8 == 0) {
    bool known = false;
    if (!link_.consumer_exists(kRouteStream, "route-" + link_.node_id(), known) && known) {
      XD_WARN("cluster: this node's route consumer was removed; subscribing again");
      consume_routes();
    }
  }
  for (auto it = repull_.begin(); it != repull_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    const std::string user = it->first;
    it = repull_.erase(it);
    on_wake(user);
  }
}

std::vector<std::string> ClusterNode::remote_nodes(const std::string& user) const {
  std::vector<std::string> out;
  auto it = dir_.find(user);
  if (it == dir_.end()) return out;
  for (const auto& [node, resources] : it->second) {
    if (!resources.empty() && node_live(node)) out.push_back(node);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool ClusterNode::online_elsewhere(const std::string& user) const {
  auto it = dir_.find(user);
  if (it == dir_.end()) return false;
  for (const auto& [node, resources] : it->second) {
    if (!resources.empty() && node_live(node)) return true;
  }
  return false;
}

std::string ClusterNode::remote_node_of(const Jid& full) const {
  auto it = dir_.find(full.local());
  if (it == dir_.end()) return {};
  for (const auto& [node, resources] : it->second) {
    if (!node_live(node)) continue;
    if (std::find(resources.begin(), resources.end(), full.resource()) != resources.end()) {
      return node;
    }
  }
  return {};
}

// --- Routing ---------------------------------------------------------------

void ClusterNode::route_stored(Session* origin, const Jid& to, std::unique_ptr<Element> m) {
  const std::string user = to.local();
  // Where the message goes (RFC 6121 §8.5): a full JID to the node holding
  // that resource only; a bare JID, or a resource bound nowhere (treated
  // as the bare JID, §8.5.3.2.1), to every node where the account is.
  bool local = false;
  std::vector<std::string> nodes;
  if (!to.is_bare() && router_.sessions().find(to)) {
    local = true;
  } else if (std::string node = to.is_bare() ? std::string() : remote_node_of(to); !node.empty()) {
    nodes.push_back(std::move(node));
  } else {
    local = router_.sessions().count(to.bare()) > 0;
    nodes = remote_nodes(user);
  }
  const bool journal = local && timings_.journal;
  if (nodes.empty() && local && !journal) {
    // The single-node path: nothing else to do.
    delivery_.accept(origin, to, std::move(m));
    return;
  }
  std::string data;
  if (!encode_stored(*m, router_.domain().domain(), data)) {
    if (origin) router_.bounce(origin, *m, protocol::StanzaCondition::kInternalServerError);
    return;
  }
  const uint64_t stamp = wall_clock_ms();
  XD_DEBUG("cluster: message for %s: %s%zu other nodes%s", user.c_str(), local ? "here, " : "",
           nodes.size(), nodes.empty() && !local ? ", offline stream" : "");
  const uint64_t id = next_hold_++;
  Hold& h = holds_[id];
  h.origin = origin;
  h.token = origin ? origin->hold_ack() : 0;
  h.element = local ? m->clone() : std::move(m);
  h.local = local;
  h.waiting =
      static_cast<int>(nodes.size()) + (nodes.empty() && !local ? 1 : 0) + (journal ? 1 : 0);
  if (local) {
    const uint64_t seq = delivery_.accept(origin, to, std::move(m));
    if (journal) {
      if (seq == 0) {
        hold_done(id, true);  // refused at once: nothing to keep a copy of
      } else {
        // docs/cluster.md §4: the copy in XD_JOURNAL lets the janitor route
        // it again if this node dies before it is delivered; the sender's
        // ack waits for it too. Copies of one loop iteration travel in one
        // JetStream message (group commit, as LMDB's).
        JournalEntry e;
        e.key = ack_key(user, seq);
        e.hold = id;
        journal_pending_.insert(e.key);
        // A record: to, stamp, the stored form.
        append_framed(journal_body_, to.str());
        append_framed(journal_body_, std::to_string(stamp));
        append_framed(journal_body_, data);
        journal_batch_.push_back(std::move(e));
        if (!scheduled_) {
          scheduled_ = true;
          loop_.schedule(*this);
        }
      }
    }
  }
  if (nodes.empty() && !local) {
    publish_offline(user, data, stamp, [this, id, user](bool ok) {
      if (ok && push_) {
        if (auto it = holds_.find(id); it != holds_.end()) {
          push_->stored(user, *it->second.element, it->second.element->attr_or("from"));
        }
      }
      hold_done(id, ok);
    });
    return;
  }
  for (const std::string& node : nodes) {
    queue_route(node, to, stamp, data, [this, id](bool ok) { hold_done(id, ok); });
  }
}

void ClusterNode::queue_route(const std::string& node, const Jid& to, uint64_t stamp_ms,
                              std::string_view data, std::function<void(bool)> done) {
  // One JetStream message per destination node and loop iteration (group
  // commit): a record is to, stamp, the stored form.
  RouteBatch& b = route_out_[node];
  append_framed(b.body, to.str());
  append_framed(b.body, std::to_string(stamp_ms));
  append_framed(b.body, data);
  b.done.push_back(std::move(done));
  if (!scheduled_) {
    scheduled_ = true;
    loop_.schedule(*this);
  }
}

void ClusterNode::flush_routes() {
  if (route_out_.empty()) return;
  std::unordered_map<std::string, RouteBatch> out = std::move(route_out_);
  route_out_.clear();
  for (auto& [node, b] : out) {
    std::string body;
    append_u32(body, static_cast<uint32_t>(b.done.size()));
    body += b.body;
    link_.publish("xd.route." + node, body, {}, [done = std::move(b.done)](bool ok, uint64_t) {
      for (const auto& d : done) d(ok);
    });
  }
}

void ClusterNode::reroute(const Jid& to, std::string_view data, uint64_t stamp_ms,
                          std::function<void(bool)> done) {
  const std::vector<std::string> nodes = remote_nodes(to.local());
  if (nodes.empty()) {
    publish_offline(to.local(), data, stamp_ms, std::move(done));
    return;
  }
  // Several nodes: each takes a copy; it is safe once all have it.
  auto left = std::make_shared<size_t>(nodes.size());
  auto all_ok = std::make_shared<bool>(true);
  for (const std::string& node : nodes) {
    queue_route(node, to, stamp_ms, data, [left, all_ok, done](bool ok) {
      if (!ok) *all_ok = false;
      if (--*left == 0) done(*all_ok);
    });
  }
}

void ClusterNode::take_over(const std::string& node) {
  // A work-queue stream allows one consumer per subject: the dead node's
  // goes first (it makes a new one when it comes back).
  if (!link_.delete_consumer(kRouteStream, "route-" + node)) {
    XD_WARN("cluster: cannot remove the route consumer of %s", node.c_str());
    return;
  }
  // Hand-offs it took and did not deliver, and the copies of its
  // same-node messages not yet delivered.
  drain(kRouteStream, "xd.route." + node);
  drain(kJournalStream, "xd.journal." + node);
}

void ClusterNode::drain(const char* stream, const std::string& subject) {
  std::vector<NatsMsgPtr> msgs;
  // A short read still places what it got (a prefix of the subject); the
  // rest waits for the next drain or the node's return.
  link_.fetch_all(stream, subject, kMaxPull, msgs);
  if (msgs.empty()) return;
  XD_INFO("cluster: %zu messages on %s routed again", msgs.size(), subject.c_str());
  uint64_t last = 0;
  for (const NatsMsgPtr& m : msgs) last = std::max(last, stream_seq(m.get()));
  auto left = std::make_shared<size_t>(msgs.size());
  auto all_ok = std::make_shared<bool>(true);
  auto settle = [this, left, all_ok, stream, subject, last](bool ok) {
    if (!ok) *all_ok = false;
    if (--*left > 0) return;
    // Every message is where its user is now: off the dead node's subject.
    // Otherwise all stay, for the next drain or the node's return (at
    // least once).
    if (*all_ok && last > 0) link_.purge_below(stream, subject, last + 1);
  };
  // One record per hand-off; a journal message holds a batch of them.
  struct Record {
    std::string to, stamp;
    std::string_view data;
  };
  std::vector<Record> records;
  for (const NatsMsgPtr& m : msgs) {
    std::string_view in = body(m.get());
    uint32_t n = 0;
    if (!take_u32(in, n)) continue;
    for (uint32_t i = 0; i < n; ++i) {
      std::string_view to, stamp, data;
      if (!take_framed(in, to) || !take_framed(in, stamp) || !take_framed(in, data)) break;
      records.push_back({std::string(to), std::string(stamp), data});
    }
  }
  *left = records.size();
  if (records.empty()) {
    if (last > 0) link_.purge_below(stream, subject, last + 1);
    return;
  }
  for (const Record& r : records) {
    Jid to;
    if (Jid::parse(r.to, to) != protocol::JidError::kOk || !to.has_local()) {
      settle(true);  // nothing any node could deliver
      continue;
    }
    reroute(to, r.data, std::strtoull(r.stamp.c_str(), nullptr, 10), settle);
  }
}

void ClusterNode::hold_done(uint64_t id, bool ok) {
  auto it = holds_.find(id);
  if (it == holds_.end()) return;
  Hold& h = it->second;
  if (!ok) {
    h.failed = true;
  }
  if (--h.waiting > 0) return;
  if (h.origin) {
    if (h.failed) {
      // spec/delivery.md §1.4: not taken, so the sender hears it and may
      // resend (a node that did store it gives a duplicate, which the
      // recipient's client drops by its origin-id).
      router_.bounce(h.origin, *h.element, protocol::StanzaCondition::kResourceConstraint);
    } else if (!h.local) {
      h.origin->committed(*h.element, {}, wall_clock_ms());
    }
    h.origin->release_ack(h.token);
  }
  holds_.erase(it);
}

void ClusterNode::forget(Session& session) {
  pending_logins_.erase(&session);
  for (auto& [id, h] : holds_) {
    if (h.origin == &session) h.origin = nullptr;
  }
}

void ClusterNode::publish_offline(const std::string& user, std::string_view data, uint64_t stamp_ms,
                                  std::function<void(bool)> done) {
  Jid bare;
  Jid::from_parts(user, router_.domain().domain(), "", bare);
  const std::string wake = "xd.wake." + hex_token(user);
  link_.publish(offline_subject(user), data,
                {{kToHeader, bare.str()}, {kStampHeader, std::to_string(stamp_ms)}},
                [this, wake, done = std::move(done)](bool ok, uint64_t) {
                  // Whoever holds the user right now (a login racing this
                  // publish) reads the stream again.
                  if (ok) link_.publish_core(wake, {});
                  done(ok);
                });
}

void ClusterNode::on_route(const NatsMsgPtr& msg) {
  // A batch of hand-offs (queue_route). It is acknowledged to JetStream
  // when every record in it is safe elsewhere or has left the local queue
  // (delivered); one that cannot be kept makes JetStream offer the whole
  // batch again a second later (what was kept then comes twice: at least
  // once).
  auto batch = std::make_shared<InboundBatch>();
  batch->msg = msg;
  std::string_view in = body(msg.get());
  uint32_t n = 0;
  struct Record {
    std::string_view to, stamp, data;
  };
  std::vector<Record> records;
  if (take_u32(in, n)) {
    for (uint32_t i = 0; i < n; ++i) {
      Record r;
      if (!take_framed(in, r.to) || !take_framed(in, r.stamp) || !take_framed(in, r.data)) break;
      records.push_back(r);
    }
  }
  batch->remaining = records.size() + 1;  // +1 until the loop below is done
  for (const Record& r : records) {
    Jid to;
    std::unique_ptr<Element> el = decode_stored(r.data, router_.domain().domain());
    if (Jid::parse(r.to, to) != protocol::JidError::kOk || !el || !to.has_local()) {
      XD_WARN("cluster: unreadable hand-off dropped");
      settle_inbound(batch, true);  // nothing any node could deliver
      continue;
    }
    const uint64_t stamp = std::strtoull(std::string(r.stamp).c_str(), nullptr, 10);
    if (router_.sessions().count(to.bare()) == 0) {
      // The user left this node since the sender looked: to the offline
      // stream, where their next login (anywhere) reads it.
      publish_offline(to.local(), r.data, stamp,
                      [this, batch](bool ok) { settle_inbound(batch, ok); });
      continue;
    }
    DeliveryQueue::RemoteAccept how;
    how.stamp_ms = stamp;
    const std::string user = to.local();
    how.done = [this, batch, user](bool safe, uint64_t seq) {
      if (!safe || seq == 0) {
        settle_inbound(batch, safe);
      } else {
        // Settled when the entry leaves the local queue (on_removed):
        // until then a death of this node leaves the batch in XD_ROUTE,
        // where the janitor finds it.
        route_acks_[ack_key(user, seq)] = batch;
      }
    };
    delivery_.accept_remote(to, std::move(el), std::move(how));
  }
  settle_inbound(batch, true);
}

void ClusterNode::settle_inbound(const std::shared_ptr<InboundBatch>& batch, bool ok) {
  if (!ok) batch->failed = true;
  if (--batch->remaining > 0) return;
  if (batch->failed) {
    natsMsg_NakWithDelay(batch->msg.get(), 1000, nullptr);
  } else {
    natsMsg_Ack(batch->msg.get(), nullptr);
  }
}

std::string ClusterNode::ack_key(const std::string& user, uint64_t seq) {
  std::string key = user;
  key.push_back('\0');
  key += std::to_string(seq);
  return key;
}

void ClusterNode::on_removed(const std::string& user, uint64_t seq) {
  if (route_acks_.empty() && offline_acks_.empty() && journal_acks_.empty() &&
      journal_pending_.empty()) {
    return;
  }
  const std::string key = ack_key(user, seq);
  if (auto it = journal_acks_.find(key); it != journal_acks_.end()) {
    const uint64_t stream_at = it->second;
    journal_acks_.erase(it);
    auto r = journal_refs_.find(stream_at);
    if (r != journal_refs_.end() && --r->second == 0) {
      link_.delete_msg_async(kJournalStream, stream_at);
      journal_refs_.erase(r);
    }
  } else if (journal_pending_.count(key)) {
    removed_early_.insert(key);
  }
  if (auto it = route_acks_.find(key); it != route_acks_.end()) {
    std::shared_ptr<InboundBatch> batch = std::move(it->second);
    route_acks_.erase(it);
    settle_inbound(batch, true);
  }
  if (auto it = offline_acks_.find(key); it != offline_acks_.end()) {
    link_.delete_msg_async(kOfflineStream, it->second);
    offline_acks_.erase(it);
  }
}

void ClusterNode::forward_live(const Jid& to, const Element& stanza) {
  if (!to.has_local()) return;
  std::vector<std::string> nodes;
  if (to.is_bare()) {
    nodes = remote_nodes(to.local());
  } else if (std::string n = remote_node_of(to); !n.empty()) {
    nodes.push_back(std::move(n));
  }
  for (const std::string& node : nodes) send_live(node, to, stanza);
}

void ClusterNode::send_live(const std::string& node, const Jid& to, const Element& stanza) {
  std::string data;
  if (!encode_stored(stanza, router_.domain().domain(), data)) return;
  link_.publish_core("xd.live." + node, data,
                     {{kToHeader, to.str()}, {kFromNodeHeader, link_.node_id()}});
}

void ClusterNode::on_live(natsMsg* m) {
  Jid to;
  if (Jid::parse(header(m, kToHeader), to) != protocol::JidError::kOk) return;
  std::unique_ptr<Element> el = decode_stored(body(m), router_.domain().domain());
  if (!el) return;
  router_.deliver_from_cluster(to, *el, header(m, kFromNodeHeader));
}

// --- Offline stream, login and eviction ------------------------------------

void ClusterNode::ensure_wake(const std::string& user) {
  if (wake_subs_.count(user)) return;
  const uint64_t id = link_.subscribe("xd.wake." + hex_token(user),
                                      [this, user](const NatsMsgPtr&) { on_wake(user); });
  if (id) wake_subs_[user] = id;
}

void ClusterNode::on_wake(const std::string& user) {
  Jid bare;
  if (Jid::from_parts(user, router_.domain().domain(), "", bare) != protocol::JidError::kOk) return;
  if (router_.sessions().count(bare) == 0) return;
  for (const auto& [session, p] : pending_logins_) {
    // A login of this user waits for the stream: its retry reads it into
    // the backlog; read live now, it would come before the markers.
    if (session->jid().local() == user) return;
  }
  pull_offline(user, /*queue_only=*/false);
}

void ClusterNode::login_backlog(Session& session, std::function<void(Session&)> deliver) {
  const std::string user = session.jid().local();
  // Senders route here once they see the entry; until then they may still
  // use the offline stream, and the wake-up subscription catches those.
  // No flush: the server handles this connection's SUB before the stream
  // read sent after it (a wake-up published on another server before the
  // interest reached it is lost; the re-read below covers that).
  ensure_wake(user);
  publish_entry(user);
  repull_[user] = loop_.now_ms() + 2 * static_cast<uint64_t>(timings_.heartbeat_ms);
  if (pull_offline(user, /*queue_only=*/true)) {
    deliver(session);
    return;
  }
  // The stream could not be read (it has no leader for a few seconds after
  // a NATS server died): the backlog waits rather than leave the offline
  // messages to arrive after its done marker (spec §4). Retried each
  // heartbeat for publish_timeout; after that it goes out without them and
  // they follow as soon as the stream answers (wake-ups, the re-read).
  PendingLogin& p = pending_logins_[&session];
  p.deliver = std::move(deliver);
  p.give_up_ms = loop_.now_ms() + static_cast<uint64_t>(link_.config().publish_timeout_ms);
  XD_INFO("cluster: the offline stream of %s cannot be read now; its backlog waits", user.c_str());
}

void ClusterNode::retry_logins() {
  const uint64_t now = loop_.now_ms();
  std::vector<Session*> ready;
  for (auto& [session, p] : pending_logins_) {
    if (pull_offline(session->jid().local(), /*queue_only=*/true) || now >= p.give_up_ms) {
      ready.push_back(session);
    }
  }
  for (Session* s : ready) {
    auto it = pending_logins_.find(s);
    if (it == pending_logins_.end()) continue;
    auto deliver = std::move(it->second.deliver);
    pending_logins_.erase(it);
    deliver(*s);
  }
}

bool ClusterNode::pull_offline(const std::string& user, bool queue_only) {
  const std::string subject = offline_subject(user);
  std::vector<NatsMsgPtr> msgs;
  // Messages read before stay in the stream until delivered; only newer
  // ones are read again.
  const uint64_t after = pulled_.count(user) ? pulled_[user] : 0;
  // Nothing of an incomplete read is taken: it is read again whole.
  if (!link_.fetch_all(kOfflineStream, subject, kMaxPull, msgs, after)) return false;
  XD_DEBUG("cluster: %zu offline messages of %s read%s", msgs.size(), user.c_str(),
           queue_only ? " for the backlog" : "");
  if (msgs.empty()) return true;
  uint64_t last = after;
  auto failed = std::make_shared<size_t>(0);
  for (const NatsMsgPtr& m : msgs) {
    const uint64_t stream_at = stream_seq(m.get());
    last = std::max(last, stream_at);
    Jid to;
    std::unique_ptr<Element> el = decode_stored(body(m.get()), router_.domain().domain());
    if (Jid::parse(header(m.get(), kToHeader), to) != protocol::JidError::kOk || !el ||
        to.local() != user) {
      link_.delete_msg_async(kOfflineStream, stream_at);  // nothing could ever deliver it
      continue;
    }
    DeliveryQueue::RemoteAccept how;
    how.stamp_ms = std::strtoull(header(m.get(), kStampHeader).c_str(), nullptr, 10);
    how.queue_only = queue_only;
    how.done = [this, failed, user, stream_at](bool ok, uint64_t seq) {
      if (!ok) {
        ++*failed;
      } else if (seq == 0) {
        link_.delete_msg_async(kOfflineStream, stream_at);
      } else {
        // Deleted from the stream when its entry leaves the local queue
        // (on_removed): if this node dies first, the next login anywhere
        // reads it again.
        offline_acks_[ack_key(user, seq)] = stream_at;
      }
    };
    delivery_.accept_remote(to, std::move(el), std::move(how));
  }
  const StorageError committed = delivery_.flush();
  if (*failed == 0 && committed == StorageError::kOk) {
    pulled_[user] = last;
  } else {
    XD_WARN("cluster: %zu of %zu offline messages of a user were not stored here; read again later",
            *failed, msgs.size());
  }
  return committed == StorageError::kOk;
}

void ClusterNode::leave() {
  // Everything accepted so far is committed first, so nothing is left
  // behind in a batch.
  delivery_.flush();
  std::vector<std::string> users;
  if (delivery_.store().queued_users(users) == StorageError::kOk) {
    size_t moved = 0, kept = 0;
    for (const std::string& user : users) {
      std::vector<QueuedStanza> entries;
      if (delivery_.store().load(user, 0, SIZE_MAX, entries) != StorageError::kOk) continue;
      Jid bare;
      Jid::from_parts(user, router_.domain().domain(), "", bare);
      for (const QueuedStanza& q : entries) {
        if (link_.publish_sync(
                offline_subject(user), q.data,
                {{kToHeader, bare.str()}, {kStampHeader, std::to_string(q.stamp_ms)}})) {
          delivery_.drop(user, q.seq);
          ++moved;
        } else {
          ++kept;
        }
      }
      link_.publish_core("xd.wake." + hex_token(user), {});
    }
    delivery_.flush();
    if (moved || kept) {
      XD_INFO("cluster: leaving: %zu queued messages handed to the offline streams, %zu kept here",
              moved, kept);
    }
  }
  // The directory forgets this node's sessions now rather than after
  // dead_after_ms.
  for (const auto& [user, resources] : published_) {
    link_.kv_delete_async(kSessionsBucket, hex_token(user) + "." + link_.node_id());
  }
  published_.clear();
  link_.kv_delete_async(kNodesBucket, link_.node_id());
  link_.flush();
}

void ClusterNode::evict(const std::string& user) {
  if (evicting_.count(user)) return;
  // What this iteration accepted for the user is committed first, so it is
  // handed back too instead of staying behind.
  delivery_.flush();
  std::vector<QueuedStanza> entries;
  uint64_t after = 0;
  for (;;) {
    std::vector<QueuedStanza> slice;
    if (delivery_.store().load(user, after, 1000, slice) != StorageError::kOk || slice.empty()) {
      break;
    }
    after = slice.back().seq;
    for (auto& q : slice) entries.push_back(std::move(q));
    if (slice.size() < 1000) break;
  }
  if (entries.empty()) return;
  evicting_.insert(user);
  auto left = std::make_shared<size_t>(entries.size());
  for (const QueuedStanza& q : entries) {
    const uint64_t seq = q.seq;
    publish_offline(user, q.data, q.stamp_ms, [this, user, seq, left](bool ok) {
      // Only what the stream took leaves the local queue; the rest stays
      // and is handed back at the next eviction or restart.
      if (ok) delivery_.drop(user, seq);
      if (--*left == 0) evicting_.erase(user);
    });
  }
}

}  // namespace xd::server
