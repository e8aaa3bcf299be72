#include "server/delivery_queue.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "protocol/xml/serializer.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/push_notifier.h"
#include "server/router.h"
#include "server/session.h"
#include "server/storage/fault_hook.h"
#include "server/stored_stanza.h"

namespace xd::server {

using protocol::Element;
using protocol::Jid;

namespace {

constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kSidNs = "urn:xmpp:sid:0";
constexpr std::string_view kHintsNs = "urn:xmpp:hints";
constexpr std::string_view kChatStatesNs = "http://jabber.org/protocol/chatstates";
constexpr std::string_view kCatchupNs = "urn:xmppd:catchup:0";
// Backlog is read in slices so one login never holds a huge vector.
constexpr size_t kBacklogSlice = 1024;

std::unique_ptr<Element> catchup_marker(const Session& s, std::string_view state, size_t count,
                                        std::string_view id) {
  auto m = std::make_unique<Element>(kClientNs, "message");
  m->set_attr("from", s.jid().domain());
  m->set_attr("to", s.jid().str());
  m->set_attr("id", id);
  Element& c = m->add_child(kCatchupNs, "catchup");
  c.set_attr("state", state);
  c.set_attr("count", std::to_string(count));
  return m;
}

}  // namespace

bool is_storable(const Element& m) {
  const std::string_view type = m.attr_or("type", "normal");
  if (type != "chat" && type != "normal") return false;
  if (m.child("no-store", kHintsNs) || m.child("no-permanent-store", kHintsNs)) return false;
  // XEP-0160 §3: a message with nothing of its own (chat states, thread,
  // ids, hints) is not worth storing.
  for (const auto& n : m.children()) {
    if (!n.element) continue;
    const Element& c = *n.element;
    if (c.ns() == kChatStatesNs || c.ns() == kHintsNs || c.ns() == kSidNs) continue;
    if (c.ns() == kClientNs && c.name() == "thread") continue;
    return true;
  }
  return false;
}

uint64_t wall_clock_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::string xmpp_timestamp(uint64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(unix_ms % 1000));
  return buf;
}

DeliveryQueue::DeliveryQueue(net::NetLoop& loop, MessageStore& store, Router& router,
                             QueuePolicy policy)
    : loop_(loop), store_(store), router_(router), policy_(policy) {}

DeliveryQueue::~DeliveryQueue() { loop_.unschedule(*this); }

void DeliveryQueue::schedule() {
  if (scheduled_) return;
  scheduled_ = true;
  loop_.schedule(*this);
}

uint64_t DeliveryQueue::accept(Session* origin, const Jid& to, std::unique_ptr<Element> m) {
  return accept_common(origin, to, std::move(m), wall_clock_ms(), nullptr);
}

void DeliveryQueue::accept_remote(const Jid& to, std::unique_ptr<Element> m, RemoteAccept how) {
  accept_common(nullptr, to, std::move(m), how.stamp_ms ? how.stamp_ms : wall_clock_ms(), &how);
}

