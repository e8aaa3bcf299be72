// One LMDB environment (a data directory holding data.mdb and lock.mdb) and
// the transactions the LMDB stores run in it. It owns the MDB_env, opens
// named sub-databases on request (accounts and rosters now, offline queues
// later), grows the map when it fills, and turns every LMDB and errno code
// into a StorageError. It never relaxes durability: no MDB_NOSYNC,
// MDB_NOMETASYNC, MDB_WRITEMAP/MDB_MAPASYNC or MDB_NOLOCK, so a commit that
// returned kOk is on disk (architecture.md §3.1), and it never holds a
// transaction open between calls, so other processes (the admin CLI) can
// read and write the same directory while the server runs.
//
// An LmdbEnv and its stores are used from one thread at a time (growing the
// map requires that no transaction of this process is open; every call here
// opens and ends its own). This header does not include lmdb.h: only
// server/storage/lmdb/*.cc do.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/storage_error.h"

struct MDB_env;
struct MDB_txn;

namespace xd::server {

// How to open an environment. Sizes are rounded up to the OS page size.
struct LmdbOptions {
  // The data directory. Created (mode 0700, parents included) if missing.
  std::string path;
  // Initial map size: the most the file may hold before the map grows.
  // An existing environment whose file records a larger size keeps that.
  size_t map_size = size_t{1} << 30;
  // Growth ceiling. On MDB_MAP_FULL the map doubles, up to this size, and
  // the write is retried; past it the write fails with kFull. A value not
  // above |map_size| disables growth. It is address space, not disk: the
  // file only grows as data is written.
  size_t max_map_size = size_t{16} << 30;
  // Named sub-databases the environment may hold (mdb_env_set_maxdbs).
  unsigned max_dbs = 16;
  // Reader slots shared by all processes using the directory.
  unsigned max_readers = 126;
};

// A live transaction, handed to the function passed to LmdbEnv::read or
// LmdbEnv::write and valid only during that call. Values it returns point
// into the map and are valid only until the function returns: copy them.
class LmdbTxn {
 public:
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;

  // Reads |key| from |dbi|. kNotFound if absent; kInvalid for an empty key
  // or one longer than 511 octets.
  StorageError get(unsigned dbi, std::string_view key, std::string_view& value);
  // Writes |key| = |value| in a write transaction. With |no_overwrite| an
  // existing key gives kExists and nothing changes. kFull when the map is
  // full (LmdbEnv::write then grows the map and runs the function again).
  StorageError put(unsigned dbi, std::string_view key, std::string_view value,
                   bool no_overwrite = false);
  // Deletes |key|. kNotFound if absent.
  StorageError del(unsigned dbi, std::string_view key);
  // Calls |fn| with each key of |dbi| that starts with |prefix| and its
  // value, in key order, until |fn| returns anything but kOk, which is then
  // returned. The views are valid during the call only. An empty prefix
  // visits every key.
  StorageError scan(
      unsigned dbi, std::string_view prefix,
      const std::function<StorageError(std::string_view key, std::string_view value)>& fn);
  // As scan, but starts at the first key >= |start| (which should itself
  // start with |prefix|).
  StorageError scan_from(
      unsigned dbi, std::string_view prefix, std::string_view start,
      const std::function<StorageError(std::string_view key, std::string_view value)>& fn);
  // Deletes every key of |dbi| that starts with |prefix| and sets |deleted|
  // to their number.
  StorageError del_prefix(unsigned dbi, std::string_view prefix, size_t& deleted);
  // The number of keys in |dbi|.
  StorageError entries(unsigned dbi, size_t& out);

 private:
  friend class LmdbEnv;
  explicit LmdbTxn(MDB_txn* txn) : txn_(txn) {}
  // Maps |rc| and remembers MDB_MAP_FULL, so write() knows growing helps.
  StorageError note(int rc);

  MDB_txn* txn_;
  bool map_full_ = false;
};

class LmdbEnv {
 public:
  // The body of a transaction. A write body may run more than once (after
  // the map grew), so it must reset its own outputs and have no effect
  // outside the transaction.
  using TxnFn = std::function<StorageError(LmdbTxn&)>;

  // Opens (creating if needed) the environment in |options.path| with
  // MDB_NOTLS and otherwise default, fully synchronous flags, then runs
  // mdb_reader_check to free reader slots left by killed processes
  // (hostile-inputs.md catalogue 69; a writer killed mid-transaction is
  // handled by LMDB's robust mutex). Returns nullptr and sets |error| to a
  // one-line reason on failure. A directory may be open only once per
  // process (LMDB's fcntl locks are per process, so a second handle would
  // corrupt the locking of the first): a second open of the same directory
  // fails. Other processes may open it concurrently.
  static std::unique_ptr<LmdbEnv> open(const LmdbOptions& options, std::string& error);

  // Closes the environment. No transaction is open between calls, so
  // nothing is lost. The stores that borrow this env must be gone first.
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Opens the named sub-database |name|, creating it if needed, and sets
  // |dbi| to its handle, valid until the env closes. Call it at startup, not
  // while another call into this env is running.
  StorageError open_db(std::string_view name, unsigned& dbi);

  // Runs |fn| in a read-only transaction, then ends it. Returns what |fn|
  // returned, or the error that kept the transaction from starting. Never
  // calls |fn| more than once.
  StorageError read(const TxnFn& fn);

  // Runs |fn| in a write transaction and commits it if |fn| returned kOk;
  // otherwise aborts and returns |fn|'s error. On MDB_MAP_FULL (from |fn| or
  // the commit) it aborts, grows the map and runs |fn| again; past
  // max_map_size it returns kFull with nothing written (catalogue 70).
  // ENOSPC and EDQUOT on commit are kFull too: LMDB aborted the transaction
  // and the old data is intact. Any other commit failure is kIo, and from
  // then on every call returns kIo: after a failed fsync the disk state is
  // unknown and retrying could acknowledge lost data (catalogue 71).
  StorageError write(const TxnFn& fn);

  // Raises (or lowers) the growth ceiling without reopening, e.g. after an
  // operator freed disk space: the next write that finds the map full can
  // grow into it. Never shrinks the current map.
  void set_max_map_size(size_t bytes);

  // The current map size in bytes, and the growth ceiling.
  size_t map_size() const;
  size_t max_map_size() const { return max_map_size_; }
  // Reader slots of dead processes that open() cleared.
  int stale_readers_cleared() const { return stale_readers_cleared_; }
  // True once a write failed with kIo; every call then returns kIo.
  bool failed() const { return failed_; }
  const std::string& path() const { return path_; }

 private:
  LmdbEnv() = default;
  StorageError begin(bool read_only, MDB_txn*& txn);
  StorageError grow();

  MDB_env* env_ = nullptr;
  std::string path_;
  size_t max_map_size_ = 0;
  size_t page_size_ = 4096;
  int stale_readers_cleared_ = 0;
  bool failed_ = false;
  // Identity (device, inode) of the directory, for the once-per-process rule.
  unsigned long long dev_ = 0;
  unsigned long long ino_ = 0;
};

}  // namespace xd::server
