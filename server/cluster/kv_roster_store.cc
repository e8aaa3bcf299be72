#include "server/cluster/kv_roster_store.h"

#include <algorithm>

#include "server/cluster/nats_link.h"
#include "server/log.h"
#include "server/storage/account_store.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {

namespace {

// Beyond this many lost races in a row something is wrong; the caller gets
// an error it reports to the client.
constexpr int kMaxAttempts = 8;
// Items per roster the decoder accepts (a bound for corrupt input; the
// roster module's own limit is far below).
constexpr uint32_t kMaxItems = 100000;

void put_u32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s & 0xFF));
}

bool get_u32(std::string_view& in, uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(in[static_cast<size_t>(i)]);
  in.remove_prefix(4);
  return true;
}

}  // namespace

std::string encode_roster(uint64_t version, const std::vector<RosterItem>& items) {
  std::string out = encode_counter(version);
  put_u32(out, static_cast<uint32_t>(items.size()));
  for (const RosterItem& item : items) {
    std::string rec = encode_roster_item(item);
    put_u32(out, static_cast<uint32_t>(rec.size()));
    out += rec;
  }
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
  if (!get_u32(bytes, n) || n > kMaxItems) return StorageError::kCorrupt;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t len = 0;
    if (!get_u32(bytes, len) || len > bytes.size()) return StorageError::kCorrupt;
    RosterItem item;
    if (decode_roster_item(bytes.substr(0, len), item) != StorageError::kOk) {
      return StorageError::kCorrupt;
    }
    bytes.remove_prefix(len);
    items.push_back(std::move(item));
  }
  return bytes.empty() ? StorageError::kOk : StorageError::kCorrupt;
}

StorageError KvRosterStore::read(std::string_view user, uint64_t& version,
                                 std::vector<RosterItem>& items, uint64_t& revision) {
  version = 0;
  revision = 0;
  items.clear();
  if (validate_username(user) != StorageError::kOk) return StorageError::kInvalid;
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, hex_token(user).c_str());
  if (s == NATS_NOT_FOUND) return StorageError::kOk;
  if (s != NATS_OK) {
    XD_WARN("cluster: roster bucket: %s %s", natsStatus_GetText(s), last_nats_error());
    return StorageError::kIo;
  }
  revision = kvEntry_Revision(e);
  StorageError r = decode_roster(std::string_view(static_cast<const char*>(kvEntry_Value(e)),
                                                  static_cast<size_t>(kvEntry_ValueLen(e))),
                                 version, items);
  kvEntry_Destroy(e);
  return r;
}

template <typename Change>
StorageError KvRosterStore::update(std::string_view user, Change change) {
  const std::string key = hex_token(user);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    uint64_t version = 0, revision = 0;
    std::vector<RosterItem> items;
    if (StorageError e = read(user, version, items, revision); e != StorageError::kOk) return e;
    bool bump = false;
    if (StorageError e = change(items, bump); e != StorageError::kOk) return e;
    if (!bump) return StorageError::kOk;
    const std::string value = encode_roster(version + 1, items);
    uint64_t rev = 0;
    natsStatus s = revision == 0 ? kvStore_Create(&rev, kv_, key.c_str(), value.data(),
                                                  static_cast<int>(value.size()))
                                 : kvStore_Update(&rev, kv_, key.c_str(), value.data(),
                                                  static_cast<int>(value.size()), revision);
    if (s == NATS_OK) return StorageError::kOk;
    // Another node changed the roster since the read (or the bucket is
    // electing a leader): read again.
  }
  return StorageError::kIo;
}

StorageError KvRosterStore::get_all(std::string_view user, std::vector<RosterItem>& out) {
  uint64_t version = 0, revision = 0;
  return read(user, version, out, revision);
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
  return update(user, [&](std::vector<RosterItem>& items, bool& bump) {
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
  return update(user, [&](std::vector<RosterItem>& items, bool& bump) {
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
  uint64_t revision = 0;
  return read(user, out, items, revision);
}

StorageError KvRosterStore::clear(std::string_view user) {
  return update(user, [&](std::vector<RosterItem>& items, bool& bump) {
    bump = !items.empty();
    items.clear();
    return StorageError::kOk;
  });
}

}  // namespace xd::server
