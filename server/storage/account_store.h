// Accounts: the stored record (SCRAM keys per RFC 5802 §3, never a
// password), the storage interface every backend implements, and the helper
// that turns a username and a password into a record. Backends never see a
// password, never apply PRECIS (usernames arrive enforced) and never throw;
// every outcome is a StorageError value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/sasl/scram.h"
#include "server/storage/storage_error.h"

namespace xd::server {

// Longest username we store, in octets: a JID localpart (RFC 7622 §3.3).
inline constexpr size_t kMaxUsernameBytes = 1023;
// Longest salt we accept in a record. make_account uses kScramSaltBytes; the
// cap only bounds what a record (or a corrupt file) can make us allocate.
inline constexpr size_t kMaxSaltBytes = 1024;

// One account. |sha1| and |sha256| share one random salt of kScramSaltBytes
// and one iteration count, so a real account looks like the fake one
// ScramServer invents for an unknown user (scram_fake_credentials).
struct StoredAccount {
  std::string username;  // enforced localpart (UsernameCaseMapped)
  xd::protocol::ScramCredentials sha1;
  xd::protocol::ScramCredentials sha256;
  uint64_t created_unix = 0;  // seconds since the epoch, for admins only
};

// kOk when |username| can be a storage key: non-empty, at most
// kMaxUsernameBytes, without NUL or 0xFF octets (an enforced localpart is
// UTF-8 without controls, so it never has them; the LMDB key encoding relies
// on it). kInvalid otherwise. It does not re-run PRECIS.
StorageError validate_username(std::string_view username);

// kOk when |account| can be stored: a valid username, and both credentials
// usable (hash sha1 / sha256 respectively, a salt of 1..kMaxSaltBytes
// octets, iterations >= 1, keys of scram_hash_size bytes). kInvalid
// otherwise. Every backend calls this, so all of them refuse the same
// records.
StorageError validate_stored_account(const StoredAccount& account);

// The account table. Implementations are used from one thread at a time and
// never call back into the caller. Every method copies what it keeps; the
// caller owns its arguments and outputs.
class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Stores a new account. kExists if |account.username| is taken, kInvalid
  // if validate_stored_account refuses it, kFull when out of space (nothing
  // was written), kIo on a failed commit (fatal).
  virtual StorageError create(const StoredAccount& account) = 0;

  // Reads the account |username| into |out|. kNotFound if there is none,
  // kCorrupt if its record is unreadable; |out| is unspecified on error.
  virtual StorageError get(std::string_view username, StoredAccount& out) = 0;

  // Replaces the credentials (|account.sha1|, |account.sha256|) of the
  // existing account |account.username|; the creation time is kept.
  // kNotFound if there is no such account, kInvalid as for create().
  virtual StorageError update_credentials(const StoredAccount& account) = 0;

  // Deletes the account |username| and, in the same transaction, the user's
  // roster. The roster version counter survives and, if there were items,
  // is bumped, so a client caching an old version of a re-created account
  // is not told "unchanged" (RFC 6121 §2.6). kNotFound if there is no such
  // account. A record that reads as kCorrupt can still be removed.
  virtual StorageError remove(std::string_view username) = 0;

  // Replaces |out| with every username, sorted byte-wise. On kCorrupt |out|
  // holds the names whose records were readable.
  virtual StorageError list(std::vector<std::string>& out) = 0;

  // The number of accounts; 0 if the store cannot be read.
  virtual size_t count() = 0;
};

// Fills |out| with a new account for |username| and |password|: a salt of
// kScramSaltBytes from |random_bytes| (called once, must fill all bytes;
// it is the caller's CSPRNG), shared by SCRAM-SHA-1 and SCRAM-SHA-256
// credentials of kScramDefaultIterations, derived after preparing
// |password| with OpaqueString (RFC 8265 §4.2, RFC 7677 §4). created_unix is
// |created_unix|. The password is not kept. Returns kInvalid, leaving |out|
// untouched, when |username| is not an enforced localpart (enforcing it
// again must give the same octets; RFC 7622 §3.3) or when OpaqueString
// refuses |password| (empty, control characters, invalid UTF-8). Costs two
// PBKDF2 runs; never calls back after returning.
StorageError make_account(std::string_view username, std::string_view password,
                          const std::function<void(uint8_t*, size_t)>& random_bytes,
                          uint64_t created_unix, StoredAccount& out);

// As above, with created_unix read from the wall clock.
StorageError make_account(std::string_view username, std::string_view password,
                          const std::function<void(uint8_t*, size_t)>& random_bytes,
                          StoredAccount& out);

}  // namespace xd::server
