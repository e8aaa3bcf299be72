// The LMDB backend against real files (server/storage/lmdb/): restart
// durability, several processes on one directory, stale readers and a
// writer killed mid-transaction (catalogue 69), a full map (catalogue 70), a
// failed write latching kIo (catalogue 71), and corrupt records. Processes
// are real: fork() children open their own environment, as the admin CLI
// would, and report through their exit status.
#include "server/storage/lmdb/lmdb_env.h"

#include <doctest/doctest.h>
#include <lmdb.h>  // only to plant raw, corrupt records
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/storage/lmdb/lmdb_account_store.h"
#include "server/storage/lmdb/lmdb_roster_store.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {

inline doctest::String toString(StorageError e) {
  return doctest::String(storage_error_name(e).data(),
                         static_cast<unsigned>(storage_error_name(e).size()));
}

namespace {

using xd::protocol::ScramHash;

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/xd_lmdb_XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

StoredAccount account(std::string name, char tag = 'k') {
  StoredAccount a;
  a.username = std::move(name);
  a.created_unix = 42;
  a.sha1.hash = ScramHash::kSha1;
  a.sha1.salt = std::string(16, 's');
  a.sha1.iterations = 4096;
  a.sha1.stored_key = std::string(20, tag);
  a.sha1.server_key = std::string(20, tag);
  a.sha256 = a.sha1;
  a.sha256.hash = ScramHash::kSha256;
  a.sha256.stored_key = std::string(32, tag);
  a.sha256.server_key = std::string(32, tag);
  return a;
}

RosterItem item(std::string jid, std::string group = {}) {
  RosterItem i;
  i.jid = std::move(jid);
  i.subscription = RosterItem::Subscription::kBoth;
  if (!group.empty()) i.groups.push_back(std::move(group));
  return i;
}

// An open environment with both stores, as the server holds it. Members are
// destroyed in reverse order: stores before the environment.
struct Stores {
  std::unique_ptr<LmdbEnv> env;
  std::unique_ptr<LmdbAccountStore> accounts;
  std::unique_ptr<LmdbRosterStore> rosters;

  // Returns false instead of asserting, so forked children can use it.
  bool open(const LmdbOptions& options, std::string* error = nullptr) {
    std::string e;
    env = LmdbEnv::open(options, e);
    if (error) *error = e;
    return env && LmdbAccountStore::open(*env, accounts) == StorageError::kOk &&
           LmdbRosterStore::open(*env, rosters) == StorageError::kOk;
  }
  void close() {
    rosters.reset();
    accounts.reset();
    env.reset();
  }
};

LmdbOptions options_for(const std::string& path) {
  LmdbOptions o;
  o.path = path;
  return o;
}

// Runs |child| in a forked process and returns its exit status. The child
// never returns into doctest: it leaves with _exit, skipping every
// destructor and atexit handler it inherited.
template <typename F>
int run_child(F&& child) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(child());
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

// Writes |value| under |key| in sub-database |db| with plain LMDB calls,
// bypassing the record codec. The directory must not be open in this
// process (LmdbEnv refuses a second handle, and so should this).
void plant_raw(const std::string& dir, const char* db, std::string_view key,
               std::string_view value) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == 0);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

