#include "client/store/storage_key.h"

#include <sodium.h>

namespace xd::client {

StorageKey::~StorageKey() { wipe(); }

bool StorageKey::equals(const StorageKey& other) const {
  return sodium_memcmp(bytes_.data(), other.bytes_.data(), kSize) == 0;
}

void StorageKey::wipe() { sodium_memzero(bytes_.data(), kSize); }

}  // namespace xd::client
