// The in-memory AccountStore: a hash map with the same validation and
// results as the LMDB backend, for tests. It never touches the disk, so
// nothing survives the object, and it never returns kFull or kIo.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/storage/account_store.h"
#include "server/storage/memory_roster_store.h"

namespace xd::server {

class MemoryAccountStore final : public AccountStore {
 public:
  // |rosters| is borrowed and must outlive this store: remove() clears the
  // deleted user's roster there, as the LMDB backend does in one transaction.
  explicit MemoryAccountStore(MemoryRosterStore& rosters) : rosters_(rosters) {}

  StorageError create(const StoredAccount& account) override;
  StorageError get(std::string_view username, StoredAccount& out) override;
  StorageError update_credentials(const StoredAccount& account) override;
  StorageError remove(std::string_view username) override;
  StorageError list(std::vector<std::string>& out) override;
  size_t count() override;

 private:
  MemoryRosterStore& rosters_;
  std::unordered_map<std::string, StoredAccount, StorageStringHash, std::equal_to<>> accounts_;
};

}  // namespace xd::server
