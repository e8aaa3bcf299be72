// Accounts of a cluster (docs/cluster.md §3): the AccountStore interface
// over the replicated JetStream key-value bucket xd_accounts, so a user
// registered on one node logs in on any. Key: the hex of the enforced
// localpart; value: the same record bytes LMDB stores (record_codec.h).
// Every call is one blocking round trip to NATS on the loop thread
// (registration, login and account checks of stanzas to users who are not
// online). Never sees a password.
#pragma once

#include <nats/nats.h>

#include "server/storage/account_store.h"

namespace xd::server {

class KvAccountStore final : public AccountStore {
 public:
  // |kv| is owned by the NatsLink, which outlives the store.
  explicit KvAccountStore(kvStore* kv) : kv_(kv) {}

  StorageError create(const StoredAccount& account) override;
  StorageError get(std::string_view username, StoredAccount& out) override;
  StorageError update_credentials(const StoredAccount& account) override;
  StorageError remove(std::string_view username) override;
  StorageError list(std::vector<std::string>& out) override;
  size_t count() override;

 private:
  kvStore* kv_;
};

}  // namespace xd::server
