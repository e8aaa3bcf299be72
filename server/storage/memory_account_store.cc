#include "server/storage/memory_account_store.h"

#include <algorithm>

namespace xd::server {

StorageError MemoryAccountStore::create(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  if (!accounts_.try_emplace(account.username, account).second) return StorageError::kExists;
  return StorageError::kOk;
}

StorageError MemoryAccountStore::get(std::string_view username, StoredAccount& out) {
  auto it = accounts_.find(username);
  if (it == accounts_.end()) return StorageError::kNotFound;
  out = it->second;
  return StorageError::kOk;
}

StorageError MemoryAccountStore::update_credentials(const StoredAccount& account) {
  if (StorageError e = validate_stored_account(account); e != StorageError::kOk) return e;
  auto it = accounts_.find(account.username);
  if (it == accounts_.end()) return StorageError::kNotFound;
  it->second.sha1 = account.sha1;
  it->second.sha256 = account.sha256;
  return StorageError::kOk;
}

StorageError MemoryAccountStore::remove(std::string_view username) {
  auto it = accounts_.find(username);
  if (it == accounts_.end()) return StorageError::kNotFound;
  accounts_.erase(it);
  rosters_.remove_user(username);
  return StorageError::kOk;
}

StorageError MemoryAccountStore::list(std::vector<std::string>& out) {
  out.clear();
  out.reserve(accounts_.size());
  for (const auto& [name, account] : accounts_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return StorageError::kOk;
}

size_t MemoryAccountStore::count() { return accounts_.size(); }

}  // namespace xd::server
