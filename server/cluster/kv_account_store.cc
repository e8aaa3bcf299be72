#include "server/cluster/kv_account_store.h"

#include <algorithm>

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
  kvEntry* e = nullptr;
  if (kvStore_Get(&e, kv_, key.c_str()) == NATS_OK) {
    kvEntry_Destroy(e);
    return StorageError::kExists;
  }
  return from_status(s);
}

StorageError KvAccountStore::get(std::string_view username, StoredAccount& out) {
  if (validate_username(username) != StorageError::kOk) return StorageError::kNotFound;
  const std::string key = hex_token(username);
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  if (s != NATS_OK) return from_status(s);
  std::string_view bytes(static_cast<const char*>(kvEntry_Value(e)),
                         static_cast<size_t>(kvEntry_ValueLen(e)));
  StorageError r = decode_account(bytes, out);
  kvEntry_Destroy(e);
  if (r == StorageError::kOk && out.username != username) r = StorageError::kCorrupt;
  return r;
}

StorageError KvAccountStore::update_credentials(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  const std::string key = hex_token(account.username);
  // Read-modify-write guarded by the revision: a concurrent removal or
  // change makes the update fail instead of resurrecting the account.
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  if (s != NATS_OK) return from_status(s);
  StoredAccount current;
  StorageError r = decode_account(std::string_view(static_cast<const char*>(kvEntry_Value(e)),
                                                   static_cast<size_t>(kvEntry_ValueLen(e))),
                                  current);
  const uint64_t revision = kvEntry_Revision(e);
  kvEntry_Destroy(e);
  if (r != StorageError::kOk) return r;
  current.sha1 = account.sha1;
  current.sha256 = account.sha256;
  const std::string value = encode_account(current);
  uint64_t rev = 0;
  s = kvStore_Update(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()),
                     revision);
  if (s != NATS_OK) return StorageError::kIo;
  return StorageError::kOk;
}

StorageError KvAccountStore::remove(std::string_view username) {
  if (validate_username(username) != StorageError::kOk) return StorageError::kNotFound;
  const std::string key = hex_token(username);
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  if (s != NATS_OK) return from_status(s);
  kvEntry_Destroy(e);
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
