// What the cluster's KV-backed stores (accounts, rosters, E2E keys) share:
// a read that also returns the key's revision, a compare-and-set write on
// that revision, the retry loop around them, and the length-prefixed
// framing of several records in one value. Blocking round trips to NATS;
// called on the loop thread. Never interprets the records themselves.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "server/storage/storage_error.h"

namespace xd::server {

// Reads |key|: kOk with |value| and |revision|, kNotFound (revision 0), or
// kIo when NATS did not answer.
StorageError kv_read(kvStore* kv, const std::string& key, std::string& value, uint64_t& revision);

// Read-modify-write of |key| guarded by its revision: |change| gets the
// current value (empty and |exists| false when absent) and returns kOk
// with |write| set to store |value|, kOk with |write| false to change
// nothing, or an error that is returned as it is. A lost race (another node
// wrote meanwhile) reads again, a few times; then kIo.
using KvUpdateFn = std::function<StorageError(const std::string& current, bool exists,
                                              std::string& value, bool& write)>;
StorageError kv_update(kvStore* kv, const std::string& key, const KvUpdateFn& change);

// Framing: a 4-byte big-endian length, then the bytes.
void append_framed(std::string& out, std::string_view record);
// Takes one framed record off the front of |in|; false when |in| is short.
bool take_framed(std::string_view& in, std::string_view& record);
void append_u32(std::string& out, uint32_t v);
bool take_u32(std::string_view& in, uint32_t& v);

}  // namespace xd::server
