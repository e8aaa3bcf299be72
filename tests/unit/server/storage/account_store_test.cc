// make_account and account validation (server/storage/account_store.h):
// the password is prepared with OpaqueString (RFC 8265 §4.2) and only SCRAM
// keys are kept (RFC 5802 §3); both hashes share one salt (catalogue 37).
#include "server/storage/account_store.h"

#include <doctest/doctest.h>

#include <string>

#include "protocol/jid/precis.h"
#include "protocol/sasl/plain.h"

namespace xd::server {

inline doctest::String toString(StorageError e) {
  return doctest::String(storage_error_name(e).data(),
                         static_cast<unsigned>(storage_error_name(e).size()));
}

namespace {

using xd::protocol::ScramHash;

// A counter "RNG": deterministic, and it records how it was called.
struct CountingRandom {
  int calls = 0;
  size_t bytes = 0;
  void operator()(uint8_t* out, size_t n) {
    ++calls;
    bytes += n;
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(0xA0 + i);
  }
};

bool verifies(const xd::protocol::ScramCredentials& c, std::string_view password) {
  std::string prepared;
  REQUIRE(xd::protocol::opaque_string(password, prepared) == xd::protocol::PrecisError::kOk);
  return xd::protocol::plain_verify(c, prepared);
}

TEST_SUITE("storage.account") {
  TEST_CASE("make_account derives SCRAM-SHA-1 and -256 keys that verify the password") {
    CountingRandom rng;
    StoredAccount a;
    REQUIRE(make_account("alice", "correct horse", std::ref(rng), 1700000000, a) ==
            StorageError::kOk);
    CHECK(rng.calls == 1);
    CHECK(rng.bytes == xd::protocol::kScramSaltBytes);
    CHECK(a.username == "alice");
    CHECK(a.created_unix == 1700000000);
    CHECK(a.sha1.hash == ScramHash::kSha1);
    CHECK(a.sha256.hash == ScramHash::kSha256);
    // One salt, from the caller's RNG, shared by both hashes.
    CHECK(a.sha1.salt.size() == xd::protocol::kScramSaltBytes);
    CHECK(a.sha1.salt == a.sha256.salt);
    CHECK(static_cast<uint8_t>(a.sha1.salt[0]) == 0xA0);
    CHECK(a.sha1.iterations == xd::protocol::kScramDefaultIterations);
    CHECK(a.sha256.iterations == xd::protocol::kScramDefaultIterations);
    CHECK(a.sha1.stored_key.size() == 20);
    CHECK(a.sha256.stored_key.size() == 32);
    CHECK(validate_stored_account(a) == StorageError::kOk);

    CHECK(verifies(a.sha1, "correct horse"));
    CHECK(verifies(a.sha256, "correct horse"));
    CHECK_FALSE(verifies(a.sha1, "correct horsf"));
    CHECK_FALSE(verifies(a.sha256, "Correct horse"));
    CHECK_FALSE(verifies(a.sha256, "correct horse "));

    // The password itself is nowhere in the record.
    for (const std::string* f : {&a.sha1.salt, &a.sha1.stored_key, &a.sha1.server_key,
                                 &a.sha256.salt, &a.sha256.stored_key, &a.sha256.server_key}) {
      CHECK(f->find("correct") == std::string::npos);
    }
  }

  TEST_CASE("the password is prepared with OpaqueString before hashing") {
    CountingRandom rng;
    StoredAccount a;
    // U+00A0 NO-BREAK SPACE maps to U+0020 (RFC 8265 §4.2.1).
    REQUIRE(make_account("bob", "pass\xC2\xA0word", std::ref(rng), 1, a) == StorageError::kOk);
    CHECK(xd::protocol::plain_verify(a.sha256, "pass word"));
    CHECK(verifies(a.sha256, "pass\xC2\xA0word"));
  }

  TEST_CASE("passwords OpaqueString refuses are kInvalid and leave |out| alone") {
    CountingRandom rng;
    StoredAccount a;
    a.username = "sentinel";
    CHECK(make_account("alice", "", std::ref(rng), 1, a) == StorageError::kInvalid);
    CHECK(make_account("alice", "bell\x07", std::ref(rng), 1, a) == StorageError::kInvalid);
    CHECK(make_account("alice", "bad\xFFutf8", std::ref(rng), 1, a) == StorageError::kInvalid);
    CHECK(make_account("alice", std::string("nul\0inside", 10), std::ref(rng), 1, a) ==
          StorageError::kInvalid);
    CHECK(a.username == "sentinel");
    CHECK(a.sha1.stored_key.empty());
  }

  TEST_CASE("usernames that are not enforced localparts are kInvalid") {
    CountingRandom rng;
    StoredAccount a;
    a.username = "sentinel";
    CHECK(make_account("", "pw", std::ref(rng), 1, a) == StorageError::kInvalid);
    // Enforcing again would change it: the caller skipped PRECIS.
    CHECK(make_account("Alice", "pw", std::ref(rng), 1, a) == StorageError::kInvalid);
    // RFC 7622 §3.3.1 forbidden characters.
    CHECK(make_account("a@b", "pw", std::ref(rng), 1, a) == StorageError::kInvalid);
    CHECK(make_account("a/b", "pw", std::ref(rng), 1, a) == StorageError::kInvalid);
    CHECK(make_account(std::string(1024, 'a'), "pw", std::ref(rng), 1, a) ==
          StorageError::kInvalid);
    CHECK(rng.calls == 0);
    CHECK(a.username == "sentinel");
    // The longest localpart is fine.
    CHECK(make_account(std::string(1023, 'a'), "pw", std::ref(rng), 1, a) == StorageError::kOk);
  }

  TEST_CASE("make_account without a time reads the wall clock") {
    CountingRandom rng;
    StoredAccount a;
    REQUIRE(make_account("carol", "pw", std::ref(rng), a) == StorageError::kOk);
    CHECK(a.created_unix > 0);
  }

  TEST_CASE("validate_stored_account refuses unusable records") {
    CountingRandom rng;
    StoredAccount good;
    REQUIRE(make_account("dave", "pw", std::ref(rng), 5, good) == StorageError::kOk);
    REQUIRE(validate_stored_account(good) == StorageError::kOk);

    auto refused = [&](auto mutate) {
      StoredAccount a = good;
      mutate(a);
      return validate_stored_account(a) == StorageError::kInvalid;
    };
    CHECK(refused([](StoredAccount& a) { a.username.clear(); }));
    CHECK(refused([](StoredAccount& a) { a.username = std::string("a\0b", 3); }));
    CHECK(refused([](StoredAccount& a) { a.username = "a\xFF"; }));
    CHECK(refused([](StoredAccount& a) { a.username = std::string(1024, 'x'); }));
    CHECK(refused([](StoredAccount& a) { a.sha1.hash = ScramHash::kSha256; }));
    CHECK(refused([](StoredAccount& a) { a.sha256.hash = ScramHash::kSha1; }));
    CHECK(refused([](StoredAccount& a) { a.sha1.salt.clear(); }));
    CHECK(refused([](StoredAccount& a) { a.sha256.salt = std::string(kMaxSaltBytes + 1, 's'); }));
    CHECK(refused([](StoredAccount& a) { a.sha1.iterations = 0; }));
    CHECK(refused([](StoredAccount& a) { a.sha1.stored_key.pop_back(); }));
    CHECK(refused([](StoredAccount& a) { a.sha256.server_key += "x"; }));
  }
}

}  // namespace
}  // namespace xd::server
