#include "server/storage/lmdb/lmdb_env.h"

#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>

namespace xd::server {
namespace {

static_assert(std::is_same_v<MDB_dbi, unsigned>, "lmdb_env.h passes MDB_dbi as unsigned");

// The only environment flag we set. MDB_NOTLS ties a reader slot to the
// transaction rather than the thread. Everything that trades durability for
// speed is absent on purpose (architecture.md §3.1, catalogue 73).
constexpr unsigned kEnvFlags = MDB_NOTLS;
static_assert((kEnvFlags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP | MDB_MAPASYNC | MDB_NOLOCK |
                            MDB_RDONLY)) == 0,
              "durability flags must stay at their defaults");

// data.mdb and lock.mdb hold credentials: owner only.
constexpr mdb_mode_t kFileMode = 0600;

// The one place LMDB and errno codes become StorageError values.
StorageError from_mdb(int rc) {
  switch (rc) {
    case MDB_SUCCESS:
      return StorageError::kOk;
    case MDB_NOTFOUND:
      return StorageError::kNotFound;
    case MDB_KEYEXIST:
      return StorageError::kExists;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL:
    case ENOSPC:
    case EDQUOT:
      return StorageError::kFull;
    case MDB_BAD_VALSIZE:
      return StorageError::kInvalid;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
    case MDB_VERSION_MISMATCH:
      return StorageError::kCorrupt;
    default:
      // MDB_PANIC, EIO and anything unexpected: we cannot vouch for the data.
      return StorageError::kIo;
  }
}

MDB_val to_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view to_view(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

size_t round_up(size_t n, size_t page) {
  if (n == 0) n = 1;
  return (n + page - 1) / page * page;
}

// Directories open in this process, by (device, inode). LMDB's fcntl locks
// belong to the process, so closing a second handle on the same files would
// silently drop the first handle's locks.
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
// Call with registry_mutex() held. A child forked while its parent had
// directories open inherits the set, but not the right to use those handles
// (LMDB forbids using an environment across fork), so it starts afresh.
std::set<std::pair<unsigned long long, unsigned long long>>& registry() {
  static std::set<std::pair<unsigned long long, unsigned long long>> s;
  static pid_t owner = ::getpid();
  if (owner != ::getpid()) {
    s.clear();
    owner = ::getpid();
  }
  return s;
}

std::string describe(std::string_view what, const std::string& path, int rc) {
  std::string s = "lmdb: ";
  s += what;
  s += " '";
  s += path;
  s += "': ";
  s += mdb_strerror(rc);  // covers errno values too
  return s;
}

}  // namespace

// LmdbTxn ----------------------------------------------------------------

StorageError LmdbTxn::note(int rc) {
  if (rc == MDB_MAP_FULL) map_full_ = true;
  return from_mdb(rc);
}

StorageError LmdbTxn::get(unsigned dbi, std::string_view key, std::string_view& value) {
  MDB_val k = to_val(key);
  MDB_val v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc != MDB_SUCCESS) return note(rc);
  value = to_view(v);
  return StorageError::kOk;
}

StorageError LmdbTxn::put(unsigned dbi, std::string_view key, std::string_view value,
                          bool no_overwrite) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  return note(mdb_put(txn_, dbi, &k, &v, no_overwrite ? MDB_NOOVERWRITE : 0));
}

StorageError LmdbTxn::del(unsigned dbi, std::string_view key) {
  MDB_val k = to_val(key);
  return note(mdb_del(txn_, dbi, &k, nullptr));
}

StorageError LmdbTxn::scan(
    unsigned dbi, std::string_view prefix,
    const std::function<StorageError(std::string_view, std::string_view)>& fn) {
  return scan_from(dbi, prefix, prefix, fn);
}

StorageError LmdbTxn::scan_from(
    unsigned dbi, std::string_view prefix, std::string_view start,
    const std::function<StorageError(std::string_view, std::string_view)>& fn) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn_, dbi, &cursor);
  if (rc != MDB_SUCCESS) return note(rc);
  MDB_val k = to_val(start);
  MDB_val v;
  // MDB_SET_RANGE positions at the first key >= start; an empty key is not
  // allowed there, so an empty start is the first key instead.
  rc = mdb_cursor_get(cursor, &k, &v, start.empty() ? MDB_FIRST : MDB_SET_RANGE);
  StorageError e = StorageError::kOk;
  while (rc == MDB_SUCCESS) {
    std::string_view key = to_view(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    e = fn(key, to_view(v));
    if (e != StorageError::kOk) break;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cursor);
  if (e != StorageError::kOk) return e;
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return note(rc);
  return StorageError::kOk;
}