uint64_t DeliveryQueue::accept_common(Session* origin, const Jid& to, std::unique_ptr<Element> m,
                                      uint64_t stamp_ms, RemoteAccept* remote) {
  const Jid bare = to.bare();
  StoreRequest r;
  r.stanza.user = bare.local();
  r.stanza.seq = store_.allocate_seq();
  r.stanza.stamp_ms = stamp_ms;
  // XEP-0359 §3: our stanza-id, and no one else's claiming to be ours;
  // those of other entities (a MUC, say) stay.
  std::vector<std::unique_ptr<Element>> others;
  for (const auto& n : m->children()) {
    if (n.element && n.element->is("stanza-id", kSidNs) &&
        n.element->attr_or("by") != bare.bare_str()) {
      others.push_back(n.element->clone());
    }
  }
  m->remove_children("stanza-id", kSidNs);
  for (auto& o : others) m->add_child(std::move(o));
  Element& sid = m->add_child(kSidNs, "stanza-id");
  sid.set_attr("id", std::to_string(r.stanza.seq));
  sid.set_attr("by", bare.bare_str());
  if (const Element* oid = m->child("origin-id", kSidNs); oid && origin) {
    if (const std::string* id = oid->attr("id"); id && !id->empty()) {
      r.dedupe_key = origin->jid().bare_str();
      r.dedupe_key.push_back('\0');
      r.dedupe_key.append(*id);
    }
  }
  if (!encode_stored(*m, router_.domain().domain(), r.stanza.data)) {
    // A tree the c2s stream accepted always encodes; never store half.
    if (origin) router_.bounce(origin, *m, protocol::StanzaCondition::kInternalServerError);
    if (remote && remote->done) remote->done(false, 0);
    return 0;
  }
  Pending p;
  p.origin = origin;
  p.token = origin ? origin->hold_ack() : 0;
  p.to = to;
  p.element = std::move(m);
  if (remote) {
    p.queue_only = remote->queue_only;
    p.done = std::move(remote->done);
  }
  batch_.stores.push_back(std::move(r));
  pending_.push_back(std::move(p));
  const size_t i = batch_.stores.size() - 1;
  const bool early = policy_.early_delivery && !pending_[i].queue_only && deliver_early(i);
  pending_[i].early = early;
  early_in_batch_ = early_in_batch_ || early;
  if (!early) slow_users_.insert(batch_.stores[i].stanza.user);
  if (!batch_.stores[i].dedupe_key.empty()) batch_dedupe_.insert(batch_.stores[i].dedupe_key);
  schedule();
  return batch_.stores[i].stanza.seq;
}

bool DeliveryQueue::deliver_early(size_t i) {
  const StoreRequest& r = batch_.stores[i];
  const Pending& p = pending_[i];
  // An earlier entry of this account waits for the commit: so does this one.
  if (slow_users_.count(r.stanza.user)) return false;
  if (!r.dedupe_key.empty()) {
    // §2.2: a repeat is acknowledged and never delivered again; only the
    // commit can say for sure, so anything that may be one waits for it.
    if (batch_dedupe_.count(r.dedupe_key)) return false;
    bool found = false;
    if (store_.has_dedupe(r.dedupe_key, found) != StorageError::kOk || found) return false;
  }
  const std::string_view type = p.element->attr_or("type", "normal");
  std::vector<Session*> targets = router_.message_targets(p.to, type);
  if (targets.empty()) return false;
  for (Session* s : targets) {
    // A hibernating session would hold it without a connection, and one
    // catching up must get its backlog first (§4).
    if (!s->connected() || backlogs_.count(s)) return false;
  }
  std::vector<Session*> no_copy = targets;
  if (p.origin) no_copy.push_back(p.origin);
  // hand_over() reads the entry by reference; nothing it calls accepts a
  // stanza, so batch_ cannot grow under it.
  if (hand_over(r.stanza, targets, /*delayed=*/false, nullptr, p.element.get()) == 0) return false;
  router_.carbon_received(p.to.bare(), *p.element, no_copy);
  return true;
}

void DeliveryQueue::delivered(const std::string& user, uint64_t seq) {
  if (auto it = inflight_.find(user); it != inflight_.end()) {
    // Counted once per entry: a second resource reporting the same entry
    // finds it no longer in flight.
    if (it->second.erase(seq) > 0 && metrics_) ++metrics_->messages_delivered;
    if (it->second.empty()) inflight_.erase(it);
  }
  batch_.removals.push_back({user, seq});
  schedule();
}

void DeliveryQueue::release(Session& session, const std::vector<uint64_t>& seqs) {
  const std::string& user = session.jid().local();
  auto it = inflight_.find(user);
  if (it == inflight_.end()) return;
  std::vector<uint64_t> orphans;
  for (uint64_t seq : seqs) {
    auto e = it->second.find(seq);
    if (e == it->second.end()) continue;  // delivered by another session
    if (--e->second == 0) {
      it->second.erase(e);
      orphans.push_back(seq);
    }
  }
  if (it->second.empty()) inflight_.erase(it);
  if (orphans.empty()) return;
  // To the account's other sessions now, or to the next login.
  const Jid bare = session.jid().bare();
  std::vector<Session*> targets = router_.message_targets(bare, "chat");
  if (targets.empty()) return;
  for (uint64_t seq : orphans) {
    // Written early (§1.5) and not committed yet: from the batch.
    auto waiting = std::find_if(
        batch_.stores.begin(), batch_.stores.end(),
        [&](const StoreRequest& r) { return r.stanza.seq == seq && r.stanza.user == user; });
    if (waiting != batch_.stores.end()) {
      hand_over(waiting->stanza, targets, /*delayed=*/false);
      continue;
    }
    std::vector<QueuedStanza> one;
    if (store_.load(user, seq - 1, 1, one) != StorageError::kOk || one.empty() ||
        one.front().seq != seq) {
      continue;  // already deleted by an ack in flight
    }
    hand_over(one.front(), targets, /*delayed=*/true);
  }
}

