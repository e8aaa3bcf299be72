// The key file (client/store/key_file.h) against real files in a temp dir:
// modes 0600/0700, refusing a file others can read, sealed files with the
// right and wrong passphrase, damaged files, and changing the passphrase
// without changing the key.
#include "client/store/key_file.h"

#include <doctest/doctest.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace xd::client {

inline doctest::String toString(KeyFileError e) {
  return doctest::String(key_file_error_name(e).data(),
                         static_cast<unsigned>(key_file_error_name(e).size()));
}

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/xd_keyfile_XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The cheapest Argon2id cost libsodium accepts, so the tests stay fast;
// one test below uses the default (INTERACTIVE) cost.
const KeyFileParams kFast{crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN};

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Recomputes the trailing BLAKE2b-128 checksum, so a test can change a
// field and reach the checks behind the checksum.
void fix_checksum(std::string& bytes) {
  REQUIRE(bytes.size() == kKeyFileSize);
  crypto_generichash(reinterpret_cast<unsigned char*>(bytes.data()) + 116, 16,
                     reinterpret_cast<const unsigned char*>(bytes.data()), 116, nullptr, 0);
}

bool no_temporaries_left(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("key_file: a plain key file is created 0600 in a new 0700 directory and reopens") {
  REQUIRE(sodium_init() >= 0);
  TempDir tmp;
  const std::string dir = tmp.path + "/a/b";
  const std::string path = dir + "/account.key";
  StorageKey created;
  REQUIRE(create_key_file(path, "", created) == KeyFileError::kOk);
  CHECK(mode_of(tmp.path + "/a") == 0700);
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(path) == 0600);
  CHECK(read_file(path).size() == kKeyFileSize);
  CHECK(read_file(path).substr(0, 8) == "XDSTKEY\n");
  CHECK(no_temporaries_left(dir));
  CHECK_FALSE(created.equals(StorageKey{}));

  StorageKey opened;
  CHECK(open_key_file(path, "", opened) == KeyFileError::kOk);
  CHECK(opened.equals(created));
  // A passphrase given for a plain file does not matter.
  StorageKey again;
  CHECK(open_key_file(path, "anything", again) == KeyFileError::kOk);
  CHECK(again.equals(created));
}

TEST_CASE("key_file: create refuses an existing file and leaves it untouched") {
  TempDir tmp;
  const std::string path = tmp.path + "/account.key";
  StorageKey first;
  REQUIRE(create_key_file(path, "", first) == KeyFileError::kOk);
  const std::string before = read_file(path);
  StorageKey second;
  CHECK(create_key_file(path, "", second) == KeyFileError::kExists);
  CHECK(create_key_file(path, "pw", second, kFast) == KeyFileError::kExists);
  CHECK(read_file(path) == before);
  CHECK(second.equals(StorageKey{}));  // untouched on failure

  // Two accounts get different keys.
  StorageKey other;
  REQUIRE(create_key_file(tmp.path + "/other.key", "", other) == KeyFileError::kOk);
  CHECK_FALSE(other.equals(first));
}

TEST_CASE("key_file: a file group or others may access is refused with a clear reason") {
  TempDir tmp;
  const std::string path = tmp.path + "/account.key";
  StorageKey key;
  REQUIRE(create_key_file(path, "", key) == KeyFileError::kOk);
  for (const unsigned mode : {0644u, 0604u, 0640u, 0620u, 0602u, 0666u}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    StorageKey out;
    std::string detail;
    CHECK(open_key_file(path, "", out, &detail) == KeyFileError::kPermissions);
    CHECK(detail.find("chmod 600") != std::string::npos);
    CHECK(out.equals(StorageKey{}));
  }
  CHECK(std::string(key_file_error_message(KeyFileError::kPermissions)).find("chmod 600") !=
        std::string::npos);
  REQUIRE(::chmod(path.c_str(), 0400) == 0);  // read-only for the owner is fine
  StorageKey out;
  CHECK(open_key_file(path, "", out) == KeyFileError::kOk);
  CHECK(out.equals(key));
}

