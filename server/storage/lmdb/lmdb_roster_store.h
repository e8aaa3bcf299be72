// The LMDB RosterStore: one record per (user, contact) in the "roster"
// sub-database, keyed so that a user's roster is one prefix scan, and one
// version counter per user in "roster_version". Each change and its version
// bump commit in one synchronous transaction. It never keeps a transaction
// open between calls and never crashes on a corrupt record (kCorrupt).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/roster_store.h"

namespace xd::server {

// Sub-database names, fixed by the on-disk format.
inline constexpr std::string_view kLmdbRosterDb = "roster";
inline constexpr std::string_view kLmdbRosterVersionDb = "roster_version";

// The two sub-databases a roster lives in.
struct LmdbRosterDbs {
  unsigned items = 0;
  unsigned versions = 0;
};

// Opens (creating if needed) both roster sub-databases of |env|.
StorageError open_roster_dbs(LmdbEnv& env, LmdbRosterDbs& out);

// Inside the write transaction |txn|: deletes every item of |user| and, if
// there was any, bumps the user's version. LmdbAccountStore::remove uses it
// so an account and its roster go in one commit. Returns kOk (also when the
// roster was empty) or the first error.
StorageError clear_roster(LmdbTxn& txn, const LmdbRosterDbs& dbs, std::string_view user);

class LmdbRosterStore final : public RosterStore {
 public:
  // Opens the roster sub-databases of |env| and sets |out| to a store that
  // borrows |env|, which must outlive it. On error |out| is untouched.
  static StorageError open(LmdbEnv& env, std::unique_ptr<LmdbRosterStore>& out);

  StorageError get_all(std::string_view user, std::vector<RosterItem>& out) override;
  StorageError get(std::string_view user, std::string_view contact, RosterItem& out) override;
  StorageError put(std::string_view user, const RosterItem& item) override;
  StorageError remove(std::string_view user, std::string_view contact) override;
  StorageError version(std::string_view user, uint64_t& out) override;

 private:
  LmdbRosterStore(LmdbEnv& env, const LmdbRosterDbs& dbs) : env_(env), dbs_(dbs) {}

  LmdbEnv& env_;
  LmdbRosterDbs dbs_;
};

}  // namespace xd::server
