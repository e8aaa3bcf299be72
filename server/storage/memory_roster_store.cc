#include "server/storage/memory_roster_store.h"

#include "server/storage/account_store.h"

namespace xd::server {

StorageError MemoryRosterStore::get_all(std::string_view user, std::vector<RosterItem>& out) {
  out.clear();
  auto it = rosters_.find(user);
  if (it == rosters_.end()) return StorageError::kOk;
  out.reserve(it->second.size());
  for (const auto& [jid, item] : it->second) out.push_back(item);
  return StorageError::kOk;
}

StorageError MemoryRosterStore::get(std::string_view user, std::string_view contact,
                                    RosterItem& out) {
  auto it = rosters_.find(user);
  if (it == rosters_.end()) return StorageError::kNotFound;
  auto item = it->second.find(contact);
  if (item == it->second.end()) return StorageError::kNotFound;
  out = item->second;
  return StorageError::kOk;
}

StorageError MemoryRosterStore::put(std::string_view user, const RosterItem& item) {
  if (StorageError e = validate_roster_item(user, item); e != StorageError::kOk) return e;
  auto it = rosters_.find(user);
  if (it == rosters_.end()) it = rosters_.emplace(std::string(user), Items{}).first;
  it->second.insert_or_assign(item.jid, item);
  bump(user);
  return StorageError::kOk;
}

StorageError MemoryRosterStore::remove(std::string_view user, std::string_view contact) {
  auto it = rosters_.find(user);
  if (it == rosters_.end()) return StorageError::kNotFound;
  auto item = it->second.find(contact);
  if (item == it->second.end()) return StorageError::kNotFound;
  it->second.erase(item);
  if (it->second.empty()) rosters_.erase(it);
  bump(user);
  return StorageError::kOk;
}

StorageError MemoryRosterStore::version(std::string_view user, uint64_t& out) {
  auto it = versions_.find(user);
  out = it == versions_.end() ? 0 : it->second;
  return StorageError::kOk;
}

void MemoryRosterStore::remove_user(std::string_view user) {
  auto it = rosters_.find(user);
  if (it == rosters_.end()) return;
  rosters_.erase(it);
  bump(user);
}

void MemoryRosterStore::bump(std::string_view user) {
  auto it = versions_.find(user);
  if (it == versions_.end()) {
    versions_.emplace(std::string(user), 1);
  } else {
    ++it->second;
  }
}

}  // namespace xd::server