TEST_SUITE("storage.lmdb") {
  TEST_CASE("open creates the directory and owner-only files; bad paths fail with a reason") {
    TempDir tmp;
    const std::string dir = tmp.path + "/a/b/data";
    {
      Stores s;
      REQUIRE(s.open(options_for(dir)));
      CHECK(s.env->path() == dir);
      CHECK(s.env->map_size() == (size_t{1} << 30));  // the default
      CHECK(s.env->max_map_size() == (size_t{16} << 30));
      CHECK(s.env->stale_readers_cleared() == 0);
      CHECK_FALSE(s.env->failed());
    }
    struct stat st;
    REQUIRE(::stat(dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    REQUIRE(::stat((dir + "/data.mdb").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat((dir + "/lock.mdb").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    std::string error;
    CHECK(LmdbEnv::open(options_for(""), error) == nullptr);
    CHECK(!error.empty());
    error.clear();
    CHECK(LmdbEnv::open(options_for(dir + "/data.mdb"), error) == nullptr);
    CHECK(error.find("data.mdb") != std::string::npos);
    // A data file that is not an LMDB file is refused, not trusted.
    const std::string junk = tmp.path + "/junk";
    std::filesystem::create_directories(junk);
    {
      FILE* f = fopen((junk + "/data.mdb").c_str(), "wb");
      REQUIRE(f != nullptr);
      std::string garbage(8192, 'G');
      fwrite(garbage.data(), 1, garbage.size(), f);
      fclose(f);
    }
    error.clear();
    CHECK(LmdbEnv::open(options_for(junk), error) == nullptr);
    CHECK(!error.empty());
  }

  TEST_CASE("a directory is open at most once per process") {
    TempDir tmp;
    std::string error;
    auto first = LmdbEnv::open(options_for(tmp.path), error);
    REQUIRE(first != nullptr);
    // The same directory by another spelling is still the same directory.
    CHECK(LmdbEnv::open(options_for(tmp.path + "/."), error) == nullptr);
    CHECK(error.find("already open") != std::string::npos);
    first.reset();
    CHECK(LmdbEnv::open(options_for(tmp.path), error) != nullptr);
  }

  TEST_CASE("accounts, rosters and versions survive closing and reopening") {
    TempDir tmp;
    Stores s;
    REQUIRE(s.open(options_for(tmp.path)));
    REQUIRE(s.accounts->create(account("alice", 'a')) == StorageError::kOk);
    REQUIRE(s.accounts->create(account("bob", 'b')) == StorageError::kOk);
    RosterItem juliet = item("juliet@example.com", "Capulets");
    juliet.name = "J";
    juliet.pending_in = true;
    REQUIRE(s.rosters->put("alice", juliet) == StorageError::kOk);
    REQUIRE(s.rosters->put("alice", item("romeo@example.com")) == StorageError::kOk);
    REQUIRE(s.rosters->remove("alice", "romeo@example.com") == StorageError::kOk);
    s.close();

    REQUIRE(s.open(options_for(tmp.path)));
    CHECK(s.accounts->count() == 2);
    StoredAccount a;
    REQUIRE(s.accounts->get("alice", a) == StorageError::kOk);
    CHECK(a.sha256.stored_key == std::string(32, 'a'));
    CHECK(a.created_unix == 42);
    std::vector<RosterItem> all;
    REQUIRE(s.rosters->get_all("alice", all) == StorageError::kOk);
    REQUIRE(all.size() == 1);
    CHECK(all[0].jid == "juliet@example.com");
    CHECK(all[0].name == "J");
    CHECK(all[0].pending_in);
    CHECK(all[0].groups == std::vector<std::string>{"Capulets"});
    uint64_t version = 0;
    REQUIRE(s.rosters->version("alice", version) == StorageError::kOk);
    CHECK(version == 3);
  }

  TEST_CASE("another process sees committed writes, and we see its writes") {
    TempDir tmp;
    Stores s;
    REQUIRE(s.open(options_for(tmp.path)));
    REQUIRE(s.accounts->create(account("alice")) == StorageError::kOk);

    // The child is the admin CLI: it opens the directory while we hold it.
    int rc = run_child([&] {
      Stores cli;
      if (!cli.open(options_for(tmp.path))) return 10;
      StoredAccount a;
      if (cli.accounts->get("alice", a) != StorageError::kOk) return 11;
      if (cli.accounts->create(account("bob", 'b')) != StorageError::kOk) return 12;
      if (cli.rosters->put("bob", item("alice@example.com")) != StorageError::kOk) return 13;
      if (cli.accounts->create(account("alice")) != StorageError::kExists) return 14;
      return 0;
    });
    CHECK(rc == 0);

    StoredAccount b;
    REQUIRE(s.accounts->get("bob", b) == StorageError::kOk);
    CHECK(b.sha1.stored_key == std::string(20, 'b'));
    CHECK(s.accounts->count() == 2);
    RosterItem got;
    CHECK(s.rosters->get("bob", "alice@example.com", got) == StorageError::kOk);

    // And back again: our removal is visible to a fresh process.
    REQUIRE(s.accounts->remove("bob") == StorageError::kOk);
    rc = run_child([&] {
      Stores cli;
      if (!cli.open(options_for(tmp.path))) return 10;
      StoredAccount x;
      if (cli.accounts->get("bob", x) != StorageError::kNotFound) return 11;
      std::vector<RosterItem> all;
      if (cli.rosters->get_all("bob", all) != StorageError::kOk || !all.empty()) return 12;
      return 0;
    });
    CHECK(rc == 0);
  }

  TEST_CASE("a map grown by another process is adopted here") {
    TempDir tmp;
    LmdbOptions small = options_for(tmp.path);
    small.map_size = 256 * 1024;
    small.max_map_size = small.map_size;  // this process may not grow it
    Stores s;
    REQUIRE(s.open(small));
    REQUIRE(s.env->map_size() == 256 * 1024);

    int rc = run_child([&] {
      LmdbOptions big = small;
      big.max_map_size = size_t{64} << 20;
      Stores cli;
      if (!cli.open(big)) return 10;
      // About 1 MiB of roster data: past our 256 KiB map.
      for (int i = 0; i < 8; ++i) {
        std::string group(128 * 1024, static_cast<char>('a' + i));
        if (cli.rosters->put("alice", item("c" + std::to_string(i) + "@x", group)) !=
            StorageError::kOk) {
          return 20 + i;
        }
      }
      return cli.env->map_size() > 256 * 1024 ? 0 : 11;
    });
    REQUIRE(rc == 0);

    // Our mapping is too small for the data; the next transaction notices
    // (MDB_MAP_RESIZED) and adopts the size the other process recorded.
    RosterItem got;
    REQUIRE(s.rosters->get("alice", "c7@x", got) == StorageError::kOk);
    CHECK(got.groups == std::vector<std::string>{std::string(128 * 1024, 'h')});
    CHECK(s.env->map_size() > 256 * 1024);
    CHECK(s.rosters->put("alice", item("more@x")) == StorageError::kOk);
  }

  TEST_CASE("reader slots of a killed process are cleared at open (catalogue 69)") {
    TempDir tmp;
    Stores s;
    REQUIRE(s.open(options_for(tmp.path)));
    REQUIRE(s.accounts->create(account("alice")) == StorageError::kOk);

    // A reader dies inside its read transaction.
    int rc = run_child([&] {
      Stores reader;
      if (!reader.open(options_for(tmp.path))) return 10;
      reader.env->read([](LmdbTxn&) -> StorageError { _exit(0); });
      return 11;
    });
    REQUIRE(rc == 0);

    // The next process to open the directory clears the slot. (We still
    // hold the directory open, so the lock file is not reinitialised.)
    rc = run_child([&] {
      Stores next;
      if (!next.open(options_for(tmp.path))) return 100;
      if (next.accounts->create(account("bob")) != StorageError::kOk) return 101;
      return next.env->stale_readers_cleared();
    });
    CHECK(rc == 1);
    CHECK(s.accounts->count() == 2);
    CHECK(s.accounts->create(account("carol")) == StorageError::kOk);
  }

  TEST_CASE("a writer killed inside its transaction loses only that transaction (catalogue 69)") {
    TempDir tmp;
    Stores s;
    REQUIRE(s.open(options_for(tmp.path)));
    REQUIRE(s.accounts->create(account("alice")) == StorageError::kOk);

    int rc = run_child([&] {
      Stores writer;
      if (!writer.open(options_for(tmp.path))) return 10;
      unsigned dbi = 0;
      if (writer.env->open_db(kLmdbAccountsDb, dbi) != StorageError::kOk) return 11;
      const std::string key = account_key("mallory");
      const std::string record = encode_account(account("mallory"));
      // Dies holding the write lock, after writing but before committing.
      writer.env->write([&](LmdbTxn& txn) -> StorageError {
        txn.put(dbi, key, record);
        _exit(0);
      });
      return 12;
    });
    REQUIRE(rc == 0);

    // LMDB's robust mutex hands the write lock to the next writer.
    CHECK(s.accounts->create(account("bob")) == StorageError::kOk);
    StoredAccount a;
    CHECK(s.accounts->get("mallory", a) == StorageError::kNotFound);
    CHECK(s.accounts->get("alice", a) == StorageError::kOk);
    CHECK(s.accounts->count() == 2);
  }

  TEST_CASE("a full map is kFull, keeps old data, and recovers (catalogue 70)") {
    TempDir tmp;
    LmdbOptions tiny = options_for(tmp.path);
    tiny.map_size = 64 * 1024;
    tiny.max_map_size = 0;  // growth disabled
    Stores s;
    REQUIRE(s.open(tiny));
    REQUIRE(s.env->max_map_size() == 64 * 1024);

    // Fill it. Every write is its own synchronous commit.
    auto contact = [](const char* tag, int i) {
      return std::string(tag) + std::to_string(i) + "@example.com";
    };
    int stored = 0;
    StorageError e = StorageError::kOk;
    for (; stored < 5000; ++stored) {
      if ((e = s.rosters->put("alice", item(contact("c", stored), std::string(100, 'g')))) !=
          StorageError::kOk) {
        break;
      }
    }
    REQUIRE(e == StorageError::kFull);
    REQUIRE(stored > 4);
    CHECK_FALSE(s.env->failed());  // full is not fatal
    CHECK(s.env->map_size() == 64 * 1024);
    // Nothing of the refused write was kept, not even its version bump.
    RosterItem got;
    CHECK(s.rosters->get("alice", contact("c", stored), got) == StorageError::kNotFound);

    // Everything stored before is intact and readable.
    std::vector<RosterItem> all;
    REQUIRE(s.rosters->get_all("alice", all) == StorageError::kOk);
    CHECK(all.size() == static_cast<size_t>(stored));
    uint64_t version = 0;
    REQUIRE(s.rosters->version("alice", version) == StorageError::kOk);
    CHECK(version == static_cast<uint64_t>(stored));

    // Freeing space lets writes resume without a restart.
    for (int i = 0; i < stored / 2; ++i) {
      REQUIRE(s.rosters->remove("alice", contact("c", i)) == StorageError::kOk);
    }
    CHECK(s.rosters->put("alice", item("after-free@example.com")) == StorageError::kOk);

    // Refill, then raise the ceiling: the map grows and the refused write
    // now succeeds.
    int refused = -1;
    for (int i = 0; i < 5000 && refused < 0; ++i) {
      if (s.rosters->put("alice", item(contact("again", i), std::string(100, 'h'))) !=
          StorageError::kOk) {
        refused = i;
      }
    }
    REQUIRE(refused >= 0);
    s.env->set_max_map_size(1024 * 1024);
    CHECK(s.rosters->put("alice", item(contact("again", refused), std::string(100, 'h'))) ==
          StorageError::kOk);
    CHECK(s.env->map_size() > 64 * 1024);
    CHECK(s.env->map_size() <= 1024 * 1024);
    StoredAccount a;
    CHECK(s.accounts->create(account("zed")) == StorageError::kOk);
    CHECK(s.accounts->get("zed", a) == StorageError::kOk);

    // A value larger than the ceiling fails after growing as far as allowed.
    CHECK(s.rosters->put("bob", item("huge@x", std::string(2 * 1024 * 1024, 'x'))) ==
          StorageError::kFull);
    CHECK(s.env->map_size() == 1024 * 1024);
    CHECK_FALSE(s.env->failed());
    s.close();

    // And the file is consistent after a restart.
    REQUIRE(s.open(tiny));
    CHECK(s.accounts->get("zed", a) == StorageError::kOk);
    REQUIRE(s.rosters->get_all("alice", all) == StorageError::kOk);
    CHECK(all.size() > static_cast<size_t>(stored) / 2);
  }

  TEST_CASE("the map grows by doubling when growth is allowed") {
    TempDir tmp;
    LmdbOptions o = options_for(tmp.path);
    o.map_size = 64 * 1024;
    o.max_map_size = 4 * 1024 * 1024;
    Stores s;
    REQUIRE(s.open(o));
    REQUIRE(s.rosters->put("alice", item("big@x", std::string(300 * 1024, 'b'))) ==
            StorageError::kOk);
    // 64 KiB doubled until the value fit: a power-of-two multiple.
    size_t m = s.env->map_size();
    CHECK(m >= 512 * 1024);
    CHECK(m % (64 * 1024) == 0);
    CHECK(((m / (64 * 1024)) & (m / (64 * 1024) - 1)) == 0);
    s.close();
    // A reopen with the small configured size keeps the grown size.
    REQUIRE(s.open(o));
    CHECK(s.env->map_size() == m);
  }

  TEST_CASE("a failed write latches kIo and loses nothing committed before (catalogue 71)") {
    TempDir tmp;
    {
      Stores s;
      REQUIRE(s.open(options_for(tmp.path)));
      REQUIRE(s.accounts->create(account("alice")) == StorageError::kOk);
    }
    // The child cannot grow data.mdb past its current size (RLIMIT_FSIZE),
    // so the next commit's page writes fail, as on a failing disk.
    int rc = run_child([&] {
      Stores s;
      if (!s.open(options_for(tmp.path))) return 10;
      signal(SIGXFSZ, SIG_IGN);
      struct stat st;
      if (::stat((tmp.path + "/data.mdb").c_str(), &st) != 0) return 11;
      struct rlimit limit;
      limit.rlim_cur = static_cast<rlim_t>(st.st_size);
      limit.rlim_max = RLIM_INFINITY;
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) return 12;
      StorageError e = s.rosters->put("alice", item("big@x", std::string(1 << 20, 'x')));
      if (e != StorageError::kIo) return 20 + static_cast<int>(e) % 20;
      if (!s.env->failed()) return 13;
      // From now on nothing is acknowledged, reads included.
      StoredAccount a;
      if (s.accounts->get("alice", a) != StorageError::kIo) return 14;
      if (s.accounts->create(account("bob")) != StorageError::kIo) return 15;
      return 0;
    });
    CHECK(rc == 0);

    // "Restart": the committed data is intact, the failed write absent.
    Stores s;
    REQUIRE(s.open(options_for(tmp.path)));
    StoredAccount a;
    CHECK(s.accounts->get("alice", a) == StorageError::kOk);
    CHECK(s.accounts->get("bob", a) == StorageError::kNotFound);
    RosterItem got;
    CHECK(s.rosters->get("alice", "big@x", got) == StorageError::kNotFound);
    CHECK(s.rosters->put("alice", item("small@x")) == StorageError::kOk);
  }

  TEST_CASE("corrupt records read as kCorrupt, never a crash") {
    TempDir tmp;
    {
      Stores s;
      REQUIRE(s.open(options_for(tmp.path)));
      REQUIRE(s.accounts->create(account("alice")) == StorageError::kOk);
      REQUIRE(s.accounts->create(account("bob", 'b')) == StorageError::kOk);
      REQUIRE(s.accounts->create(account("carol")) == StorageError::kOk);
      REQUIRE(s.rosters->put("alice", item("good@x")) == StorageError::kOk);
    }
    // Garbage under alice's key, bob's valid record under carol's key, and
    // garbage in a roster item and in dave's version counter.
    plant_raw(tmp.path, "accounts", account_key("alice"), "\x11garbage\xff\xff\xff\xff");
    plant_raw(tmp.path, "accounts", account_key("carol"), encode_account(account("bob", 'b')));
    plant_raw(tmp.path, "roster", roster_key("alice", "bad@x"), std::string(3, '\0'));
    plant_raw(tmp.path, "roster", roster_key("erin", "moved@x"),
              encode_roster_item(item("other@x")));
    plant_raw(tmp.path, "roster_version", account_key("dave"), "\x31\x01");

    Stores s;
    REQUIRE(s.open(options_for(tmp.path)));
    StoredAccount a;
    CHECK(s.accounts->get("alice", a) == StorageError::kCorrupt);
    CHECK(s.accounts->get("carol", a) == StorageError::kCorrupt);  // wrong name inside
    CHECK(s.accounts->get("bob", a) == StorageError::kOk);
    CHECK(s.accounts->update_credentials(account("alice", 'n')) == StorageError::kCorrupt);
    std::vector<std::string> names;
    CHECK(s.accounts->list(names) == StorageError::kCorrupt);
    CHECK(names == std::vector<std::string>{"bob"});
    CHECK(s.accounts->count() == 3);

    std::vector<RosterItem> all;
    CHECK(s.rosters->get_all("alice", all) == StorageError::kCorrupt);
    REQUIRE(all.size() == 1);
    CHECK(all[0].jid == "good@x");
    RosterItem got;
    CHECK(s.rosters->get("alice", "bad@x", got) == StorageError::kCorrupt);
    CHECK(s.rosters->get_all("erin", all) == StorageError::kCorrupt);
    CHECK(s.rosters->get("erin", "moved@x", got) == StorageError::kCorrupt);
    uint64_t version = 0;
    CHECK(s.rosters->version("dave", version) == StorageError::kCorrupt);
    // A corrupt counter is not silently restarted.
    CHECK(s.rosters->put("dave", item("x@x")) == StorageError::kCorrupt);
    CHECK(s.rosters->get("dave", "x@x", got) == StorageError::kNotFound);

    // Corruption is per record: the store keeps working, and removing the
    // account is the repair path.
    CHECK(s.accounts->create(account("frank")) == StorageError::kOk);
    CHECK(s.accounts->remove("alice") == StorageError::kOk);
    CHECK(s.rosters->get_all("alice", all) == StorageError::kOk);
    CHECK(all.empty());
    CHECK_FALSE(s.env->failed());
  }
}

}  // namespace
}  // namespace xd::server
