// The error values every storage backend returns (architecture.md §3,
// hostile-inputs.md "Durability contract"): one X-macro list generates the
// enum, the names and the messages. Storage never throws and never aborts on
// a bad record; a backend's native error codes never leak past its
// directory.
#pragma once

#include <string_view>

namespace xd::server {

// X(enumerator, name, message). Failures occupy the reserved range
// [600, 699] (stream errors use 1xx, stanza errors 2xx, SASL 3xx, JID 4xx);
// kOk is 0 so a result tests as "no error". Fatal threshold: kIo. Everything
// before it is an answer about one request; kIo means a commit may not have
// reached the disk, so the caller fail-stops rather than acknowledge
// anything (architecture.md §3.3, hostile-inputs.md catalogue 71).
//
// How the server maps them: kFull becomes <resource-constraint/> of type
// wait (catalogue 70); kInvalid is the caller's bug or an over-long value
// (<not-acceptable/> or <bad-request/>); kCorrupt is an unreadable record:
// log it and answer <internal-server-error/> for that request only.
#define XD_STORAGE_ERRORS(X)                                                         \
  X(kNotFound, "not-found", "no such record")                                        \
  X(kExists, "exists", "a record with that key already exists")                      \
  X(kInvalid, "invalid", "the value cannot be stored (bad name, password or field)") \
  X(kFull, "full", "the store is out of space (map full or ENOSPC)")                 \
  X(kCorrupt, "corrupt", "a stored record or the database file is unreadable")       \
  X(kIo, "io", "an I/O error: the write may not be durable, the process must stop")

enum class StorageError : int {
  kOk = 0,
  kFirst_ = 599,
#define XD_X(e, n, m) e,
  XD_STORAGE_ERRORS(XD_X)
#undef XD_X
      kLast_,
};
static_assert(static_cast<int>(StorageError::kLast_) <= 700, "StorageError overflows [600, 699]");

// Stable lower-case name of |error| for logs and tests: "ok" for kOk and
// "unknown" for a value outside the list. The view points at static storage.
std::string_view storage_error_name(StorageError error);

// One-line English description of |error| for logs; never sent to peers.
// Static storage.
std::string_view storage_error_message(StorageError error);

// True for errors at or above the fatal threshold (kIo): the caller must stop
// the process without acknowledging the write (fsyncgate rule: a failed
// fsync cannot be retried into success).
bool storage_error_is_fatal(StorageError error);

}  // namespace xd::server
