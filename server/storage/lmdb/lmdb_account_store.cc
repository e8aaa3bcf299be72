#include "server/storage/lmdb/lmdb_account_store.h"

#include <algorithm>

#include "server/storage/lmdb/record_codec.h"

namespace xd::server {
namespace {

// Reads and decodes the record under |key|, which must be |username|'s.
StorageError read_account(LmdbTxn& txn, unsigned dbi, const std::string& key,
                          std::string_view username, StoredAccount& out) {
  std::string_view bytes;
  StorageError e = txn.get(dbi, key, bytes);
  if (e != StorageError::kOk) return e;
  StoredAccount account;
  // A record under another name's key was not written by this code.
  if (decode_account(bytes, account) != StorageError::kOk || account.username != username) {
    return StorageError::kCorrupt;
  }
  out = std::move(account);
  return StorageError::kOk;
}

}  // namespace

StorageError LmdbAccountStore::open(LmdbEnv& env, std::unique_ptr<LmdbAccountStore>& out) {
  unsigned accounts = 0;
  LmdbRosterDbs rosters;
  StorageError e = env.open_db(kLmdbAccountsDb, accounts);
  if (e == StorageError::kOk) e = open_roster_dbs(env, rosters);
  if (e != StorageError::kOk) return e;
  out.reset(new LmdbAccountStore(env, accounts, rosters));
  return StorageError::kOk;
}

StorageError LmdbAccountStore::create(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  const std::string key = account_key(account.username);
  const std::string record = encode_account(account);
  return env_.write(
      [&](LmdbTxn& txn) { return txn.put(accounts_, key, record, /*no_overwrite=*/true); });
}

StorageError LmdbAccountStore::get(std::string_view username, StoredAccount& out) {
  if (validate_username(username) != StorageError::kOk) return StorageError::kNotFound;
  const std::string key = account_key(username);
  return env_.read([&](LmdbTxn& txn) { return read_account(txn, accounts_, key, username, out); });
}

StorageError LmdbAccountStore::update_credentials(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  const std::string key = account_key(account.username);
  return env_.write([&](LmdbTxn& txn) {
    StoredAccount stored;
    StorageError e = read_account(txn, accounts_, key, account.username, stored);
    if (e != StorageError::kOk) return e;
    stored.sha1 = account.sha1;
    stored.sha256 = account.sha256;
    return txn.put(accounts_, key, encode_account(stored));
  });
}

StorageError LmdbAccountStore::remove(std::string_view username) {
  if (validate_username(username) != StorageError::kOk) return StorageError::kNotFound;
  const std::string key = account_key(username);
  return env_.write([&](LmdbTxn& txn) {
    StorageError e = txn.del(accounts_, key);
    if (e != StorageError::kOk) return e;
    return clear_roster(txn, rosters_, username);
  });
}

StorageError LmdbAccountStore::list(std::vector<std::string>& out) {
  bool corrupt = false;
  StorageError e = env_.read([&](LmdbTxn& txn) {
    out.clear();
    corrupt = false;
    return txn.scan(accounts_, {}, [&](std::string_view key, std::string_view value) {
      StoredAccount account;
      if (decode_account(value, account) != StorageError::kOk ||
          key != account_key(account.username)) {
        corrupt = true;
      } else {
        out.push_back(std::move(account.username));
      }
      return StorageError::kOk;
    });
  });
  // Key order differs from name order only for hashed (long) names.
  std::sort(out.begin(), out.end());
  if (e != StorageError::kOk) return e;
  return corrupt ? StorageError::kCorrupt : StorageError::kOk;
}

size_t LmdbAccountStore::count() {
  size_t n = 0;
  if (env_.read([&](LmdbTxn& txn) { return txn.entries(accounts_, n); }) != StorageError::kOk) {
    return 0;
  }
  return n;
}

}  // namespace xd::server
