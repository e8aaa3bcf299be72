// The in-memory MessageStore for unit tests and throwaway servers: the same
// semantics as the LMDB one (order, quota, de-duplication window, SM
// records), nothing survives the process. Never throws.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include "server/storage/message_store.h"

namespace xd::server {

class MemoryMessageStore final : public MessageStore {
 public:
  uint64_t allocate_seq() override { return ++last_seq_; }
  StorageError commit(CommitBatch& batch, const QueuePolicy& policy, uint64_t now_ms) override;
  StorageError load(std::string_view user, uint64_t after, size_t limit,
                    std::vector<QueuedStanza>& out) override;
  StorageError count(std::string_view user, size_t& out) override;
  StorageError count_all(size_t& out) override;
  StorageError has_dedupe(std::string_view dedupe_key, bool& found) override;
  StorageError queued_users(std::vector<std::string>& out) override;
  StorageError clear(std::string_view user) override;
  StorageError get_sm(std::string_view id, SmRecord& out) override;
  StorageError prune_sm(uint64_t before_ms, size_t& removed) override;
  StorageError get_push(std::string_view user, std::vector<PushRegistration>& out) override;
  StorageError set_push(std::string_view user,
                        const std::vector<PushRegistration>& registrations) override;

  // Test hook: the next commit fails with |error| and changes nothing.
  void fail_next_commit(StorageError error) { fail_next_ = error; }

 private:
  uint64_t last_seq_ = 0;
  std::map<std::string, std::map<uint64_t, QueuedStanza>, std::less<>> queues_;
  std::unordered_map<std::string, uint64_t> dedupe_;  // key -> stamp
  std::deque<std::pair<uint64_t, std::string>> dedupe_age_;
  std::map<std::string, SmRecord, std::less<>> sm_;
  std::map<std::string, std::vector<PushRegistration>, std::less<>> push_;
  StorageError fail_next_ = StorageError::kOk;
};

}  // namespace xd::server
