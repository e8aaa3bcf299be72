#include "server/cluster/kv_record.h"

#include "server/cluster/nats_link.h"
#include "server/log.h"

namespace xd::server {

namespace {
// Beyond this many lost races in a row something is wrong; the caller gets
// an error it reports to the client.
constexpr int kMaxAttempts = 8;
}  // namespace

StorageError kv_read(kvStore* kv, const std::string& key, std::string& value, uint64_t& revision) {
  value.clear();
  revision = 0;
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv, key.c_str());
  if (s == NATS_NOT_FOUND) return StorageError::kNotFound;
  if (s != NATS_OK) {
    XD_WARN("cluster: bucket read: %s %s", natsStatus_GetText(s), last_nats_error());
    return StorageError::kIo;
  }
  revision = kvEntry_Revision(e);
  value.assign(static_cast<const char*>(kvEntry_Value(e)),
               static_cast<size_t>(kvEntry_ValueLen(e)));
  kvEntry_Destroy(e);
  return StorageError::kOk;
}

StorageError kv_update(kvStore* kv, const std::string& key, const KvUpdateFn& change) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    std::string current;
    uint64_t revision = 0;
    StorageError r = kv_read(kv, key, current, revision);
    if (r != StorageError::kOk && r != StorageError::kNotFound) return r;
    std::string value;
    bool write = false;
    if (StorageError e = change(current, r == StorageError::kOk, value, write);
        e != StorageError::kOk) {
      return e;
    }
    if (!write) return StorageError::kOk;
    uint64_t rev = 0;
    natsStatus s = revision == 0 ? kvStore_Create(&rev, kv, key.c_str(), value.data(),
                                                  static_cast<int>(value.size()))
                                 : kvStore_Update(&rev, kv, key.c_str(), value.data(),
                                                  static_cast<int>(value.size()), revision);
    if (s == NATS_OK) return StorageError::kOk;
    // Another node wrote since the read (or the bucket is electing a
    // leader): read again.
  }
  return StorageError::kIo;
}

void append_u32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>(v >> s & 0xFF));
}

bool take_u32(std::string_view& in, uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  in.remove_prefix(4);
  return true;
}

void append_framed(std::string& out, std::string_view record) {
  append_u32(out, static_cast<uint32_t>(record.size()));
  out.append(record);
}

bool take_framed(std::string_view& in, std::string_view& record) {
  uint32_t len = 0;
  if (!take_u32(in, len) || len > in.size()) return false;
  record = in.substr(0, len);
  in.remove_prefix(len);
  return true;
}

}  // namespace xd::server
