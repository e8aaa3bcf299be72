// The durable message queue (architecture.md §3, spec/delivery.md §1-2):
// per-account queues of serialized stanzas waiting for a recipient's ack,
// the origin-id de-duplication index, and the persisted stream-management
// resumption state. Everything changes through one CommitBatch per event-loop
// iteration (group commit: one synchronous transaction). Storage never
// interprets the stanzas, never decides what is storable (the delivery
// queue does) and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/storage_error.h"

namespace xd::server {

// Longest stanza a queue entry may hold: the post-authentication stanza
// limit (architecture.md §5) plus room for the stanza-id the server adds.
inline constexpr size_t kMaxQueuedStanzaBytes = (256 + 4) * 1024;

// One stored stanza. |seq| is unique per data directory, increasing in
// commit order; a user's queue is ordered by it.
struct QueuedStanza {
  std::string user;  // recipient's enforced localpart
  uint64_t seq = 0;
  uint64_t stamp_ms = 0;  // wall clock when the server accepted it (ms since epoch)
  std::string data;       // the message in its stored form (server/stored_stanza.h)
};

// A request to queue one stanza, and what became of it.
struct StoreRequest {
  enum class Result {
    kPending,    // not committed yet
    kStored,     // in the queue
    kDuplicate,  // (sender, origin-id) was seen within the window: not stored
    kQuota,      // the recipient's queue is at the quota: not stored
    kFull,       // the store is out of space: not stored
  };
  QueuedStanza stanza;
  // Empty, or the sender's bare JID, NUL, the origin-id (spec §2.2).
  std::string dedupe_key;
  Result result = Result::kPending;
};

// The persisted part of a resumable stream-management session (spec §5).
struct SmRecord {
  std::string id;            // the previd handed to the client
  std::string user;          // enforced localpart it is bound to
  std::string resource;      // the bound resource
  uint32_t inbound_h = 0;    // stanzas from the client the server has handled
  uint64_t stamp_ms = 0;     // wall clock of the last update
  std::string presence_xml;  // the last available presence, or empty
};

// One XEP-0357 registration: where to publish the account's
// notifications.
struct PushRegistration {
  std::string jid;          // the app server
  std::string node;         // its node for this device
  std::string options_xml;  // the publish-options data form, serialized, or empty
};

// Registrations per account, at most.
inline constexpr size_t kMaxPushRegistrations = 16;

// All changes of one group commit. The store fills in the results.
struct CommitBatch {
  std::vector<StoreRequest> stores;
  struct Removal {
    std::string user;
    uint64_t seq = 0;
  };
  std::vector<Removal> removals;  // acknowledged entries; absent ones are ignored
  std::vector<SmRecord> sm_puts;
  std::vector<std::string> sm_removals;

  bool empty() const {
    return stores.empty() && removals.empty() && sm_puts.empty() && sm_removals.empty();
  }
  void clear() {
    stores.clear();
    removals.clear();
    sm_puts.clear();
    sm_removals.clear();
  }
};

// Policy the store applies inside the commit, and the queue's delivery rule.
struct QueuePolicy {
  size_t quota = 10000;                  // queued stanzas per account
  uint64_t dedupe_window_ms = 86400000;  // how long an origin-id is remembered
  size_t dedupe_max = 1000000;           // at most this many remembered ids
  // spec/delivery.md §1.5: write a stanza to the recipient's connected
  // sessions before its commit (the sender's ack still waits for it).
  bool early_delivery = true;
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // The next free sequence number (never handed out twice by this store,
  // and above every sequence number ever committed in its data).
  virtual uint64_t allocate_seq() = 0;

  // Applies |batch| in one synchronous transaction: for each store request
  // in order, de-duplication against the index (and earlier requests of
  // the batch), then the quota, then the put. Removals, SM puts and SM
  // removals follow. On kOk every request has a result (kStored,
  // kDuplicate, kQuota). kFull: nothing was written and every request is
  // kFull. kIo: fatal, nothing may be acknowledged. |now_ms| ages the
  // de-duplication index.
  virtual StorageError commit(CommitBatch& batch, const QueuePolicy& policy, uint64_t now_ms) = 0;

  // Appends to |out| up to |limit| entries of |user|'s queue with seq >
  // |after|, oldest first.
  virtual StorageError load(std::string_view user, uint64_t after, size_t limit,
                            std::vector<QueuedStanza>& out) = 0;
  // The number of entries queued for |user|.
  virtual StorageError count(std::string_view user, size_t& out) = 0;
  // The number of entries queued for all accounts together (metrics: read
  // at scrape time, so it must not scan the queues).
  virtual StorageError count_all(size_t& out) = 0;
  // Whether the de-duplication index holds |dedupe_key| now (committed
  // data only). A key aged out by the next commit may still be found;
  // callers use a hit only to take the slow, committed path.
  virtual StorageError has_dedupe(std::string_view dedupe_key, bool& found) = 0;
  // Replaces |out| with every user that has a queued entry (a cluster
  // node hands these queues back at start; docs/cluster.md §4). A scan.
  virtual StorageError queued_users(std::vector<std::string>& out) = 0;
  // Deletes |user|'s whole queue (account removal).
  virtual StorageError clear(std::string_view user) = 0;

  // The persisted SM record |id|; kNotFound if none.
  virtual StorageError get_sm(std::string_view id, SmRecord& out) = 0;
  // Deletes SM records last updated before |before_ms| (records of streams
  // that died with the process and were never resumed); |removed| counts
  // them. Unreadable records go too.
  virtual StorageError prune_sm(uint64_t before_ms, size_t& removed) = 0;

  // XEP-0357 registrations of |user| (empty when none), and replacing them
  // all (an empty list removes the record). Written synchronously: enabling
  // push is rare and the client waits for the answer.
  virtual StorageError get_push(std::string_view user, std::vector<PushRegistration>& out) = 0;
  virtual StorageError set_push(std::string_view user,
                                const std::vector<PushRegistration>& registrations) = 0;
};

}  // namespace xd::server
