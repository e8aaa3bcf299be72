#include "server/storage/account_store.h"

#include <ctime>

#include "protocol/jid/jid.h"

namespace xd::server {
namespace {

using xd::protocol::ScramCredentials;
using xd::protocol::ScramHash;

bool credentials_ok(const ScramCredentials& c, ScramHash hash) {
  size_t n = xd::protocol::scram_hash_size(hash);
  return c.hash == hash && !c.salt.empty() && c.salt.size() <= kMaxSaltBytes && c.iterations >= 1 &&
         c.stored_key.size() == n && c.server_key.size() == n;
}

}  // namespace

StorageError validate_username(std::string_view username) {
  if (username.empty() || username.size() > kMaxUsernameBytes) return StorageError::kInvalid;
  for (char c : username) {
    if (c == '\0' || c == '\xff') return StorageError::kInvalid;
  }
  return StorageError::kOk;
}

StorageError validate_stored_account(const StoredAccount& account) {
  if (validate_username(account.username) != StorageError::kOk) return StorageError::kInvalid;
  if (!credentials_ok(account.sha1, ScramHash::kSha1) ||
      !credentials_ok(account.sha256, ScramHash::kSha256)) {
    return StorageError::kInvalid;
  }
  return StorageError::kOk;
}

StorageError make_account(std::string_view username, std::string_view password,
                          const std::function<void(uint8_t*, size_t)>& random_bytes,
                          uint64_t created_unix, StoredAccount& out) {
  // The caller enforces the localpart; a second enforcement must be a fixed
  // point, or two spellings could reach two accounts (RFC 7622 §3.3). The
  // domain is only there to build an address; any valid one does.
  xd::protocol::Jid jid;
  if (xd::protocol::Jid::from_parts(username, "localhost", {}, jid) !=
          xd::protocol::JidError::kOk ||
      jid.local() != username || validate_username(username) != StorageError::kOk) {
    return StorageError::kInvalid;
  }

  std::string salt(xd::protocol::kScramSaltBytes, '\0');
  random_bytes(reinterpret_cast<uint8_t*>(salt.data()), salt.size());

  StoredAccount account;
  account.username = std::string(username);
  account.created_unix = created_unix;
  // One salt for both hashes: scram_fake_credentials does the same for
  // unknown users, so the two cannot be told apart (catalogue 37).
  if (xd::protocol::scram_derive_from_password(ScramHash::kSha1, password, salt,
                                               xd::protocol::kScramDefaultIterations,
                                               account.sha1) != xd::protocol::PrecisError::kOk) {
    return StorageError::kInvalid;
  }
  if (xd::protocol::scram_derive_from_password(ScramHash::kSha256, password, salt,
                                               xd::protocol::kScramDefaultIterations,
                                               account.sha256) != xd::protocol::PrecisError::kOk) {
    xd::protocol::scram_wipe(account.sha1);
    return StorageError::kInvalid;
  }
  out = std::move(account);
  return StorageError::kOk;
}

StorageError make_account(std::string_view username, std::string_view password,
                          const std::function<void(uint8_t*, size_t)>& random_bytes,
                          StoredAccount& out) {
  std::time_t now = std::time(nullptr);
  return make_account(username, password, random_bytes, now > 0 ? static_cast<uint64_t>(now) : 0,
                      out);
}

}  // namespace xd::server
