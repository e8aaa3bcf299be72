// The LMDB AccountStore: one record per account in the "accounts"
// sub-database, keyed by username (record_codec.h). Removing an account
// deletes its roster in the same synchronous transaction. It never keeps a
// transaction open between calls, never stores a password and never crashes
// on a corrupt record (kCorrupt).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/account_store.h"
#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/lmdb/lmdb_roster_store.h"

namespace xd::server {

// Sub-database name, fixed by the on-disk format.
inline constexpr std::string_view kLmdbAccountsDb = "accounts";

class LmdbAccountStore final : public AccountStore {
 public:
  // Opens the account and roster sub-databases of |env| and sets |out| to a
  // store that borrows |env|, which must outlive it. On error |out| is
  // untouched.
  static StorageError open(LmdbEnv& env, std::unique_ptr<LmdbAccountStore>& out);

  StorageError create(const StoredAccount& account) override;
  StorageError get(std::string_view username, StoredAccount& out) override;
  StorageError update_credentials(const StoredAccount& account) override;
  StorageError remove(std::string_view username) override;
  StorageError list(std::vector<std::string>& out) override;
  size_t count() override;

 private:
  LmdbAccountStore(LmdbEnv& env, unsigned accounts, const LmdbRosterDbs& rosters)
      : env_(env), accounts_(accounts), rosters_(rosters) {}

  LmdbEnv& env_;
  unsigned accounts_;
  LmdbRosterDbs rosters_;
};

}  // namespace xd::server
