// The behaviour every AccountStore / RosterStore backend must share
// (server/storage/account_store.h, roster_store.h), run against the memory
// backend and the LMDB backend (real files in a temporary directory).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/storage/account_store.h"
#include "server/storage/lmdb/lmdb_account_store.h"
#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/lmdb/lmdb_roster_store.h"
#include "server/storage/memory_account_store.h"
#include "server/storage/memory_roster_store.h"
#include "server/storage/roster_store.h"

namespace xd::server {

inline doctest::String toString(StorageError e) {
  return doctest::String(storage_error_name(e).data(),
                         static_cast<unsigned>(storage_error_name(e).size()));
}

namespace {

using xd::protocol::ScramHash;
using Sub = RosterItem::Subscription;

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/xd_store_XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct MemoryBackend {
  static constexpr const char* kName = "memory";
  MemoryRosterStore roster_store;
  MemoryAccountStore account_store{roster_store};
  AccountStore& accounts() { return account_store; }
  RosterStore& rosters() { return roster_store; }
};

struct LmdbBackend {
  static constexpr const char* kName = "lmdb";
  TempDir dir;
  std::unique_ptr<LmdbEnv> env;
  std::unique_ptr<LmdbAccountStore> account_store;
  std::unique_ptr<LmdbRosterStore> roster_store;
  LmdbBackend() {
    std::string error;
    LmdbOptions options;
    options.path = dir.path + "/data";
    env = LmdbEnv::open(options, error);
    REQUIRE_MESSAGE(env != nullptr, error);
    REQUIRE(LmdbAccountStore::open(*env, account_store) == StorageError::kOk);
    REQUIRE(LmdbRosterStore::open(*env, roster_store) == StorageError::kOk);
  }
  AccountStore& accounts() { return *account_store; }
  RosterStore& rosters() { return *roster_store; }
};

// Valid credentials without PBKDF2, so the suite stays fast; |tag| makes
// the keys of different accounts differ.
StoredAccount account(std::string name, char tag = 'k', uint64_t created = 1000) {
  StoredAccount a;
  a.username = std::move(name);
  a.created_unix = created;
  a.sha1.hash = ScramHash::kSha1;
  a.sha1.salt = std::string(16, 's');
  a.sha1.iterations = 4096;
  a.sha1.stored_key = std::string(20, tag);
  a.sha1.server_key = std::string(20, static_cast<char>(tag + 1));
  a.sha256 = a.sha1;
  a.sha256.hash = ScramHash::kSha256;
  a.sha256.stored_key = std::string(32, tag);
  a.sha256.server_key = std::string(32, static_cast<char>(tag + 1));
  return a;
}

RosterItem item(std::string jid, Sub sub = Sub::kNone, std::vector<std::string> groups = {}) {
  RosterItem i;
  i.jid = std::move(jid);
  i.subscription = sub;
  i.groups = std::move(groups);
  return i;
}

std::vector<std::string> jids(std::vector<RosterItem> items) {
  std::vector<std::string> out;
  for (const RosterItem& i : items) out.push_back(i.jid);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t version_of(RosterStore& r, std::string_view user) {
  uint64_t v = 12345;
  REQUIRE(r.version(user, v) == StorageError::kOk);
  return v;
}

TEST_SUITE("storage.behaviour") {
  TEST_CASE_TEMPLATE("accounts: create, get, exists, update, remove, list, count", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    AccountStore& s = b.accounts();
    CHECK(s.count() == 0);
    std::vector<std::string> names{"stale"};
    CHECK(s.list(names) == StorageError::kOk);
    CHECK(names.empty());

    StoredAccount out;
    CHECK(s.get("alice", out) == StorageError::kNotFound);
    REQUIRE(s.create(account("alice", 'a', 111)) == StorageError::kOk);
    REQUIRE(s.create(account("bob", 'b')) == StorageError::kOk);
    CHECK(s.create(account("alice", 'z')) == StorageError::kExists);
    CHECK(s.count() == 2);

    REQUIRE(s.get("alice", out) == StorageError::kOk);
    CHECK(out.username == "alice");
    CHECK(out.created_unix == 111);
    CHECK(out.sha1.stored_key == std::string(20, 'a'));  // the kExists create changed nothing
    CHECK(out.sha256.server_key == std::string(32, 'b'));
    CHECK(out.sha256.hash == ScramHash::kSha256);
    CHECK(out.sha1.salt == std::string(16, 's'));
    CHECK(out.sha1.iterations == 4096);
    // Lookups are exact: no case folding here (the caller enforced PRECIS).
    CHECK(s.get("Alice", out) == StorageError::kNotFound);
    CHECK(s.get("alic", out) == StorageError::kNotFound);

    // update_credentials replaces the keys and keeps the creation time.
    REQUIRE(s.update_credentials(account("alice", 'n', 999)) == StorageError::kOk);
    REQUIRE(s.get("alice", out) == StorageError::kOk);
    CHECK(out.sha1.stored_key == std::string(20, 'n'));
    CHECK(out.sha256.stored_key == std::string(32, 'n'));
    CHECK(out.created_unix == 111);
    CHECK(s.update_credentials(account("nobody")) == StorageError::kNotFound);

    REQUIRE(s.create(account("carol")) == StorageError::kOk);
    REQUIRE(s.list(names) == StorageError::kOk);
    CHECK(names == std::vector<std::string>{"alice", "bob", "carol"});

    REQUIRE(s.remove("bob") == StorageError::kOk);
    CHECK(s.remove("bob") == StorageError::kNotFound);
    CHECK(s.get("bob", out) == StorageError::kNotFound);
    CHECK(s.count() == 2);
    REQUIRE(s.list(names) == StorageError::kOk);
    CHECK(names == std::vector<std::string>{"alice", "carol"});
    // A removed name can be registered again.
    CHECK(s.create(account("bob", 'c')) == StorageError::kOk);
  }

  TEST_CASE_TEMPLATE("accounts: invalid records are refused, impossible names are not found", B,
                     MemoryBackend, LmdbBackend) {
    B b;
    AccountStore& s = b.accounts();
    StoredAccount bad = account("eve");
    bad.sha1.stored_key.pop_back();
    CHECK(s.create(bad) == StorageError::kInvalid);
    CHECK(s.create(account("")) == StorageError::kInvalid);
    CHECK(s.create(account(std::string("a\0b", 3))) == StorageError::kInvalid);
    CHECK(s.create(account(std::string(1024, 'x'))) == StorageError::kInvalid);
    REQUIRE(s.create(account("eve")) == StorageError::kOk);
    CHECK(s.update_credentials(bad) == StorageError::kInvalid);
    CHECK(s.count() == 1);
    StoredAccount out;
    CHECK(s.get("", out) == StorageError::kNotFound);
    CHECK(s.get(std::string(5000, 'x'), out) == StorageError::kNotFound);
    CHECK(s.remove("") == StorageError::kNotFound);
  }

  TEST_CASE_TEMPLATE("accounts: the longest localparts work (hashed LMDB keys)", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    AccountStore& s = b.accounts();
    std::string long1(1023, 'x');
    std::string long2 = std::string(1022, 'x') + "y";
    REQUIRE(s.create(account(long1, 'a')) == StorageError::kOk);
    REQUIRE(s.create(account(long2, 'b')) == StorageError::kOk);
    StoredAccount out;
    REQUIRE(s.get(long2, out) == StorageError::kOk);
    CHECK(out.username == long2);
    CHECK(out.sha1.stored_key == std::string(20, 'b'));
    std::vector<std::string> names;
    REQUIRE(s.list(names) == StorageError::kOk);
    CHECK(names == std::vector<std::string>{long1, long2});
    RosterStore& r = b.rosters();
    std::string contact = std::string(1023, 'c') + "@" + std::string(1023, 'd');
    REQUIRE(r.put(long1, item(contact, Sub::kBoth)) == StorageError::kOk);
    RosterItem got;
    REQUIRE(r.get(long1, contact, got) == StorageError::kOk);
    CHECK(got.jid == contact);
    std::vector<RosterItem> all;
    REQUIRE(r.get_all(long2, all) == StorageError::kOk);
    CHECK(all.empty());
    REQUIRE(s.remove(long1) == StorageError::kOk);
    REQUIRE(r.get_all(long1, all) == StorageError::kOk);
    CHECK(all.empty());
  }

  TEST_CASE_TEMPLATE("roster: put, get, replace, get_all, remove", B, MemoryBackend, LmdbBackend) {
    B b;
    RosterStore& r = b.rosters();
    std::vector<RosterItem> all{item("stale@x")};
    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(all.empty());
    RosterItem got;
    CHECK(r.get("alice", "bob@example.com", got) == StorageError::kNotFound);

    RosterItem bob = item("bob@example.com", Sub::kTo, {"Friends", "Work"});
    bob.name = "Bobby";
    bob.ask_subscribe = true;
    REQUIRE(r.put("alice", bob) == StorageError::kOk);
    RosterItem carol = item("carol@example.org", Sub::kFrom);
    carol.pending_in = true;
    REQUIRE(r.put("alice", carol) == StorageError::kOk);

    REQUIRE(r.get("alice", "bob@example.com", got) == StorageError::kOk);
    CHECK(got.jid == "bob@example.com");
    CHECK(got.name == "Bobby");
    CHECK(got.subscription == Sub::kTo);
    CHECK(got.ask_subscribe);
    CHECK_FALSE(got.pending_in);
    CHECK(got.groups == std::vector<std::string>{"Friends", "Work"});
    REQUIRE(r.get("alice", "carol@example.org", got) == StorageError::kOk);
    CHECK(got.pending_in);
    CHECK(got.subscription == Sub::kFrom);
    CHECK(got.groups.empty());

    // Replace: same key, new contents.
    bob.subscription = Sub::kBoth;
    bob.ask_subscribe = false;
    bob.groups = {"Family"};
    bob.name.clear();
    REQUIRE(r.put("alice", bob) == StorageError::kOk);
    REQUIRE(r.get("alice", "bob@example.com", got) == StorageError::kOk);
    CHECK(got.subscription == Sub::kBoth);
    CHECK_FALSE(got.ask_subscribe);
    CHECK(got.name.empty());
    CHECK(got.groups == std::vector<std::string>{"Family"});

    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(jids(all) == std::vector<std::string>{"bob@example.com", "carol@example.org"});

    REQUIRE(r.remove("alice", "bob@example.com") == StorageError::kOk);
    CHECK(r.remove("alice", "bob@example.com") == StorageError::kNotFound);
    CHECK(r.get("alice", "bob@example.com", got) == StorageError::kNotFound);
    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(jids(all) == std::vector<std::string>{"carol@example.org"});
  }

  TEST_CASE_TEMPLATE("roster: users are isolated, including 'a' versus 'ab'", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    RosterStore& r = b.rosters();
    // User "a" with contact "b..." and user "ab" with contact "..." would
    // collide under a key scheme without a terminated user part.
    REQUIRE(r.put("a", item("b@x")) == StorageError::kOk);
    REQUIRE(r.put("a", item("bc@x")) == StorageError::kOk);
    REQUIRE(r.put("ab", item("c@x")) == StorageError::kOk);
    REQUIRE(r.put("abc", item("d@x")) == StorageError::kOk);
    REQUIRE(r.put("b", item("a@x")) == StorageError::kOk);
    std::vector<RosterItem> all;
    REQUIRE(r.get_all("a", all) == StorageError::kOk);
    CHECK(jids(all) == std::vector<std::string>{"b@x", "bc@x"});
    REQUIRE(r.get_all("ab", all) == StorageError::kOk);
    CHECK(jids(all) == std::vector<std::string>{"c@x"});
    REQUIRE(r.get_all("abc", all) == StorageError::kOk);
    CHECK(jids(all) == std::vector<std::string>{"d@x"});
    RosterItem got;
    CHECK(r.get("ab", "b@x", got) == StorageError::kNotFound);
    CHECK(r.get("a", "c@x", got) == StorageError::kNotFound);
    CHECK(r.remove("ab", "bc@x") == StorageError::kNotFound);
    // Versions are per user too.
    CHECK(version_of(r, "a") == 2);
    CHECK(version_of(r, "ab") == 1);
    CHECK(version_of(r, "nobody") == 0);
  }

  TEST_CASE_TEMPLATE("roster: the version starts at 0 and bumps on every change only", B,
                     MemoryBackend, LmdbBackend) {
    B b;
    RosterStore& r = b.rosters();
    CHECK(version_of(r, "alice") == 0);
    REQUIRE(r.put("alice", item("bob@x")) == StorageError::kOk);
    CHECK(version_of(r, "alice") == 1);
    REQUIRE(r.put("alice", item("bob@x", Sub::kBoth)) == StorageError::kOk);  // replace
    CHECK(version_of(r, "alice") == 2);
    RosterItem got;
    std::vector<RosterItem> all;
    REQUIRE(r.get("alice", "bob@x", got) == StorageError::kOk);
    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(version_of(r, "alice") == 2);  // reads do not bump
    CHECK(r.remove("alice", "nobody@x") == StorageError::kNotFound);
    CHECK(version_of(r, "alice") == 2);  // a failed remove does not bump
    CHECK(r.put("alice", item("bad\xFFjid")) == StorageError::kInvalid);
    CHECK(version_of(r, "alice") == 2);  // nor does a refused put
    REQUIRE(r.remove("alice", "bob@x") == StorageError::kOk);
    CHECK(version_of(r, "alice") == 3);
    // Empty again, but the version does not go back (RFC 6121 §2.6).
    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(all.empty());
    CHECK(version_of(r, "alice") == 3);
  }

  TEST_CASE_TEMPLATE("roster: items that cannot be stored are kInvalid", B, MemoryBackend,
                     LmdbBackend) {
    B b;
    RosterStore& r = b.rosters();
    CHECK(r.put("alice", item("")) == StorageError::kInvalid);
    CHECK(r.put("alice", item(std::string("a\0b", 3))) == StorageError::kInvalid);
    CHECK(r.put("alice", item(std::string(kMaxContactBytes + 1, 'c'))) == StorageError::kInvalid);
    CHECK(r.put("alice", item("bob@x", Sub::kRemove)) == StorageError::kInvalid);
    CHECK(r.put("", item("bob@x")) == StorageError::kInvalid);
    CHECK(r.put(std::string("a\0", 2), item("bob@x")) == StorageError::kInvalid);
    std::vector<RosterItem> all;
    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(all.empty());
    REQUIRE(r.get_all("", all) == StorageError::kOk);
    CHECK(all.empty());
    RosterItem got;
    CHECK(r.get("alice", "", got) == StorageError::kNotFound);
    CHECK(r.remove("", "bob@x") == StorageError::kNotFound);
    CHECK(version_of(r, "") == 0);
  }

  TEST_CASE_TEMPLATE("removing an account removes its roster and bumps its version", B,
                     MemoryBackend, LmdbBackend) {
    B b;
    AccountStore& s = b.accounts();
    RosterStore& r = b.rosters();
    REQUIRE(s.create(account("alice")) == StorageError::kOk);
    REQUIRE(s.create(account("alicia")) == StorageError::kOk);
    REQUIRE(r.put("alice", item("bob@x")) == StorageError::kOk);
    REQUIRE(r.put("alice", item("carol@x")) == StorageError::kOk);
    REQUIRE(r.put("alicia", item("dave@x")) == StorageError::kOk);
    CHECK(version_of(r, "alice") == 2);

    REQUIRE(s.remove("alice") == StorageError::kOk);
    std::vector<RosterItem> all;
    REQUIRE(r.get_all("alice", all) == StorageError::kOk);
    CHECK(all.empty());
    RosterItem got;
    CHECK(r.get("alice", "bob@x", got) == StorageError::kNotFound);
    // A client caching version 2 of the old account must not be told its
    // cache is current for a re-created one.
    CHECK(version_of(r, "alice") == 3);
    // Other users keep theirs.
    REQUIRE(r.get_all("alicia", all) == StorageError::kOk);
    CHECK(jids(all) == std::vector<std::string>{"dave@x"});

    // Removing an account without roster items leaves the version alone.
    REQUIRE(s.create(account("erin")) == StorageError::kOk);
    REQUIRE(s.remove("erin") == StorageError::kOk);
    CHECK(version_of(r, "erin") == 0);
  }
}

}  // namespace
}  // namespace xd::server