StorageError LmdbTxn::del_prefix(unsigned dbi, std::string_view prefix, size_t& deleted) {
  deleted = 0;
  // Collect first, delete after: deleting under a live cursor works in LMDB
  // but its repositioning rules are easy to get wrong, and rosters are small.
  std::vector<std::string> keys;
  StorageError e = scan(dbi, prefix, [&](std::string_view key, std::string_view) {
    keys.emplace_back(key);
    return StorageError::kOk;
  });
  if (e != StorageError::kOk) return e;
  for (const std::string& key : keys) {
    if ((e = del(dbi, key)) != StorageError::kOk) return e;
    ++deleted;
  }
  return StorageError::kOk;
}

StorageError LmdbTxn::entries(unsigned dbi, size_t& out) {
  MDB_stat st;
  int rc = mdb_stat(txn_, dbi, &st);
  if (rc != MDB_SUCCESS) return note(rc);
  out = st.ms_entries;
  return StorageError::kOk;
}

// LmdbEnv ----------------------------------------------------------------

std::unique_ptr<LmdbEnv> LmdbEnv::open(const LmdbOptions& options, std::string& error) {
  if (options.path.empty()) {
    error = "lmdb: the data directory path is empty";
    return nullptr;
  }
  std::error_code ec;
  bool created = std::filesystem::create_directories(options.path, ec);
  if (ec) {
    error = "lmdb: cannot create '" + options.path + "': " + ec.message();
    return nullptr;
  }
  if (created) {
    std::filesystem::permissions(options.path, std::filesystem::perms::owner_all, ec);
  }
  struct stat st;
  if (::stat(options.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "lmdb: '" + options.path + "' is not a directory";
    return nullptr;
  }

  std::unique_ptr<LmdbEnv> env(new LmdbEnv());
  env->path_ = options.path;
  env->dev_ = static_cast<unsigned long long>(st.st_dev);
  env->ino_ = static_cast<unsigned long long>(st.st_ino);
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    if (!registry().insert({env->dev_, env->ino_}).second) {
      error = "lmdb: '" + options.path + "' is already open in this process";
      env->dev_ = env->ino_ = 0;  // not ours to unregister
      return nullptr;
    }
  }

  long page = ::sysconf(_SC_PAGESIZE);
  env->page_size_ = page > 0 ? static_cast<size_t>(page) : 4096;
  size_t map_size = round_up(options.map_size, env->page_size_);
  env->max_map_size_ = std::max(round_up(options.max_map_size, env->page_size_), map_size);

  int rc = mdb_env_create(&env->env_);
  if (rc != MDB_SUCCESS) {
    env->env_ = nullptr;
    error = describe("cannot create an environment for", options.path, rc);
    return nullptr;
  }
  if ((rc = mdb_env_set_maxdbs(env->env_, options.max_dbs)) != MDB_SUCCESS ||
      (rc = mdb_env_set_maxreaders(env->env_, options.max_readers)) != MDB_SUCCESS ||
      (rc = mdb_env_set_mapsize(env->env_, map_size)) != MDB_SUCCESS) {
    error = describe("cannot configure", options.path, rc);
    return nullptr;
  }
  if ((rc = mdb_env_open(env->env_, options.path.c_str(), kEnvFlags, kFileMode)) != MDB_SUCCESS) {
    error = describe("cannot open", options.path, rc);
    return nullptr;
  }

  // mdb_env_open used our size even if the file records a larger one (from
  // an earlier growth, here or in another process). Adopt the larger: size 0
  // means "what the file says", never less than the data.
  if ((rc = mdb_env_set_mapsize(env->env_, 0)) != MDB_SUCCESS ||
      (env->map_size() < map_size &&
       (rc = mdb_env_set_mapsize(env->env_, map_size)) != MDB_SUCCESS)) {
    error = describe("cannot size the map of", options.path, rc);
    return nullptr;
  }

  // Reader slots of processes that died inside a read transaction would pin
  // old pages forever and make the file grow (catalogue 69).
  int dead = 0;
  if ((rc = mdb_reader_check(env->env_, &dead)) != MDB_SUCCESS) {
    error = describe("cannot check the reader table of", options.path, rc);
    return nullptr;
  }
  env->stale_readers_cleared_ = dead;
  return env;
}

