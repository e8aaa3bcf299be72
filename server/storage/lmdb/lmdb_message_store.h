// The LMDB MessageStore: per-account queues in "queue" (key: user NUL
// big-endian seq, so a user's queue is one ordered prefix scan), the
// origin-id index in "dedupe" with its age index "dedupe_age" (key:
// big-endian stamp then the dedupe key, so aging is a scan from the front),
// SM records in "sm", XEP-0357 registrations in "push" (key: user), and
// the last sequence number in "meta". A whole
// CommitBatch is one synchronous write transaction (group commit); the
// process-local queue counts used for the quota are updated only after the
// commit succeeded. Never keeps a transaction open between calls.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/message_store.h"

namespace xd::server {

inline constexpr std::string_view kLmdbQueueDb = "queue";
inline constexpr std::string_view kLmdbDedupeDb = "dedupe";
inline constexpr std::string_view kLmdbDedupeAgeDb = "dedupe_age";
inline constexpr std::string_view kLmdbSmDb = "sm";
inline constexpr std::string_view kLmdbMetaDb = "meta";
inline constexpr std::string_view kLmdbPushDb = "push";

class LmdbMessageStore final : public MessageStore {
 public:
  // Opens the sub-databases of |env| (which must outlive the store) and
  // reads the last sequence number.
  static StorageError open(LmdbEnv& env, std::unique_ptr<LmdbMessageStore>& out);

  uint64_t allocate_seq() override { return ++last_seq_; }
  StorageError commit(CommitBatch& batch, const QueuePolicy& policy, uint64_t now_ms) override;
  StorageError load(std::string_view user, uint64_t after, size_t limit,
                    std::vector<QueuedStanza>& out) override;
  StorageError count(std::string_view user, size_t& out) override;
  // From the queue database's statistics: constant time.
  StorageError count_all(size_t& out) override;
  StorageError has_dedupe(std::string_view dedupe_key, bool& found) override;
  StorageError queued_users(std::vector<std::string>& out) override;
  StorageError clear(std::string_view user) override;
  StorageError get_sm(std::string_view id, SmRecord& out) override;
  StorageError prune_sm(uint64_t before_ms, size_t& removed) override;
  StorageError get_push(std::string_view user, std::vector<PushRegistration>& out) override;
  StorageError set_push(std::string_view user,
                        const std::vector<PushRegistration>& registrations) override;

 private:
  struct Dbs {
    unsigned queue = 0, dedupe = 0, dedupe_age = 0, sm = 0, meta = 0, push = 0;
  };
  LmdbMessageStore(LmdbEnv& env, const Dbs& dbs) : env_(env), dbs_(dbs) {}
  // The queue length of |user| inside |txn|, from the cache or a scan.
  StorageError queue_length(LmdbTxn& txn, const std::string& user,
                            std::unordered_map<std::string, size_t>& fresh, size_t& out);

  LmdbEnv& env_;
  Dbs dbs_;
  uint64_t last_seq_ = 0;
  // Queue lengths of users touched so far (filled lazily by a scan).
  std::unordered_map<std::string, size_t> counts_;
};

}  // namespace xd::server
