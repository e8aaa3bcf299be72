#include "server/storage/memory_message_store.h"

namespace xd::server {

StorageError MemoryMessageStore::commit(CommitBatch& batch, const QueuePolicy& policy,
                                        uint64_t now_ms) {
  if (fail_next_ != StorageError::kOk) {
    StorageError e = fail_next_;
    fail_next_ = StorageError::kOk;
    if (e == StorageError::kFull) {
      for (auto& r : batch.stores) r.result = StoreRequest::Result::kFull;
    }
    return e;
  }
  // Age the de-duplication index first, as the LMDB store does.
  while (!dedupe_age_.empty() && (dedupe_age_.front().first + policy.dedupe_window_ms < now_ms ||
                                  dedupe_age_.size() > policy.dedupe_max)) {
    auto it = dedupe_.find(dedupe_age_.front().second);
    if (it != dedupe_.end() && it->second == dedupe_age_.front().first) dedupe_.erase(it);
    dedupe_age_.pop_front();
  }
  for (auto& r : batch.stores) {
    if (!r.dedupe_key.empty() && dedupe_.count(r.dedupe_key)) {
      r.result = StoreRequest::Result::kDuplicate;
      continue;
    }
    auto& q = queues_[r.stanza.user];
    if (q.size() >= policy.quota) {
      r.result = StoreRequest::Result::kQuota;
      continue;
    }
    q[r.stanza.seq] = r.stanza;
    if (!r.dedupe_key.empty()) {
      dedupe_[r.dedupe_key] = r.stanza.stamp_ms;
      dedupe_age_.emplace_back(r.stanza.stamp_ms, r.dedupe_key);
    }
    r.result = StoreRequest::Result::kStored;
  }
  for (const auto& d : batch.removals) {
    auto it = queues_.find(d.user);
    if (it == queues_.end()) continue;
    it->second.erase(d.seq);
    if (it->second.empty()) queues_.erase(it);
  }
  for (const auto& s : batch.sm_puts) sm_[s.id] = s;
  for (const auto& id : batch.sm_removals) sm_.erase(id);
  return StorageError::kOk;
}

StorageError MemoryMessageStore::load(std::string_view user, uint64_t after, size_t limit,
                                      std::vector<QueuedStanza>& out) {
  auto it = queues_.find(user);
  if (it == queues_.end()) return StorageError::kOk;
  for (auto e = it->second.upper_bound(after); e != it->second.end() && limit > 0; ++e, --limit) {
    out.push_back(e->second);
  }
  return StorageError::kOk;
}

StorageError MemoryMessageStore::count(std::string_view user, size_t& out) {
  auto it = queues_.find(user);
  out = it == queues_.end() ? 0 : it->second.size();
  return StorageError::kOk;
}

StorageError MemoryMessageStore::count_all(size_t& out) {
  out = 0;
  for (const auto& [user, queue] : queues_) out += queue.size();
  return StorageError::kOk;
}

StorageError MemoryMessageStore::has_dedupe(std::string_view dedupe_key, bool& found) {
  found = dedupe_.count(std::string(dedupe_key)) != 0;
  return StorageError::kOk;
}

StorageError MemoryMessageStore::queued_users(std::vector<std::string>& out) {
  out.clear();
  for (const auto& [user, queue] : queues_) {
    if (!queue.empty()) out.push_back(user);
  }
  return StorageError::kOk;
}

StorageError MemoryMessageStore::clear(std::string_view user) {
  if (auto it = queues_.find(user); it != queues_.end()) queues_.erase(it);
  return StorageError::kOk;
}

StorageError MemoryMessageStore::get_sm(std::string_view id, SmRecord& out) {
  auto it = sm_.find(id);
  if (it == sm_.end()) return StorageError::kNotFound;
  out = it->second;
  return StorageError::kOk;
}

StorageError MemoryMessageStore::prune_sm(uint64_t before_ms, size_t& removed) {
  removed = std::erase_if(sm_, [&](const auto& e) { return e.second.stamp_ms < before_ms; });
  return StorageError::kOk;
}

StorageError MemoryMessageStore::get_push(std::string_view user,
                                          std::vector<PushRegistration>& out) {
  out.clear();
  if (auto it = push_.find(user); it != push_.end()) out = it->second;
  return StorageError::kOk;
}

StorageError MemoryMessageStore::set_push(std::string_view user,
                                          const std::vector<PushRegistration>& registrations) {
  if (registrations.size() > kMaxPushRegistrations) return StorageError::kInvalid;
  if (registrations.empty()) {
    if (auto it = push_.find(user); it != push_.end()) push_.erase(it);
  } else {
    push_[std::string(user)] = registrations;
  }
  return StorageError::kOk;
}

}  // namespace xd::server
