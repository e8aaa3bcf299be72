// Accounts of a cluster (docs/cluster.md §3): the AccountStore interface
// over the replicated JetStream key-value bucket xd_accounts, so a user
// registered on one node logs in on any. Key: the hex of the enforced
// localpart; value: the same record bytes LMDB stores (record_codec.h).
// Removing an account clears its roster (then, not atomically: a crash
// between the two leaves a roster without an account, which a new account
// of the same name starts from). Every call is one blocking round trip to NATS on the loop thread
// (registration, login and account checks of stanzas to users who are not
// online). Never sees a password.
#pragma once

#include <nats/nats.h>

#include "server/cluster/kv_roster_store.h"
#include "server/storage/account_store.h"

namespace xd::server {

class KvAccountStore final : public AccountStore {
 public:
  // |kv| is owned by the NatsLink, which outlives the store.
  // |rosters|: where a removed account's roster is cleared (may be null).
  KvAccountStore(kvStore* kv, KvRosterStore* rosters) : kv_(kv), rosters_(rosters) {}

  StorageError create(const StoredAccount& account) override;
  StorageError get(std::string_view username, StoredAccount& out) override;
  StorageError update_credentials(const StoredAccount& account) override;
  StorageError remove(std::string_view username) override;
  StorageError list(std::vector<std::string>& out) override;
  size_t count() override;

 private:
  kvStore* kv_;
  KvRosterStore* rosters_;
};

}  // namespace xd::server
