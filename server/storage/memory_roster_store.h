// The in-memory RosterStore: hash maps that behave exactly like the LMDB
// backend (same validation, same version rules) so tests and single-process
// experiments can run without a data directory. It never touches the disk,
// so nothing survives the object, and it never returns kFull or kIo.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/storage/roster_store.h"

namespace xd::server {

// Hash for string keys that also accepts string_view, so lookups by view do
// not allocate (C++20 heterogeneous lookup).
struct StorageStringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class MemoryRosterStore final : public RosterStore {
 public:
  StorageError get_all(std::string_view user, std::vector<RosterItem>& out) override;
  StorageError get(std::string_view user, std::string_view contact, RosterItem& out) override;
  StorageError put(std::string_view user, const RosterItem& item) override;
  StorageError remove(std::string_view user, std::string_view contact) override;
  StorageError version(std::string_view user, uint64_t& out) override;

  // Deletes every item of |user|; bumps the version if there was any.
  // MemoryAccountStore::remove calls it. Never fails.
  void remove_user(std::string_view user);

 private:
  using Items = std::unordered_map<std::string, RosterItem, StorageStringHash, std::equal_to<>>;
  std::unordered_map<std::string, Items, StorageStringHash, std::equal_to<>> rosters_;
  // Kept after the items go (RFC 6121 §2.6: a version must not repeat).
  std::unordered_map<std::string, uint64_t, StorageStringHash, std::equal_to<>> versions_;

  void bump(std::string_view user);
};

}  // namespace xd::server