size_t DeliveryQueue::hand_over(const QueuedStanza& q, const std::vector<Session*>& sessions,
                                bool delayed, size_t* connected, const protocol::Element* live) {
  size_t taken = 0;
  if (connected) *connected = 0;
  for (Session* s : sessions) {
    // Counted before the call: a session may end inside it (its stream
    // went over a cap) and give the entry back at once.
    ++inflight_[q.user][q.seq];
    if (s->deliver_queued(q, delayed, live)) {
      ++taken;
      if (connected && s->connected()) ++*connected;
      continue;
    }
    if (auto u = inflight_.find(q.user); u != inflight_.end()) {
      if (auto e = u->second.find(q.seq); e != u->second.end() && --e->second == 0) {
        u->second.erase(e);
      }
      if (u->second.empty()) inflight_.erase(u);
    }
  }
  return taken;
}

bool DeliveryQueue::removing(const std::string& user, uint64_t seq) const {
  // Acknowledged in this iteration, deleted at the next commit.
  return std::any_of(batch_.removals.begin(), batch_.removals.end(),
                     [&](const CommitBatch::Removal& r) { return r.seq == seq && r.user == user; });
}

void DeliveryQueue::deliver_backlog(Session& session) {
  const std::string& user = session.jid().local();
  Backlog b;
  b.user = user;
  // Every entry committed from now on gets a higher sequence number.
  b.snapshot = store_.allocate_seq();
  b.tail_after = b.snapshot;
  const auto flying = inflight_.find(user);
  uint64_t after = 0;
  for (;;) {
    std::vector<QueuedStanza> slice;
    StorageError e = store_.load(user, after, kBacklogSlice, slice);
    if (e != StorageError::kOk && e != StorageError::kCorrupt) {
      XD_WARN("delivery: cannot read the queue of %s: %s", user.c_str(),
              std::string(storage_error_name(e)).c_str());
      break;
    }
    if (slice.empty()) break;
    after = slice.back().seq;
    for (const QueuedStanza& q : slice) {
      if (flying != inflight_.end() && flying->second.count(q.seq)) continue;
      if (removing(user, q.seq)) continue;
      b.seqs.push_back(q.seq);
    }
    if (slice.size() < kBacklogSlice) break;
  }
  b.marker_id = "catchup-" + std::to_string(b.snapshot);
  session.deliver(*catchup_marker(session, "start", b.seqs.size(), b.marker_id + "-start"));
  backlogs_[&session] = std::move(b);
  pump_backlog(session);
}

void DeliveryQueue::resume_backlog(Session& session) {
  if (backlogs_.count(&session)) pump_backlog(session);
}

