#include "server/storage/lmdb/lmdb_roster_store.h"

#include "server/storage/account_store.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {
namespace {

// Adds one to |user|'s version counter inside |txn|.
StorageError bump_version(LmdbTxn& txn, const LmdbRosterDbs& dbs, std::string_view user) {
  std::string key = account_key(user);
  std::string_view bytes;
  uint64_t version = 0;
  StorageError e = txn.get(dbs.versions, key, bytes);
  if (e == StorageError::kOk) {
    // A corrupt counter is not reset to zero: that could hand a client a
    // version it already holds for other contents (RFC 6121 §2.6).
    if ((e = decode_counter(bytes, version)) != StorageError::kOk) return e;
  } else if (e != StorageError::kNotFound) {
    return e;
  }
  return txn.put(dbs.versions, key, encode_counter(version + 1));
}

}  // namespace

StorageError open_roster_dbs(LmdbEnv& env, LmdbRosterDbs& out) {
  LmdbRosterDbs dbs;
  StorageError e = env.open_db(kLmdbRosterDb, dbs.items);
  if (e == StorageError::kOk) e = env.open_db(kLmdbRosterVersionDb, dbs.versions);
  if (e == StorageError::kOk) out = dbs;
  return e;
}

StorageError clear_roster(LmdbTxn& txn, const LmdbRosterDbs& dbs, std::string_view user) {
  size_t deleted = 0;
  StorageError e = txn.del_prefix(dbs.items, roster_key_prefix(user), deleted);
  if (e != StorageError::kOk || deleted == 0) return e;
  return bump_version(txn, dbs, user);
}

StorageError LmdbRosterStore::open(LmdbEnv& env, std::unique_ptr<LmdbRosterStore>& out) {
  LmdbRosterDbs dbs;
  StorageError e = open_roster_dbs(env, dbs);
  if (e != StorageError::kOk) return e;
  out.reset(new LmdbRosterStore(env, dbs));
  return StorageError::kOk;
}

StorageError LmdbRosterStore::get_all(std::string_view user, std::vector<RosterItem>& out) {
  out.clear();
  // No item can be stored under a name that cannot be a key.
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  const std::string prefix = roster_key_prefix(user);
  bool corrupt = false;
  StorageError e = env_.read([&](LmdbTxn& txn) {
    out.clear();
    corrupt = false;
    return txn.scan(dbs_.items, prefix, [&](std::string_view key, std::string_view value) {
      RosterItem item;
      // The key must be the one this item would be stored under; anything
      // else is a record written by something other than this code.
      if (decode_roster_item(value, item) != StorageError::kOk ||
          key.substr(prefix.size()) != key_part(item.jid)) {
        corrupt = true;
      } else {
        out.push_back(std::move(item));
      }
      return StorageError::kOk;
    });
  });
  if (e != StorageError::kOk) return e;
  return corrupt ? StorageError::kCorrupt : StorageError::kOk;
}

StorageError LmdbRosterStore::get(std::string_view user, std::string_view contact,
                                  RosterItem& out) {
  if (validate_username(user) != StorageError::kOk ||
      validate_contact(contact) != StorageError::kOk) {
    return StorageError::kNotFound;
  }
  const std::string key = roster_key(user, contact);
  return env_.read([&](LmdbTxn& txn) {
    std::string_view bytes;
    StorageError e = txn.get(dbs_.items, key, bytes);
    if (e != StorageError::kOk) return e;
    RosterItem item;
    if (decode_roster_item(bytes, item) != StorageError::kOk || item.jid != contact) {
      return StorageError::kCorrupt;
    }
    out = std::move(item);
    return StorageError::kOk;
  });
}

StorageError LmdbRosterStore::put(std::string_view user, const RosterItem& item) {
  if (StorageError e = validate_roster_item(user, item); e != StorageError::kOk) return e;
  const std::string key = roster_key(user, item.jid);
  const std::string record = encode_roster_item(item);
  return env_.write([&](LmdbTxn& txn) {
    StorageError e = txn.put(dbs_.items, key, record);
    if (e != StorageError::kOk) return e;
    return bump_version(txn, dbs_, user);
  });
}

StorageError LmdbRosterStore::remove(std::string_view user, std::string_view contact) {
  if (validate_username(user) != StorageError::kOk ||
      validate_contact(contact) != StorageError::kOk) {
    return StorageError::kNotFound;
  }
  const std::string key = roster_key(user, contact);
  return env_.write([&](LmdbTxn& txn) {
    StorageError e = txn.del(dbs_.items, key);
    if (e != StorageError::kOk) return e;
    return bump_version(txn, dbs_, user);
  });
}

StorageError LmdbRosterStore::version(std::string_view user, uint64_t& out) {
  if (validate_username(user) != StorageError::kOk) {
    out = 0;
    return StorageError::kOk;
  }
  const std::string key = account_key(user);
  return env_.read([&](LmdbTxn& txn) {
    std::string_view bytes;
    StorageError e = txn.get(dbs_.versions, key, bytes);
    if (e == StorageError::kNotFound) {
      out = 0;
      return StorageError::kOk;
    }
    if (e != StorageError::kOk) return e;
    return decode_counter(bytes, out);
  });
}

}  // namespace xd::server
