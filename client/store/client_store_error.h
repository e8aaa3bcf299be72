// The status values every ClientStore call returns (client/store/
// client_store.h): one X-macro list generates the enum, the names and the
// messages. The store never throws; SQLite's and errno's codes are turned
// into these values inside client_store.cc and never leak past it.
#pragma once

#include <string_view>

namespace xd::client {

// X(enumerator, name, message). Values occupy the reserved range
// [950, 999]; kOk is 0. Fatal threshold: kIo. Everything before it is an
// answer about one call (kIdentityChanged and kRolledBack are outcomes, not
// failures of the store); kIo means a write may not have reached the disk,
// so the caller must not act as if it had (for example must not send a
// message whose ratchet state failed to save).
#define XD_CLIENT_STORE_ERRORS(X)                                                                  \
  X(kNotFound, "not-found", "no such record")                                                      \
  X(kExists, "exists", "a record with that key already exists")                                    \
  X(kIdentityChanged, "identity-changed",                                                          \
    "the peer device presents an identity key different from the one remembered")                  \
  X(kInvalid, "invalid", "an argument is out of range or the call is not allowed here")            \
  X(kRolledBack, "rolled-back", "the transaction function asked for a rollback")                   \
  X(kPermissions, "permissions",                                                                   \
    "the database is not a regular file of yours, or group or others may access it; chmod 600 it") \
  X(kWrongKey, "wrong-key", "the storage key does not match this database")                        \
  X(kUnsupported, "unsupported", "the database was written by a newer client version")             \
  X(kBusy, "busy", "the database is locked by another process")                                    \
  X(kCorrupt, "corrupt", "a stored record or the database file is unreadable")                     \
  X(kFull, "full", "the disk or the id space is full")                                             \
  X(kIo, "io", "an I/O error: the write may not be durable")

enum class ClientStoreError : int {
  kOk = 0,
  kFirst_ = 949,
#define XD_X(e, n, m) e,
  XD_CLIENT_STORE_ERRORS(XD_X)
#undef XD_X
      kLast_,
};
static_assert(static_cast<int>(ClientStoreError::kLast_) <= 1000,
              "ClientStoreError overflows [950, 999]");

// Stable lower-case name of |error| ("ok", "unknown" outside the list).
// Static storage.
std::string_view client_store_error_name(ClientStoreError error);
// One-line English description of |error|. Static storage.
std::string_view client_store_error_message(ClientStoreError error);
// True for kIo and anything past the list.
bool client_store_error_is_fatal(ClientStoreError error);

}  // namespace xd::client