void DeliveryQueue::pump_backlog(Session& session) {
  auto it = backlogs_.find(&session);
  if (it == backlogs_.end()) return;
  Backlog& b = it->second;
  // Phase 1: the announced entries, with delay stamps.
  while (b.next < b.seqs.size()) {
    const size_t room = std::min(session.queue_room(), kBacklogSlice);
    if (room == 0) return;  // resume_backlog() continues
    std::vector<QueuedStanza> page;
    const size_t want = std::min(room, b.seqs.size() - b.next);
    if (store_.load(b.user, b.seqs[b.next] - 1, want, page) != StorageError::kOk && page.empty()) {
      b.next = b.seqs.size();  // unreadable: the markers still close the backlog
      break;
    }
    size_t used = 0;
    for (const QueuedStanza& q : page) {
      // Skip what vanished (deleted by an administrator) on the way.
      while (b.next < b.seqs.size() && b.seqs[b.next] < q.seq) ++b.next;
      if (b.next >= b.seqs.size()) break;
      if (b.seqs[b.next] != q.seq) continue;
      // Room is checked per stanza: one page may be larger than the
      // session's write queue.
      if (used > 0 && session.queue_room() == 0) return;
      ++b.next;
      ++used;
      hand_over(q, {&session}, /*delayed=*/true);
      if (!backlogs_.count(&session)) return;  // the session ended meanwhile
    }
    if (used == 0 && b.next < b.seqs.size()) ++b.next;  // never spin on a gap
  }
  if (!b.done_sent) {
    b.done_sent = true;
    session.deliver(*catchup_marker(session, "done", b.seqs.size(), b.marker_id + "-done"));
    if (!backlogs_.count(&session)) return;
    b.seqs.clear();
    b.seqs.shrink_to_fit();
  }
  // Phase 2: entries committed during the catch-up, as live traffic.
  const std::string user = b.user;
  for (;;) {
    const size_t room = std::min(session.queue_room(), kBacklogSlice);
    if (room == 0) return;
    std::vector<QueuedStanza> page;
    store_.load(user, b.tail_after, room, page);
    if (page.empty()) break;
    bool first = true;
    for (const QueuedStanza& q : page) {
      if (!first && session.queue_room() == 0) return;
      first = false;
      b.tail_after = q.seq;
      const auto flying = inflight_.find(user);
      if (flying != inflight_.end() && flying->second.count(q.seq)) continue;
      if (removing(user, q.seq)) continue;
      hand_over(q, {&session}, /*delayed=*/false);
      if (!backlogs_.count(&session)) return;
    }
  }
  backlogs_.erase(&session);
}

void DeliveryQueue::forget(Session& session) {
  backlogs_.erase(&session);
  for (Pending& p : pending_) {
    if (p.origin == &session) p.origin = nullptr;
  }
}

void DeliveryQueue::persist_sm(SmRecord record) {
  batch_.sm_puts.push_back(std::move(record));
  schedule();
}

void DeliveryQueue::forget_sm(std::string id) {
  batch_.sm_removals.push_back(std::move(id));
  schedule();
}

size_t DeliveryQueue::in_flight() const {
  size_t n = 0;
  for (const auto& [user, seqs] : inflight_) n += seqs.size();
  return n;
}

void DeliveryQueue::count_not_stored(NotStoredReason reason) {
  ++metrics_->messages_not_stored[static_cast<size_t>(reason)];
}

void DeliveryQueue::on_loop_prepare() {
  scheduled_ = false;
  // §1.5: the connections written to early flush in this pass of the
  // prepare phase; the commit, whose fsync would hold them back, runs in
  // the next pass. Once per iteration, so it is never put off past it.
  if (early_in_batch_ && deferred_at_ != loop_.iteration()) {
    deferred_at_ = loop_.iteration();
    schedule();
    return;
  }
  commit();
}

StorageError DeliveryQueue::flush() { return commit(); }

