#include "client/store/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "client/store/private_file.h"

namespace xd::client {
namespace {

// Layout offsets (key_file.h).
constexpr std::size_t kMagicAt = 0;
constexpr std::size_t kVersionAt = 8;
constexpr std::size_t kKindAt = 9;
constexpr std::size_t kReservedAt = 10;
constexpr std::size_t kSaltAt = 12;
constexpr std::size_t kOpsAt = 28;
constexpr std::size_t kMemAt = 36;
constexpr std::size_t kNonceAt = 44;
constexpr std::size_t kBoxAt = 68;
constexpr std::size_t kChecksumAt = 116;

constexpr char kMagic[8] = {'X', 'D', 'S', 'T', 'K', 'E', 'Y', '\n'};
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kKindPlain = 0;
constexpr std::uint8_t kKindSealed = 1;
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kNonceSize = 24;
constexpr std::size_t kBoxSize = 48;
constexpr std::size_t kChecksumSize = 16;

static_assert(kSaltSize == crypto_pwhash_SALTBYTES);
static_assert(kNonceSize == crypto_secretbox_NONCEBYTES);
static_assert(kBoxSize == StorageKey::kSize + crypto_secretbox_MACBYTES);
static_assert(crypto_secretbox_KEYBYTES == StorageKey::kSize);
static_assert(kChecksumSize >= crypto_generichash_BYTES_MIN);
static_assert(kBoxAt + kBoxSize == kChecksumAt);
static_assert(kChecksumAt + kChecksumSize == kKeyFileSize);
static_assert(KeyFileParams::kMaxMemlimit <= crypto_pwhash_argon2id_MEMLIMIT_MAX);

using Record = std::array<std::uint8_t, kKeyFileSize>;

// Wipes a record (it may hold a plain storage key) when it leaves scope.
struct WipedRecord {
  Record bytes{};
  ~WipedRecord() { sodium_memzero(bytes.data(), bytes.size()); }
};

void put_u64(std::uint8_t* at, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    at[i] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
}

std::uint64_t get_u64(const std::uint8_t* at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | at[i];
  return v;
}

void checksum(const Record& r, std::uint8_t* out) {
  crypto_generichash(out, kChecksumSize, r.data(), kChecksumAt, nullptr, 0);
}

bool params_in_range(std::uint64_t ops, std::uint64_t mem) {
  return ops >= crypto_pwhash_argon2id_OPSLIMIT_MIN && ops <= KeyFileParams::kMaxOpslimit &&
         mem >= crypto_pwhash_argon2id_MEMLIMIT_MIN && mem <= KeyFileParams::kMaxMemlimit;
}

// Resolves zeros to libsodium's INTERACTIVE cost; false when out of range.
bool resolve_params(const KeyFileParams& in, std::uint64_t& ops, std::uint64_t& mem) {
  ops = in.opslimit != 0 ? in.opslimit : crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
  mem = in.memlimit != 0 ? in.memlimit : crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
  return params_in_range(ops, mem);
}

// Argon2id(passphrase, salt) -> 32-octet sealing key. False when libsodium
// cannot allocate |mem| octets.
bool derive(std::string_view passphrase, const std::uint8_t* salt, std::uint64_t ops,
            std::uint64_t mem, std::uint8_t* key_out) {
  return crypto_pwhash(key_out, crypto_secretbox_KEYBYTES, passphrase.data(), passphrase.size(),
                       salt, ops, static_cast<std::size_t>(mem), crypto_pwhash_ALG_ARGON2ID13) == 0;
}

// Builds the record for |key|: plain when |passphrase| is empty, else sealed
// with fresh salt and nonce.
KeyFileError build_record(const StorageKey& key, std::string_view passphrase, std::uint64_t ops,
                          std::uint64_t mem, Record& r) {
  r.fill(0);
  std::memcpy(r.data() + kMagicAt, kMagic, sizeof kMagic);
  r[kVersionAt] = kVersion;
  if (passphrase.empty()) {
    r[kKindAt] = kKindPlain;
    std::memcpy(r.data() + kBoxAt, key.data(), StorageKey::kSize);
  } else {
    r[kKindAt] = kKindSealed;
    randombytes_buf(r.data() + kSaltAt, kSaltSize);
    put_u64(r.data() + kOpsAt, ops);
    put_u64(r.data() + kMemAt, mem);
    randombytes_buf(r.data() + kNonceAt, kNonceSize);
    std::uint8_t seal_key[crypto_secretbox_KEYBYTES];
    if (!derive(passphrase, r.data() + kSaltAt, ops, mem, seal_key)) {
      sodium_memzero(seal_key, sizeof seal_key);
      return KeyFileError::kIo;  // out of memory for Argon2id
    }
    crypto_secretbox_easy(r.data() + kBoxAt, key.data(), StorageKey::kSize, r.data() + kNonceAt,
                          seal_key);
    sodium_memzero(seal_key, sizeof seal_key);
  }
  checksum(r, r.data() + kChecksumAt);
  return KeyFileError::kOk;
}

KeyFileError read_record(const std::string& path, Record& r, std::string* detail) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    if (detail) *detail = std::strerror(e);
    if (e == ENOENT || e == ENOTDIR) return KeyFileError::kNotFound;
    if (e == EACCES || e == EPERM) return KeyFileError::kPermissions;
    return KeyFileError::kIo;
  }
  std::string why;
  if (!private_regular_file(fd, why)) {
    ::close(fd);
    if (detail) *detail = path + ": " + why;
    return KeyFileError::kPermissions;
  }
  // One octet more than a record so a longer file is caught.
  std::uint8_t buf[kKeyFileSize + 1];
  std::size_t got = 0;
  while (got < sizeof buf) {
    const ssize_t n = ::read(fd, buf + got, sizeof buf - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      sodium_memzero(buf, sizeof buf);
      if (detail) *detail = std::strerror(e);
      return KeyFileError::kIo;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got != kKeyFileSize) {
    sodium_memzero(buf, sizeof buf);
    if (detail) *detail = "size is " + std::to_string(got) + " octets, expected 132";
    return KeyFileError::kCorrupt;
  }
  std::memcpy(r.data(), buf, kKeyFileSize);
  sodium_memzero(buf, sizeof buf);
  return KeyFileError::kOk;
}

// Checks and unlocks a record read from disk (key_file.h).
KeyFileError unlock_record(const Record& r, std::string_view passphrase, StorageKey& out,
                           std::string* detail) {
  auto corrupt = [&](const char* why) {
    if (detail) *detail = why;
    return KeyFileError::kCorrupt;
  };
  if (std::memcmp(r.data() + kMagicAt, kMagic, sizeof kMagic) != 0) {
    return corrupt("not an xmppd key file (bad magic)");
  }
  std::uint8_t sum[kChecksumSize];
  checksum(r, sum);
  if (sodium_memcmp(sum, r.data() + kChecksumAt, kChecksumSize) != 0) {
    return corrupt("checksum mismatch");
  }
  if (r[kVersionAt] != kVersion) return corrupt("unsupported key file version");
  if (r[kReservedAt] != 0 || r[kReservedAt + 1] != 0) return corrupt("reserved octets not zero");
  if (r[kKindAt] == kKindPlain) {
    std::memcpy(out.data(), r.data() + kBoxAt, StorageKey::kSize);
    return KeyFileError::kOk;
  }
  if (r[kKindAt] != kKindSealed) return corrupt("unknown key file kind");
  const std::uint64_t ops = get_u64(r.data() + kOpsAt);
  const std::uint64_t mem = get_u64(r.data() + kMemAt);
  if (!params_in_range(ops, mem)) return corrupt("Argon2id parameters out of range");
  if (passphrase.empty()) {
    if (detail) *detail = "the key file is sealed with a passphrase";
    return KeyFileError::kNeedPassphrase;
  }
  std::uint8_t seal_key[crypto_secretbox_KEYBYTES];
  if (!derive(passphrase, r.data() + kSaltAt, ops, mem, seal_key)) {
    sodium_memzero(seal_key, sizeof seal_key);
    if (detail) *detail = "Argon2id could not allocate its memory";
    return KeyFileError::kIo;
  }
  StorageKey key;
  const int rc = crypto_secretbox_open_easy(key.data(), r.data() + kBoxAt, kBoxSize,
                                            r.data() + kNonceAt, seal_key);
  sodium_memzero(seal_key, sizeof seal_key);
  if (rc != 0) {
    if (detail) *detail = "the passphrase does not unlock the key file";
    return KeyFileError::kWrongPassphrase;
  }
  out = key;
  return KeyFileError::kOk;
}

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Writes |r| to a new owner-only temporary sibling of |path| and fsync()s
// it; |tmp| receives its name. The name carries random hex so two writers
// never share one, and O_EXCL refuses a planted file or symlink.
KeyFileError write_temporary(const std::string& path, const Record& r, std::string& tmp) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::uint8_t rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    char hex[2 * sizeof rnd + 1];
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    tmp = path + ".tmp-" + hex;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      return KeyFileError::kIo;
    }
    // The umask can only clear bits, but a file system mounted with odd
    // defaults could add some: insist on 0600.
    const bool ok =
        ::fchmod(fd, 0600) == 0 && write_all(fd, r.data(), r.size()) && ::fsync(fd) == 0;
    const bool closed = ::close(fd) == 0;
    if (!ok || !closed) {
      ::unlink(tmp.c_str());
      return KeyFileError::kIo;
    }
    return KeyFileError::kOk;
  }
  return KeyFileError::kIo;
}

}  // namespace