LmdbEnv::~LmdbEnv() {
  if (env_ != nullptr) mdb_env_close(env_);
  if (dev_ != 0 || ino_ != 0) {
    std::lock_guard<std::mutex> lock(registry_mutex());
    registry().erase({dev_, ino_});
  }
}

size_t LmdbEnv::map_size() const {
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) != MDB_SUCCESS) return 0;
  return info.me_mapsize;
}

void LmdbEnv::set_max_map_size(size_t bytes) { max_map_size_ = round_up(bytes, page_size_); }

StorageError LmdbEnv::begin(bool read_only, MDB_txn*& txn) {
  if (failed_) return StorageError::kIo;
  for (int attempt = 0;; ++attempt) {
    int rc = mdb_txn_begin(env_, nullptr, read_only ? MDB_RDONLY : 0, &txn);
    if (rc == MDB_SUCCESS) return StorageError::kOk;
    // Another process grew the map and wrote past our mapping: adopt the
    // size it recorded (size 0) and try again. No transaction of ours is
    // open, which mdb_env_set_mapsize requires.
    if (rc == MDB_MAP_RESIZED && attempt < 3 && mdb_env_set_mapsize(env_, 0) == MDB_SUCCESS) {
      continue;
    }
    if (rc == MDB_PANIC) failed_ = true;
    return from_mdb(rc);
  }
}

StorageError LmdbEnv::grow() {
  size_t current = map_size();
  if (current == 0 || current >= max_map_size_) return StorageError::kFull;
  size_t next = current <= max_map_size_ / 2 ? current * 2 : max_map_size_;
  if (mdb_env_set_mapsize(env_, next) != MDB_SUCCESS) {
    // The old mapping is gone and the new one failed (address space):
    // nothing can be read safely any more.
    failed_ = true;
    return StorageError::kIo;
  }
  return StorageError::kOk;
}

StorageError LmdbEnv::open_db(std::string_view name, unsigned& dbi) {
  std::string z(name);  // mdb_dbi_open wants a C string
  MDB_dbi handle = 0;
  StorageError e = write([&](LmdbTxn& txn) {
    return txn.note(mdb_dbi_open(txn.txn_, z.c_str(), MDB_CREATE, &handle));
  });
  if (e == StorageError::kOk) dbi = handle;
  return e;
}

StorageError LmdbEnv::read(const TxnFn& fn) {
  MDB_txn* raw = nullptr;
  StorageError e = begin(true, raw);
  if (e != StorageError::kOk) return e;
  LmdbTxn txn(raw);
  e = fn(txn);
  mdb_txn_abort(raw);  // frees the reader slot (MDB_NOTLS)
  if (e == StorageError::kIo) failed_ = true;
  return e;
}

StorageError LmdbEnv::write(const TxnFn& fn) {
  for (;;) {
    MDB_txn* raw = nullptr;
    StorageError e = begin(false, raw);
    if (e != StorageError::kOk) return e;
    LmdbTxn txn(raw);
    e = fn(txn);
    if (e != StorageError::kOk) {
      mdb_txn_abort(raw);
      if (e == StorageError::kFull && txn.map_full_) {
        if ((e = grow()) == StorageError::kOk) continue;
        return e;
      }
      if (e == StorageError::kIo) failed_ = true;
      return e;
    }
    // mdb_txn_commit frees the transaction whether or not it succeeds.
    int rc = mdb_txn_commit(raw);
    if (rc == MDB_SUCCESS) return StorageError::kOk;
    if (rc == MDB_MAP_FULL) {
      if ((e = grow()) == StorageError::kOk) continue;
      return e;
    }
    // Out of disk space: LMDB aborted before the meta page changed, so the
    // old state is intact and a later write may succeed (catalogue 70).
    if (from_mdb(rc) == StorageError::kFull) return StorageError::kFull;
    // EIO from write or fsync: whether the data is durable is unknown.
    // Latch, so nothing after this can be acknowledged (catalogue 71).
    failed_ = true;
    return StorageError::kIo;
  }
}

}  // namespace xd::server