StorageError DeliveryQueue::commit() {
  if (batch_.empty()) return StorageError::kOk;
  // Take the batch: delivering below may accept new stanzas for the next.
  CommitBatch batch = std::move(batch_);
  std::vector<Pending> pending = std::move(pending_);
  batch_ = CommitBatch{};
  pending_.clear();
  slow_users_.clear();
  batch_dedupe_.clear();
  early_in_batch_ = false;
  fault_point("before-commit");
  const auto started = std::chrono::steady_clock::now();
  StorageError e = store_.commit(batch, policy_, wall_clock_ms());
  if (metrics_) {
    const auto took = std::chrono::steady_clock::now() - started;
    ++metrics_->commits;
    metrics_->commit_seconds.observe_ns(static_cast<uint64_t>(
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(took).count())));
    if (e != StorageError::kOk) ++metrics_->commit_errors;
  }
  if (storage_error_is_fatal(e)) {
    // architecture.md §3.3 (catalogue 71): after a failed commit the disk
    // state is unknown; acknowledging anything could lose it. Fail-stop.
    XD_ERROR("delivery: commit failed with %s; stopping",
             std::string(storage_error_name(e)).c_str());
    std::_Exit(75);
  }
  if (e != StorageError::kOk && e != StorageError::kFull) {
    XD_WARN("delivery: commit failed: %s", std::string(storage_error_name(e)).c_str());
  }
  fault_point("after-commit");
  for (size_t i = 0; i < batch.stores.size(); ++i) {
    StoreRequest& r = batch.stores[i];
    Pending& p = pending[i];
    switch (r.result) {
      case StoreRequest::Result::kStored: {
        if (p.early) {  // handed over at accept(), to connected sessions only
          if (metrics_) ++metrics_->messages_stored;
          break;
        }
        if (p.queue_only) {  // a login's backlog reads it (accept_remote)
          if (metrics_) ++metrics_->messages_stored;
          break;
        }
        const std::string_view type = p.element->attr_or("type", "normal");
        std::vector<Session*> targets = router_.message_targets(p.to, type);
        // No 'received' copy to a resource that gets the message itself,
        // now or from its backlog, nor to the sender of a message to its
        // own account (catalogue G51: once per resource).
        std::vector<Session*> no_copy = targets;
        if (p.origin) no_copy.push_back(p.origin);
        // A session catching up gets newer entries from its backlog pager,
        // after the older ones (spec §4: the backlog before live traffic).
        size_t catching_up = 0;
        std::erase_if(targets, [&](Session* s) {
          auto b = backlogs_.find(s);
          const bool later = b != backlogs_.end() && r.stanza.seq > b->second.snapshot;
          if (later && s->connected()) ++catching_up;
          return later;
        });
        size_t connected = catching_up;
        if (hand_over(r.stanza, targets, /*delayed=*/false, &connected, p.element.get()) > 0) {
          router_.carbon_received(p.to.bare(), *p.element, no_copy);
        }
        if (metrics_) {
          ++metrics_->messages_stored;
          if (connected == 0) ++metrics_->messages_stored_offline;
        }
        // spec §4 / XEP-0357: stored with no device to show it.
        if (connected == 0 && push_) {
          push_->stored(r.stanza.user, *p.element, p.element->attr_or("from"));
        }
        break;
      }
      case StoreRequest::Result::kDuplicate:
        if (metrics_) count_not_stored(NotStoredReason::kDuplicate);
        break;  // spec §2.2: acknowledged, not delivered twice
      case StoreRequest::Result::kQuota:
      case StoreRequest::Result::kFull:
      case StoreRequest::Result::kPending: {
        if (metrics_) {
          count_not_stored(r.result == StoreRequest::Result::kQuota ? NotStoredReason::kQuota
                           : r.result == StoreRequest::Result::kFull
                               ? NotStoredReason::kStorageFull
                               : NotStoredReason::kStorageError);
        }
        // spec §1.4 (catalogue 70, 72): not stored. A recipient online right
        // now still gets it, live and without the queue's guarantee, so a
        // full disk does not stop online chat; otherwise the sender gets an
        // error it can retry on. Either way it is handled. Written early
        // (§1.5): it was delivered live already.
        if (p.early) break;
        const std::string_view type = p.element->attr_or("type", "normal");
        std::vector<Session*> live = router_.message_targets(p.to, type);
        std::erase_if(live, [](Session* s) { return !s->connected(); });
        if (live.empty()) {
          router_.bounce(p.origin, *p.element, protocol::StanzaCondition::kResourceConstraint);
        } else {
          for (Session* s : live) s->deliver(*p.element);
        }
        break;
      }
    }
    if (p.origin && (r.result == StoreRequest::Result::kStored ||
                     r.result == StoreRequest::Result::kDuplicate)) {
      const std::string stanza_id =
          r.result == StoreRequest::Result::kStored ? std::to_string(r.stanza.seq) : std::string();
      p.origin->committed(*p.element, stanza_id, r.stanza.stamp_ms);
    }
    if (p.origin) p.origin->release_ack(p.token);
    if (p.done) {
      p.done(
          r.result == StoreRequest::Result::kStored || r.result == StoreRequest::Result::kDuplicate,
          r.result == StoreRequest::Result::kStored ? r.stanza.seq : 0);
    }
  }
  if (removal_hook_ && e == StorageError::kOk) {
    for (const CommitBatch::Removal& removal : batch.removals)
      removal_hook_(removal.user, removal.seq);
  }
  return e;
}

}  // namespace xd::server
