#include "server/cluster/cluster_message_store.h"

#include "server/cluster/kv_record.h"
#include "server/cluster/nats_link.h"
#include "server/storage/account_store.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {

StorageError ClusterMessageStore::get_push(std::string_view user,
                                           std::vector<PushRegistration>& out) {
  out.clear();
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  std::string value;
  uint64_t revision = 0;
  StorageError e = kv_read(push_kv_, hex_token(user), value, revision);
  if (e == StorageError::kNotFound) return StorageError::kOk;
  if (e != StorageError::kOk) return e;
  if (value.empty()) return StorageError::kOk;  // cleared
  return decode_push(value, out);
}

StorageError ClusterMessageStore::set_push(std::string_view user,
                                           const std::vector<PushRegistration>& registrations) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kInvalid;
  if (registrations.size() > kMaxPushRegistrations) return StorageError::kInvalid;
  return kv_update(push_kv_, hex_token(user),
                   [&](const std::string&, bool exists, std::string& value, bool& write) {
                     // The whole list is replaced (an empty one clears it).
                     write = exists || !registrations.empty();
                     value = registrations.empty() ? std::string() : encode_push(registrations);
                     return StorageError::kOk;
                   });
}

}  // namespace xd::server
