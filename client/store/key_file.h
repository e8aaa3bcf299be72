// The account's key file: the one place the client's 32-octet storage key
// lives, optionally sealed with a passphrase (Argon2id + XSalsa20-Poly1305).
// Everything else the client keeps secret is encrypted under that key in
// the database (client/store/client_store.h). This unit only ever creates
// the file owner-only (0600 in a 0700 directory), never opens one that
// group or others may read or write, never overwrites an existing key file
// on create, and never keeps the passphrase or derived key after returning.
//
// File layout, version 1: exactly 132 octets, integers big-endian.
//
//   offset size  field
//        0    8  magic "XDSTKEY\n"
//        8    1  version = 1
//        9    1  kind: 0 = plain, 1 = sealed with a passphrase
//       10    2  reserved, zero
//       12   16  Argon2id salt (sealed; zero when plain)
//       28    8  Argon2id opslimit (sealed; zero when plain)
//       36    8  Argon2id memlimit in octets (sealed; zero when plain)
//       44   24  XSalsa20-Poly1305 nonce (sealed; zero when plain)
//       68   48  sealed: crypto_secretbox_easy(storage key) = MAC(16) || ciphertext(32)
//                plain:  storage key(32) || zero(16)
//      116   16  checksum: BLAKE2b-128 (unkeyed crypto_generichash) of octets 0..115
//
// The checksum tells accidental damage (kCorrupt) from a wrong passphrase
// (kWrongPassphrase); it is not an authenticator, the secretbox MAC is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "client/store/storage_key.h"

namespace xd::client {

// X(enumerator, name, message). Failures occupy the reserved range
// [900, 949]; kOk is 0. Fatal threshold: kIo (the file system failed; the
// state of the file on disk is unknown). Everything before it is an answer
// about this file or this passphrase.
#define XD_KEY_FILE_ERRORS(X)                                                                      \
  X(kNotFound, "not-found", "the key file does not exist")                                         \
  X(kExists, "exists", "a key file already exists at that path; it was left untouched")            \
  X(kInvalid, "invalid", "the Argon2id parameters are out of the accepted range")                  \
  X(kPermissions, "permissions",                                                                   \
    "the key file is not a regular file of yours, or group or others may access it; chmod 600 it") \
  X(kCorrupt, "corrupt", "the key file is damaged or is not an xmppd key file")                    \
  X(kWrongPassphrase, "wrong-passphrase", "the passphrase does not unlock the key file")           \
  X(kNeedPassphrase, "need-passphrase", "the key file is sealed: a passphrase is required")        \
  X(kIo, "io", "an I/O error on the key file or its directory")

enum class KeyFileError : int {
  kOk = 0,
  kFirst_ = 899,
#define XD_X(e, n, m) e,
  XD_KEY_FILE_ERRORS(XD_X)
#undef XD_X
      kLast_,
};
static_assert(static_cast<int>(KeyFileError::kLast_) <= 950, "KeyFileError overflows [900, 949]");

// Stable lower-case name of |error| ("ok", "unknown" outside the list).
// Static storage.
std::string_view key_file_error_name(KeyFileError error);
// One-line English description of |error| for the user. Static storage.
std::string_view key_file_error_message(KeyFileError error);
// True for kIo and anything past the list.
bool key_file_error_is_fatal(KeyFileError error);

// Argon2id cost when sealing. Zero means libsodium's INTERACTIVE value
// (opslimit 2, memlimit 64 MiB). Accepted when creating and when opening:
// opslimit 1..kMaxOpslimit, memlimit 8 KiB..kMaxMemlimit; a file asking for
// more is treated as corrupt rather than allowed to exhaust memory.
struct KeyFileParams {
  static constexpr std::uint64_t kMaxOpslimit = 64;
  static constexpr std::uint64_t kMaxMemlimit = std::uint64_t{1} << 30;  // 1 GiB
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
};

// The exact size of a version-1 key file.
inline constexpr std::size_t kKeyFileSize = 132;

// Generates a new random storage key into |out| and writes it to |path|,
// sealed with |passphrase| unless it is empty. Missing parent directories
// are created with mode 0700. The file is written to a temporary sibling
// created O_CREAT|O_EXCL mode 0600, fsync()ed, then hard-linked to |path|
// (which fails rather than replaces if |path| appeared meanwhile) and the
// directory fsync()ed, so |path| is either absent or complete.
// kExists when |path| exists (nothing is written, |out| unchanged); kInvalid
// for |params| out of range; kIo on a file-system failure. |out| is only
// filled on kOk.
KeyFileError create_key_file(const std::string& path, std::string_view passphrase, StorageKey& out,
                             const KeyFileParams& params = {});

// Reads the storage key from |path| into |out|. A plain file opens whatever
// |passphrase| is. kNotFound when absent; kPermissions when the file is not
// a regular file owned by the effective user with mode bits 077 clear (the
// key is not read); kCorrupt for a wrong size, magic, version or checksum,
// or Argon2id parameters out of range; kNeedPassphrase for a sealed file
// and an empty |passphrase|; kWrongPassphrase when the MAC does not verify;
// kIo otherwise. When |detail| is not null it receives a one-line reason
// for a failure (for example the offending mode). |out| is only filled on
// kOk.
KeyFileError open_key_file(const std::string& path, std::string_view passphrase, StorageKey& out,
                           std::string* detail = nullptr);

// Re-seals the key in |path| under |new_passphrase| (empty: stores it
// plain), after unlocking it with |old_passphrase| (ignored for a plain
// file). The storage key itself does not change, so the database stays
// readable. The new file replaces the old one atomically (temporary file,
// fsync, rename, directory fsync): after a crash |path| holds either the
// old or the new file. Errors as open_key_file, plus kInvalid for |params|
// and kIo for a failed write (the old file is then intact).
KeyFileError change_passphrase(const std::string& path, std::string_view old_passphrase,
                               std::string_view new_passphrase, const KeyFileParams& params = {});

}  // namespace xd::client