TEST_CASE("key_file: missing file and a directory in its place") {
  TempDir tmp;
  StorageKey out;
  CHECK(open_key_file(tmp.path + "/absent.key", "", out) == KeyFileError::kNotFound);
  CHECK(open_key_file(tmp.path + "/no/such/dir.key", "", out) == KeyFileError::kNotFound);
  REQUIRE(::mkdir((tmp.path + "/d").c_str(), 0700) == 0);
  CHECK(open_key_file(tmp.path + "/d", "", out) == KeyFileError::kPermissions);
}

TEST_CASE("key_file: sealed with a passphrase: right, wrong and missing passphrase") {
  TempDir tmp;
  const std::string path = tmp.path + "/account.key";
  StorageKey created;
  REQUIRE(create_key_file(path, "correct horse", created, kFast) == KeyFileError::kOk);
  CHECK(mode_of(path) == 0600);
  const std::string bytes = read_file(path);
  REQUIRE(bytes.size() == kKeyFileSize);
  CHECK(bytes[9] == 1);
  // The key itself is not in the file.
  CHECK(bytes.find(std::string(reinterpret_cast<const char*>(created.data()), 32)) ==
        std::string::npos);

  StorageKey out;
  CHECK(open_key_file(path, "correct horse", out) == KeyFileError::kOk);
  CHECK(out.equals(created));
  StorageKey wrong;
  CHECK(open_key_file(path, "correct horsf", wrong) == KeyFileError::kWrongPassphrase);
  CHECK(wrong.equals(StorageKey{}));
  CHECK(open_key_file(path, "", wrong) == KeyFileError::kNeedPassphrase);
}

TEST_CASE("key_file: the default Argon2id cost (INTERACTIVE) round-trips") {
  TempDir tmp;
  const std::string path = tmp.path + "/account.key";
  StorageKey created;
  REQUIRE(create_key_file(path, "pw", created) == KeyFileError::kOk);
  const std::string bytes = read_file(path);
  auto u64 = [&](std::size_t at) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(bytes[at + i]);
    return v;
  };
  CHECK(u64(28) == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
  CHECK(u64(36) == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
  StorageKey out;
  CHECK(open_key_file(path, "pw", out) == KeyFileError::kOk);
  CHECK(out.equals(created));
}

TEST_CASE("key_file: Argon2id parameters out of range are refused when creating") {
  TempDir tmp;
  StorageKey out;
  CHECK(create_key_file(tmp.path + "/k", "pw", out, KeyFileParams{1000, 0}) ==
        KeyFileError::kInvalid);
  CHECK(create_key_file(tmp.path + "/k", "pw", out,
                        KeyFileParams{0, KeyFileParams::kMaxMemlimit * 2}) ==
        KeyFileError::kInvalid);
  CHECK(create_key_file(tmp.path + "/k", "pw", out, KeyFileParams{0, 1024}) ==
        KeyFileError::kInvalid);
  CHECK_FALSE(std::filesystem::exists(tmp.path + "/k"));
}

TEST_CASE("key_file: damaged files are reported as corrupt") {
  TempDir tmp;
  const std::string path = tmp.path + "/account.key";
  StorageKey key;
  REQUIRE(create_key_file(path, "pw", key, kFast) == KeyFileError::kOk);
  const std::string good = read_file(path);

  auto open_bytes = [&](const std::string& bytes, std::string_view passphrase = "pw") {
    write_file(path, bytes);
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    StorageKey out;
    return open_key_file(path, passphrase, out);
  };

  CHECK(open_bytes("") == KeyFileError::kCorrupt);
  CHECK(open_bytes(good.substr(0, kKeyFileSize - 1)) == KeyFileError::kCorrupt);
  CHECK(open_bytes(good + "x") == KeyFileError::kCorrupt);
  for (const std::size_t at : {0u, 8u, 9u, 20u, 30u, 50u, 70u, 100u, 120u, 131u}) {
    CAPTURE(at);
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x01);
    CHECK(open_bytes(flipped) == KeyFileError::kCorrupt);  // checksum or magic
  }
  {
    // Past the checksum: an unknown version, kind or reserved octet.
    std::string v = good;
    v[8] = 2;
    fix_checksum(v);
    CHECK(open_bytes(v) == KeyFileError::kCorrupt);
    std::string k = good;
    k[9] = 7;
    fix_checksum(k);
    CHECK(open_bytes(k) == KeyFileError::kCorrupt);
    std::string r = good;
    r[11] = 1;
    fix_checksum(r);
    CHECK(open_bytes(r) == KeyFileError::kCorrupt);
  }
  {
    // A memlimit that would exhaust memory is refused before Argon2id runs.
    std::string m = good;
    m[36] = 0x10;
    fix_checksum(m);
    CHECK(open_bytes(m) == KeyFileError::kCorrupt);
  }
  {
    // A deliberate change to the sealed box with a recomputed checksum is
    // caught by the MAC: it reads as a wrong passphrase, never a wrong key.
    std::string t = good;
    t[80] = static_cast<char>(t[80] ^ 0x01);
    fix_checksum(t);
    CHECK(open_bytes(t) == KeyFileError::kWrongPassphrase);
  }
  CHECK(open_bytes(good) == KeyFileError::kOk);
}

