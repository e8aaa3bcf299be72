// A cluster node's MessageStore (docs/cluster.md §3): the node's own LMDB
// queue for everything but XEP-0357 registrations, which live in the
// replicated bucket xd_push so that a device that enabled push through one
// node is notified whichever node stores its account's messages. Forwards
// every queue call unchanged; never interprets stanzas.
#pragma once

#include <nats/nats.h>

#include <memory>

#include "server/storage/message_store.h"

namespace xd::server {

class ClusterMessageStore final : public MessageStore {
 public:
  // Owns |local|; |push_kv| belongs to the NatsLink, which outlives it.
  ClusterMessageStore(std::unique_ptr<MessageStore> local, kvStore* push_kv)
      : local_(std::move(local)), push_kv_(push_kv) {}

  uint64_t allocate_seq() override { return local_->allocate_seq(); }
  StorageError commit(CommitBatch& batch, const QueuePolicy& policy, uint64_t now_ms) override {
    return local_->commit(batch, policy, now_ms);
  }
  StorageError load(std::string_view user, uint64_t after, size_t limit,
                    std::vector<QueuedStanza>& out) override {
    return local_->load(user, after, limit, out);
  }
  StorageError count(std::string_view user, size_t& out) override {
    return local_->count(user, out);
  }
  StorageError count_all(size_t& out) override { return local_->count_all(out); }
  StorageError has_dedupe(std::string_view key, bool& found) override {
    return local_->has_dedupe(key, found);
  }
  StorageError queued_users(std::vector<std::string>& out) override {
    return local_->queued_users(out);
  }
  StorageError clear(std::string_view user) override { return local_->clear(user); }
  StorageError get_sm(std::string_view id, SmRecord& out) override {
    return local_->get_sm(id, out);
  }
  StorageError prune_sm(uint64_t before_ms, size_t& removed) override {
    return local_->prune_sm(before_ms, removed);
  }
  // One blocking round trip each (the bucket xd_push, key: the user's hex).
  StorageError get_push(std::string_view user, std::vector<PushRegistration>& out) override;
  StorageError set_push(std::string_view user,
                        const std::vector<PushRegistration>& registrations) override;

 private:
  std::unique_ptr<MessageStore> local_;
  kvStore* push_kv_;
};

}  // namespace xd::server