std::string_view key_file_error_name(KeyFileError error) {
  switch (error) {
    case KeyFileError::kOk:
      return "ok";
#define XD_X(e, n, m)   \
  case KeyFileError::e: \
    return n;
      XD_KEY_FILE_ERRORS(XD_X)
#undef XD_X
    case KeyFileError::kFirst_:
    case KeyFileError::kLast_:
      break;
  }
  return "unknown";
}

std::string_view key_file_error_message(KeyFileError error) {
  switch (error) {
    case KeyFileError::kOk:
      return "success";
#define XD_X(e, n, m)   \
  case KeyFileError::e: \
    return m;
      XD_KEY_FILE_ERRORS(XD_X)
#undef XD_X
    case KeyFileError::kFirst_:
    case KeyFileError::kLast_:
      break;
  }
  return "unknown key file error";
}

bool key_file_error_is_fatal(KeyFileError error) {
  return static_cast<int>(error) >= static_cast<int>(KeyFileError::kIo);
}

KeyFileError create_key_file(const std::string& path, std::string_view passphrase, StorageKey& out,
                             const KeyFileParams& params) {
  if (sodium_init() < 0) return KeyFileError::kIo;
  std::uint64_t ops = 0;
  std::uint64_t mem = 0;
  if (!resolve_params(params, ops, mem)) return KeyFileError::kInvalid;
  // Checked early so an existing file costs no Argon2id run; link() below is
  // the check that counts.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return KeyFileError::kExists;
  const std::string dir = parent_directory(path);
  if (make_private_directories(dir) != 0) return KeyFileError::kIo;

  StorageKey key;
  randombytes_buf(key.data(), StorageKey::kSize);
  WipedRecord r;
  if (const auto rc = build_record(key, passphrase, ops, mem, r.bytes); rc != KeyFileError::kOk) {
    return rc;
  }
  std::string tmp;
  if (const auto rc = write_temporary(path, r.bytes, tmp); rc != KeyFileError::kOk) return rc;
  // link() never replaces an existing name, unlike rename().
  const int linked = ::link(tmp.c_str(), path.c_str()) == 0 ? 0 : errno;
  ::unlink(tmp.c_str());
  if (linked == EEXIST) return KeyFileError::kExists;
  if (linked != 0) return KeyFileError::kIo;
  if (sync_directory(dir) != 0) return KeyFileError::kIo;
  out = key;
  return KeyFileError::kOk;
}

