#include "server/cluster/kv_roster_store.h"

#include <algorithm>

#include "server/cluster/kv_record.h"
#include "server/cluster/nats_link.h"
#include "server/log.h"
#include "server/storage/account_store.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {

namespace {

// Items per roster the decoder accepts (a bound for corrupt input; the
// roster module's own limit is far below).
constexpr uint32_t kMaxItems = 100000;

}  // namespace

std::string encode_roster(uint64_t version, const std::vector<RosterItem>& items) {
  std::string out = encode_counter(version);
  append_u32(out, static_cast<uint32_t>(items.size()));
  for (const RosterItem& item : items) append_framed(out, encode_roster_item(item));
  return out;
}

StorageError decode_roster(std::string_view bytes, uint64_t& version,
                           std::vector<RosterItem>& items) {
  items.clear();
  const std::string counter = encode_counter(0);
  if (bytes.size() < counter.size()) return StorageError::kCorrupt;
  if (decode_counter(bytes.substr(0, counter.size()), version) != StorageError::kOk) {
    return StorageError::kCorrupt;
  }
  bytes.remove_prefix(counter.size());
  uint32_t n = 0;
  if (!take_u32(bytes, n) || n > kMaxItems) return StorageError::kCorrupt;
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view record;
    RosterItem item;
    if (!take_framed(bytes, record) || decode_roster_item(record, item) != StorageError::kOk) {
      return StorageError::kCorrupt;
    }
    items.push_back(std::move(item));
  }
  return bytes.empty() ? StorageError::kOk : StorageError::kCorrupt;
}

StorageError KvRosterStore::read(std::string_view user, uint64_t& version,
                                 std::vector<RosterItem>& items) {
  version = 0;
  items.clear();
  if (validate_username(user) != StorageError::kOk) return StorageError::kInvalid;
  std::string value;
  uint64_t revision = 0;
  StorageError e = kv_read(kv_, hex_token(user), value, revision);
  if (e == StorageError::kNotFound) return StorageError::kOk;
  if (e != StorageError::kOk) return e;
  return decode_roster(value, version, items);
}

StorageError KvRosterStore::change(
    std::string_view user,
    const std::function<StorageError(std::vector<RosterItem>&, bool&)>& edit) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kInvalid;
  return kv_update(kv_, hex_token(user),
                   [&](const std::string& current, bool exists, std::string& value, bool& write) {
                     uint64_t version = 0;
                     std::vector<RosterItem> items;
                     if (exists) {
                       if (StorageError e = decode_roster(current, version, items);
                           e != StorageError::kOk) {
                         return e;
                       }
                     }
                     if (StorageError e = edit(items, write); e != StorageError::kOk) return e;
                     if (write) value = encode_roster(version + 1, items);
                     return StorageError::kOk;
                   });
}

StorageError KvRosterStore::get_all(std::string_view user, std::vector<RosterItem>& out) {
  uint64_t version = 0;
  return read(user, version, out);
}

StorageError KvRosterStore::get(std::string_view user, std::string_view contact, RosterItem& out) {
  std::vector<RosterItem> items;
  if (StorageError e = get_all(user, items); e != StorageError::kOk) return e;
  for (RosterItem& item : items) {
    if (item.jid == contact) {
      out = std::move(item);
      return StorageError::kOk;
    }
  }
  return StorageError::kNotFound;
}

StorageError KvRosterStore::put(std::string_view user, const RosterItem& item) {
  if (StorageError e = validate_roster_item(user, item); e != StorageError::kOk) return e;
  return change(user, [&](std::vector<RosterItem>& items, bool& bump) {
    auto it = std::find_if(items.begin(), items.end(),
                           [&](const RosterItem& i) { return i.jid == item.jid; });
    if (it == items.end()) {
      items.push_back(item);
    } else {
      *it = item;
    }
    bump = true;
    return StorageError::kOk;
  });
}

StorageError KvRosterStore::remove(std::string_view user, std::string_view contact) {
  return change(user, [&](std::vector<RosterItem>& items, bool& bump) {
    auto it = std::find_if(items.begin(), items.end(),
                           [&](const RosterItem& i) { return i.jid == contact; });
    if (it == items.end()) return StorageError::kNotFound;
    items.erase(it);
    bump = true;
    return StorageError::kOk;
  });
}

StorageError KvRosterStore::version(std::string_view user, uint64_t& out) {
  std::vector<RosterItem> items;
  return read(user, out, items);
}

StorageError KvRosterStore::clear(std::string_view user) {
  return change(user, [&](std::vector<RosterItem>& items, bool& bump) {
    bump = !items.empty();
    items.clear();
    return StorageError::kOk;
  });
}

}  // namespace xd::server