TEST_CASE("key_file: change_passphrase keeps the key and the mode") {
  TempDir tmp;
  const std::string path = tmp.path + "/account.key";
  StorageKey key;
  REQUIRE(create_key_file(path, "", key) == KeyFileError::kOk);

  // plain -> sealed
  REQUIRE(change_passphrase(path, "", "first", kFast) == KeyFileError::kOk);
  CHECK(mode_of(path) == 0600);
  CHECK(no_temporaries_left(tmp.path));
  StorageKey out;
  CHECK(open_key_file(path, "", out) == KeyFileError::kNeedPassphrase);
  CHECK(open_key_file(path, "first", out) == KeyFileError::kOk);
  CHECK(out.equals(key));

  // sealed -> sealed; a wrong old passphrase changes nothing.
  const std::string before = read_file(path);
  CHECK(change_passphrase(path, "wrong", "second", kFast) == KeyFileError::kWrongPassphrase);
  CHECK(change_passphrase(path, "", "second", kFast) == KeyFileError::kNeedPassphrase);
  CHECK(read_file(path) == before);
  REQUIRE(change_passphrase(path, "first", "second", kFast) == KeyFileError::kOk);
  CHECK(open_key_file(path, "first", out) == KeyFileError::kWrongPassphrase);
  StorageKey out2;
  CHECK(open_key_file(path, "second", out2) == KeyFileError::kOk);
  CHECK(out2.equals(key));
  // Fresh salt and nonce every time.
  CHECK(read_file(path).substr(12, 56) != before.substr(12, 56));

  // sealed -> plain
  REQUIRE(change_passphrase(path, "second", "") == KeyFileError::kOk);
  StorageKey out3;
  CHECK(open_key_file(path, "", out3) == KeyFileError::kOk);
  CHECK(out3.equals(key));
  CHECK(mode_of(path) == 0600);
  CHECK(no_temporaries_left(tmp.path));

  CHECK(change_passphrase(tmp.path + "/absent", "", "x", kFast) == KeyFileError::kNotFound);
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  CHECK(change_passphrase(path, "", "x", kFast) == KeyFileError::kPermissions);
}

TEST_CASE("key_file: error names and the fatal threshold") {
  CHECK(key_file_error_name(KeyFileError::kOk) == "ok");
  CHECK(key_file_error_name(KeyFileError::kWrongPassphrase) == "wrong-passphrase");
  CHECK(key_file_error_name(static_cast<KeyFileError>(12345)) == "unknown");
  CHECK(static_cast<int>(KeyFileError::kNotFound) == 900);
  CHECK(key_file_error_is_fatal(KeyFileError::kIo));
  CHECK_FALSE(key_file_error_is_fatal(KeyFileError::kCorrupt));
  CHECK_FALSE(key_file_error_is_fatal(KeyFileError::kOk));
}

TEST_CASE("storage_key: copies compare equal and wipe() zeroes") {
  StorageKey a;
  randombytes_buf(a.data(), a.size());
  StorageKey b = a;
  CHECK(b.equals(a));
  b.wipe();
  CHECK(b.equals(StorageKey{}));
  CHECK_FALSE(a.equals(b));
}

}  // namespace xd::client
