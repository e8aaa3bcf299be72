#include "server/cluster/kv_account_store.h"

#include <algorithm>

#include "server/cluster/kv_record.h"
#include "server/cluster/nats_link.h"
#include "server/log.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {

namespace {

// A failure to reach JetStream is an I/O error for the caller: the login
// or registration fails and is retried by the client; nothing is half
// written (each call is one KV operation).
StorageError from_status(natsStatus s) {
  if (s == NATS_OK) return StorageError::kOk;
  if (s == NATS_NOT_FOUND) return StorageError::kNotFound;
  XD_WARN("cluster: account bucket: %s %s", natsStatus_GetText(s), last_nats_error());
  return StorageError::kIo;
}

}  // namespace

StorageError KvAccountStore::create(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  const std::string key = hex_token(account.username);
  const std::string value = encode_account(account);
  uint64_t rev = 0;
  // kvStore_Create writes only when the key has no live value: two nodes
  // registering the same name at once get one success and one kExists.
  natsStatus s =
      kvStore_Create(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s == NATS_OK) return StorageError::kOk;
  std::string existing;
  uint64_t revision = 0;
  if (kv_read(kv_, key, existing, revision) == StorageError::kOk) return StorageError::kExists;
  return from_status(s);
}

StorageError KvAccountStore::get(std::string_view username, StoredAccount& out) {
  if (validate_username(username) != StorageError::kOk) return StorageError::kNotFound;
  std::string value;
  uint64_t revision = 0;
  if (StorageError e = kv_read(kv_, hex_token(username), value, revision); e != StorageError::kOk) {
    return e;
  }
  StorageError r = decode_account(value, out);
  if (r == StorageError::kOk && out.username != username) r = StorageError::kCorrupt;
  return r;
}

StorageError KvAccountStore::update_credentials(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  // Guarded by the key's revision: a concurrent removal or change makes
  // the update read again instead of resurrecting the account.
  return kv_update(kv_, hex_token(account.username),
                   [&](const std::string& current, bool exists, std::string& value, bool& write) {
                     if (!exists) return StorageError::kNotFound;
                     StoredAccount stored;
                     if (StorageError e = decode_account(current, stored); e != StorageError::kOk) {
                       return e;
                     }
                     stored.sha1 = account.sha1;
                     stored.sha256 = account.sha256;
                     value = encode_account(stored);
                     write = true;
                     return StorageError::kOk;
                   });
}

StorageError KvAccountStore::remove(std::string_view username) {
  if (validate_username(username) != StorageError::kOk) return StorageError::kNotFound;
  const std::string key = hex_token(username);
  std::string existing;
  uint64_t revision = 0;
  if (StorageError e = kv_read(kv_, key, existing, revision); e != StorageError::kOk) return e;
  if (StorageError r = from_status(kvStore_Delete(kv_, key.c_str())); r != StorageError::kOk) {
    return r;
  }
  if (rosters_ && rosters_->clear(username) != StorageError::kOk) {
    XD_WARN("cluster: %s removed, but its roster could not be cleared",
            std::string(username).c_str());
  }
  return StorageError::kOk;
}

StorageError KvAccountStore::list(std::vector<std::string>& out) {
  out.clear();
  kvKeysList keys{};
  natsStatus s = kvStore_Keys(&keys, kv_, nullptr);
  if (s == NATS_NOT_FOUND) return StorageError::kOk;  // no keys at all
  if (s != NATS_OK) return from_status(s);
  for (int i = 0; i < keys.Count; ++i) {
    std::string name;
    if (unhex_token(keys.Keys[i], name)) out.push_back(std::move(name));
  }
  kvKeysList_Destroy(&keys);
  std::sort(out.begin(), out.end());
  return StorageError::kOk;
}

size_t KvAccountStore::count() {
  std::vector<std::string> names;
  return list(names) == StorageError::kOk ? names.size() : 0;
}

}  // namespace xd::server