KeyFileError open_key_file(const std::string& path, std::string_view passphrase, StorageKey& out,
                           std::string* detail) {
  if (sodium_init() < 0) return KeyFileError::kIo;
  WipedRecord r;
  if (const auto rc = read_record(path, r.bytes, detail); rc != KeyFileError::kOk) return rc;
  return unlock_record(r.bytes, passphrase, out, detail);
}

KeyFileError change_passphrase(const std::string& path, std::string_view old_passphrase,
                               std::string_view new_passphrase, const KeyFileParams& params) {
  if (sodium_init() < 0) return KeyFileError::kIo;
  std::uint64_t ops = 0;
  std::uint64_t mem = 0;
  if (!resolve_params(params, ops, mem)) return KeyFileError::kInvalid;
  StorageKey key;
  if (const auto rc = open_key_file(path, old_passphrase, key); rc != KeyFileError::kOk) {
    return rc;
  }
  WipedRecord r;
  if (const auto rc = build_record(key, new_passphrase, ops, mem, r.bytes);
      rc != KeyFileError::kOk) {
    return rc;
  }
  std::string tmp;
  if (const auto rc = write_temporary(path, r.bytes, tmp); rc != KeyFileError::kOk) return rc;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return KeyFileError::kIo;
  }
  if (sync_directory(parent_directory(path)) != 0) return KeyFileError::kIo;
  return KeyFileError::kOk;
}

}  // namespace xd::client
