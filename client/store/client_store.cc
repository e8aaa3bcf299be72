#include "client/store/client_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "client/store/private_file.h"

namespace xd::client {

namespace e2e = protocol::e2e;

namespace {

// How long a call waits for another process's write lock before kBusy.
constexpr int kBusyTimeoutMs = 5000;

// The plaintext of the sealed check value that tells a wrong storage key
// from a damaged secret (ClientStore::open, kWrongKey).
constexpr std::string_view kKeyCheck = "xmppd client store key check v1";

constexpr std::uint64_t kMaxPrekeyId = 0xffffffffu;  // spec/e2e-keys.md: ids 1..2^32-1

constexpr std::size_t kSealOverhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
static_assert(crypto_secretbox_KEYBYTES == StorageKey::kSize);

// Schema migrations: kMigrations[i] takes the database from version i to
// i + 1. Never edit a shipped entry; append a new one. Constant SQL only.
constexpr const char* kMigrations[] = {
    // Version 1.
    R"sql(
CREATE TABLE meta (
  name TEXT PRIMARY KEY NOT NULL,
  value NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('next_prekey_id', 1), ('next_signed_prekey_id', 1);

-- secret columns hold nonce || crypto_secretbox_easy(...) under the storage key.
CREATE TABLE signed_prekeys (
  id INTEGER PRIMARY KEY,
  public_key BLOB NOT NULL,
  secret BLOB NOT NULL,
  signature BLOB NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE one_time_prekeys (
  id INTEGER PRIMARY KEY,
  public_key BLOB NOT NULL,
  secret BLOB NOT NULL
);
CREATE TABLE sessions (
  peer TEXT NOT NULL,
  device INTEGER NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY (peer, device)
) WITHOUT ROWID;
CREATE TABLE devices (
  peer TEXT NOT NULL,
  device INTEGER NOT NULL,
  identity_key BLOB NOT NULL,
  first_seen_ms INTEGER NOT NULL,
  trusted INTEGER NOT NULL DEFAULT 0 CHECK (trusted IN (0, 1)),
  PRIMARY KEY (peer, device)
) WITHOUT ROWID;
CREATE TABLE contacts (
  jid TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  peer TEXT NOT NULL,
  direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  origin_id TEXT NOT NULL,
  stanza_id TEXT,
  body TEXT NOT NULL,
  encrypted INTEGER NOT NULL CHECK (encrypted IN (0, 1)),
  state TEXT NOT NULL CHECK (
    (direction = 'out' AND state IN ('queued', 'sent', 'delivered', 'read', 'failed')) OR
    (direction = 'in' AND state IN ('received', 'displayed'))),
  wire TEXT,
  ts_ms INTEGER NOT NULL,
  error TEXT,
  UNIQUE (peer, direction, origin_id)
);
CREATE INDEX messages_by_peer_time ON messages (peer, ts_ms, id);
CREATE INDEX messages_by_origin ON messages (origin_id);
CREATE INDEX messages_queued ON messages (id) WHERE state = 'queued';
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// The one place SQLite result codes become ClientStoreError values.
ClientStoreError from_sqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return ClientStoreError::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ClientStoreError::kBusy;
    case SQLITE_CONSTRAINT:
      return ClientStoreError::kExists;
    case SQLITE_FULL:
      return ClientStoreError::kFull;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
      return ClientStoreError::kCorrupt;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return ClientStoreError::kInvalid;
    default:
      // SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_NOMEM and
      // anything unexpected: we cannot vouch for the write.
      return ClientStoreError::kIo;
  }
}

std::string_view direction_name(MessageDirection d) {
  return d == MessageDirection::kIn ? "in" : "out";
}

// std::string buffers that held a secret are wiped before they are freed.
void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

template <std::size_t N>
bool copy_exact(std::string_view from, std::array<std::uint8_t, N>& to) {
  if (from.size() != N) return false;
  std::memcpy(to.data(), from.data(), N);
  return true;
}

std::string_view as_view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace

// A cached prepared statement for the length of one call: binds by index,
// steps, reads columns, and on destruction resets the statement and drops
// its bindings so the cache holds no caller data between calls.
class ClientStore::Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Query() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // A null data pointer would bind SQL NULL: an empty view binds "".
  void text(int i, std::string_view v) {
    sqlite3_bind_text64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT,
                        SQLITE_UTF8);
  }
  void text_or_null(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_null(stmt_, i);
    } else {
      text(i, v);
    }
  }
  void blob(int i, std::string_view v) {
    sqlite3_bind_blob64(stmt_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT);
  }
  void int64(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void null(int i) { sqlite3_bind_null(stmt_, i); }

  int step() { return sqlite3_step(stmt_); }
  // Steps a statement that returns no row: kOk or the mapped error.
  ClientStoreError run() {
    const int rc = step();
    return rc == SQLITE_DONE ? ClientStoreError::kOk
                             : (rc == SQLITE_ROW ? ClientStoreError::kOk : from_sqlite(rc));
  }

  std::int64_t int64_at(int col) { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // The views are valid until the next step or the end of the query.
  std::string_view text_at(int col) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view();
  }
  std::string_view blob_at(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string_view();
  }

 private:
  sqlite3_stmt* stmt_;
};

// Prepares (or takes from the cache) |sql| into a Query named |q|, returning
// the error from the enclosing function when SQLite refuses it.
#define XD_QUERY(q, sql)                                                             \
  sqlite3_stmt* q##_stmt = nullptr;                                                  \
  if (const auto q##_rc = prepare(sql, q##_stmt); q##_rc != ClientStoreError::kOk) { \
    return q##_rc;                                                                   \
  }                                                                                  \
  Query q(q##_stmt)

// --- Opening -----------------------------------------------------------

ClientStore::ClientStore(sqlite3* db, const StorageKey& key) : db_(db), key_(key) {}

ClientStore::~ClientStore() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  // Closing the last connection checkpoints the WAL into the database.
  sqlite3_close(db_);
}

int ClientStore::schema_version() { return kSchemaVersion; }

ClientStoreError ClientStore::open(const std::string& path, const StorageKey& key,
                                   std::unique_ptr<ClientStore>& out) {
  if (sodium_init() < 0) return ClientStoreError::kIo;
  const std::string dir = parent_directory(path);
  if (make_private_directories(dir) != 0) return ClientStoreError::kIo;

  // Create the file ourselves so it is born 0600: SQLite would create it
  // 0644 (its default) and give the -wal and -shm files the same mode.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) {
    // ELOOP: a symlink in its place; EISDIR: a directory.
    if (errno == EACCES || errno == EPERM || errno == ELOOP || errno == EISDIR) {
      return ClientStoreError::kPermissions;
    }
    return ClientStoreError::kIo;
  }
  std::string why;
  const bool private_file = private_regular_file(fd, why);
  ::close(fd);
  if (!private_file) return ClientStoreError::kPermissions;
  if (sync_directory(dir) != 0) return ClientStoreError::kIo;

  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
                                     SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_PRIVATECACHE,
                                 nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close(db);
    return from_sqlite(rc) == ClientStoreError::kOk ? ClientStoreError::kIo : from_sqlite(rc);
  }
  std::unique_ptr<ClientStore> store(new ClientStore(db, key));
  if (const auto e = store->init_schema(); e != ClientStoreError::kOk) return e;
  out = std::move(store);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::init_schema() {
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // A hostile schema (for example a trigger planted in the file) may not
  // call functions with side effects or write shadow tables.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);

  {
    // journal_mode answers with the mode in force; a file system that
    // cannot do WAL answers something else, and we would rather stop.
    XD_QUERY(q, "PRAGMA journal_mode=WAL");
    const int rc = q.step();
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    if (q.text_at(0) != "wal") return ClientStoreError::kIo;
  }
  // FULL: the WAL is fsync()ed at every commit, so kOk means durable.
  // secure_delete: freed pages (a used one-time prekey, an old ratchet
  // state) are zeroed rather than left behind in the file.
  if (const auto e = exec("PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
                          "PRAGMA foreign_keys=ON;");
      e != ClientStoreError::kOk) {
    return e;
  }

  return atomically([this]() -> ClientStoreError {
    if (const auto e = exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        e != ClientStoreError::kOk) {
      return e;
    }
    int version = 0;
    {
      XD_QUERY(q, "SELECT version FROM schema_version");
      int rows = 0;
      for (int rc = q.step(); rc != SQLITE_DONE; rc = q.step()) {
        if (rc != SQLITE_ROW) return from_sqlite(rc);
        version = static_cast<int>(q.int64_at(0));
        ++rows;
      }
      if (rows > 1 || version < 0) return ClientStoreError::kCorrupt;
    }
    if (version > kSchemaVersion) return ClientStoreError::kUnsupported;
    if (version > 0) {
      XD_QUERY(q, "SELECT value FROM meta WHERE name = 'key_check'");
      const int rc = q.step();
      if (rc == SQLITE_DONE) return ClientStoreError::kCorrupt;
      if (rc != SQLITE_ROW) return from_sqlite(rc);
      std::string plain;
      if (!unseal(q.blob_at(0), plain)) return ClientStoreError::kWrongKey;
      if (plain != kKeyCheck) return ClientStoreError::kCorrupt;
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      if (const auto e = exec(kMigrations[v]); e != ClientStoreError::kOk) return e;
    }
    if (version == 0) {
      XD_QUERY(q, "INSERT INTO meta (name, value) VALUES ('key_check', ?1)");
      q.blob(1, seal(kKeyCheck));
      if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
      XD_QUERY(v, "INSERT INTO schema_version (version) VALUES (?1)");
      v.int64(1, kSchemaVersion);
      return v.run();
    }
    if (version < kSchemaVersion) {
      XD_QUERY(q, "UPDATE schema_version SET version = ?1");
      q.int64(1, kSchemaVersion);
      return q.run();
    }
    return ClientStoreError::kOk;
  });
}

// --- Plumbing ----------------------------------------------------------

ClientStoreError ClientStore::prepare(std::string_view sql, sqlite3_stmt*& out) {
  if (const auto it = statements_.find(sql); it != statements_.end()) {
    out = it->second;
    return ClientStoreError::kOk;
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK || stmt == nullptr) {
    sqlite3_finalize(stmt);
    // Our SQL is constant, so a prepare failure is the file (not a table
    // we expect) or the environment, never the caller.
    const auto e = from_sqlite(rc);
    return e == ClientStoreError::kOk ? ClientStoreError::kCorrupt : e;
  }
  statements_.emplace(sql, stmt);
  out = stmt;
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::exec(const char* sql) {
  return from_sqlite(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr));
}

ClientStoreError ClientStore::atomically(const std::function<ClientStoreError()>& fn) {
  if (in_transaction_) {
    if (const auto e = exec("SAVEPOINT xd_op"); e != ClientStoreError::kOk) return e;
    const auto rc = fn();
    if (rc != ClientStoreError::kOk) exec("ROLLBACK TO xd_op");
    const auto released = exec("RELEASE xd_op");
    return rc != ClientStoreError::kOk ? rc : released;
  }
  if (const auto e = exec("BEGIN IMMEDIATE"); e != ClientStoreError::kOk) return e;
  in_transaction_ = true;
  auto rc = fn();
  in_transaction_ = false;
  if (rc == ClientStoreError::kOk) rc = exec("COMMIT");
  // After an error SQLite may already have rolled back on its own.
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
  return rc;
}

ClientStoreError ClientStore::transaction(const std::function<bool()>& fn) {
  if (in_transaction_) return ClientStoreError::kInvalid;
  if (const auto e = exec("BEGIN IMMEDIATE"); e != ClientStoreError::kOk) return e;
  in_transaction_ = true;
  const bool commit = fn();
  in_transaction_ = false;
  ClientStoreError rc = ClientStoreError::kRolledBack;
  if (commit) {
    // A statement inside |fn| that failed with an I/O or full-disk error
    // makes SQLite roll the whole transaction back: COMMIT must not claim
    // success for what is no longer there.
    rc = sqlite3_get_autocommit(db_) ? ClientStoreError::kIo : exec("COMMIT");
  }
  if (!sqlite3_get_autocommit(db_)) exec("ROLLBACK");
  return rc;
}

std::string ClientStore::seal(std::string_view plain) const {
  std::string out(kSealOverhead + plain.size(), '\0');
  auto* p = reinterpret_cast<std::uint8_t*>(out.data());
  randombytes_buf(p, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(p + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size(), p,
                        key_.data());
  return out;
}

bool ClientStore::unseal(std::string_view sealed, std::string& plain) const {
  if (sealed.size() < kSealOverhead) return false;
  const auto* p = reinterpret_cast<const std::uint8_t*>(sealed.data());
  std::string out(sealed.size() - kSealOverhead, '\0');
  if (crypto_secretbox_open_easy(
          reinterpret_cast<std::uint8_t*>(out.data()), p + crypto_secretbox_NONCEBYTES,
          sealed.size() - crypto_secretbox_NONCEBYTES, p, key_.data()) != 0) {
    return false;
  }
  wipe(plain);
  plain = std::move(out);
  return true;
}

ClientStoreError ClientStore::next_id(const char* counter, std::uint32_t count,
                                      std::uint32_t& first) {
  if (count == 0) return ClientStoreError::kInvalid;
  return atomically([&]() -> ClientStoreError {
    XD_QUERY(q, "SELECT value FROM meta WHERE name = ?1");
    q.text(1, counter);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return ClientStoreError::kCorrupt;
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    const std::int64_t next = q.int64_at(0);
    if (next < 1) return ClientStoreError::kCorrupt;
    if (static_cast<std::uint64_t>(next) + count - 1 > kMaxPrekeyId) return ClientStoreError::kFull;
    XD_QUERY(u, "UPDATE meta SET value = ?2 WHERE name = ?1");
    u.text(1, counter);
    u.int64(2, next + count);
    if (const auto e = u.run(); e != ClientStoreError::kOk) return e;
    first = static_cast<std::uint32_t>(next);
    return ClientStoreError::kOk;
  });
}

// --- Account -----------------------------------------------------------

ClientStoreError ClientStore::set_device(std::uint32_t device_id) {
  if (device_id == 0 || device_id > protocol::e2e::kMaxDeviceId) return ClientStoreError::kInvalid;
  XD_QUERY(q,
           "INSERT INTO meta (name, value) VALUES ('device_id', ?1) "
           "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  q.int64(1, device_id);
  return q.run();
}

ClientStoreError ClientStore::device(std::uint32_t& out) {
  XD_QUERY(q, "SELECT value FROM meta WHERE name = 'device_id'");
  const int rc = q.step();
  if (rc == SQLITE_DONE) return ClientStoreError::kNotFound;
  if (rc != SQLITE_ROW) return from_sqlite(rc);
  const std::int64_t v = q.int64_at(0);
  if (v < 1 || v > protocol::e2e::kMaxDeviceId) return ClientStoreError::kCorrupt;
  out = static_cast<std::uint32_t>(v);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::save_identity(const e2e::IdentityKeyPair& identity) {
  std::string plain;
  plain.append(as_view(identity.public_key.data(), identity.public_key.size()));
  plain.append(as_view(identity.secret_key.data(), identity.secret_key.size()));
  const std::string sealed = seal(plain);
  wipe(plain);
  XD_QUERY(q,
           "INSERT INTO meta (name, value) VALUES ('identity', ?1) "
           "ON CONFLICT (name) DO UPDATE SET value = excluded.value");
  q.blob(1, sealed);
  return q.run();
}

ClientStoreError ClientStore::load_identity(e2e::IdentityKeyPair& out) {
  XD_QUERY(q, "SELECT value FROM meta WHERE name = 'identity'");
  const int rc = q.step();
  if (rc == SQLITE_DONE) return ClientStoreError::kNotFound;
  if (rc != SQLITE_ROW) return from_sqlite(rc);
  std::string plain;
  if (!unseal(q.blob_at(0), plain)) return ClientStoreError::kCorrupt;
  e2e::IdentityKeyPair pair;
  const bool ok = plain.size() == pair.public_key.size() + pair.secret_key.size();
  if (ok) {
    std::memcpy(pair.public_key.data(), plain.data(), pair.public_key.size());
    std::memcpy(pair.secret_key.data(), plain.data() + pair.public_key.size(),
                pair.secret_key.size());
    out = pair;
  }
  wipe(plain);
  sodium_memzero(pair.secret_key.data(), pair.secret_key.size());
  return ok ? ClientStoreError::kOk : ClientStoreError::kCorrupt;
}

// --- Signed prekeys ----------------------------------------------------

ClientStoreError ClientStore::save_signed_prekey(const e2e::SignedPreKey& key,
                                                 std::int64_t created_ms) {
  if (key.id == 0) return ClientStoreError::kInvalid;
  XD_QUERY(q,
           "INSERT INTO signed_prekeys (id, public_key, secret, signature, created_ms) "
           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING");
  q.int64(1, key.id);
  q.blob(2, as_view(key.pair.public_key.data(), key.pair.public_key.size()));
  q.blob(3, seal(as_view(key.pair.secret_key.data(), key.pair.secret_key.size())));
  q.blob(4, as_view(key.signature.data(), key.signature.size()));
  q.int64(5, created_ms);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kExists : ClientStoreError::kOk;
}

// Reads one row of columns (id, public_key, secret, signature).
ClientStoreError ClientStore::read_signed_prekey(Query& q, e2e::SignedPreKey& out) {
  const int rc = q.step();
  if (rc == SQLITE_DONE) return ClientStoreError::kNotFound;
  if (rc != SQLITE_ROW) return from_sqlite(rc);
  e2e::SignedPreKey k;
  std::string secret;
  k.id = static_cast<std::uint32_t>(q.int64_at(0));
  const bool ok = copy_exact(q.blob_at(1), k.pair.public_key) && unseal(q.blob_at(2), secret) &&
                  copy_exact(secret, k.pair.secret_key) && copy_exact(q.blob_at(3), k.signature);
  wipe(secret);
  if (ok) out = k;
  sodium_memzero(k.pair.secret_key.data(), k.pair.secret_key.size());
  return ok ? ClientStoreError::kOk : ClientStoreError::kCorrupt;
}

ClientStoreError ClientStore::load_signed_prekey(std::uint32_t id, e2e::SignedPreKey& out) {
  XD_QUERY(q, "SELECT id, public_key, secret, signature FROM signed_prekeys WHERE id = ?1");
  q.int64(1, id);
  return read_signed_prekey(q, out);
}

ClientStoreError ClientStore::current_signed_prekey(e2e::SignedPreKey& out) {
  XD_QUERY(q,
           "SELECT id, public_key, secret, signature FROM signed_prekeys "
           "ORDER BY id DESC LIMIT 1");
  return read_signed_prekey(q, out);
}

ClientStoreError ClientStore::read_ids(Query& q, std::vector<std::uint32_t>& out) {
  std::vector<std::uint32_t> ids;
  for (int rc = q.step(); rc != SQLITE_DONE; rc = q.step()) {
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    ids.push_back(static_cast<std::uint32_t>(q.int64_at(0)));
  }
  out = std::move(ids);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::delete_signed_prekey(std::uint32_t id) {
  XD_QUERY(q, "DELETE FROM signed_prekeys WHERE id = ?1");
  q.int64(1, id);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

ClientStoreError ClientStore::signed_prekey_ids(std::vector<std::uint32_t>& out) {
  XD_QUERY(q, "SELECT id FROM signed_prekeys ORDER BY id");
  return read_ids(q, out);
}

ClientStoreError ClientStore::prune_signed_prekeys(std::int64_t replaced_before_ms, int& deleted) {
  // A key's replacement time is the creation time of the next higher id.
  XD_QUERY(q,
           "DELETE FROM signed_prekeys WHERE "
           "id < (SELECT MAX(id) FROM signed_prekeys) AND "
           "(SELECT n.created_ms FROM signed_prekeys AS n WHERE n.id > signed_prekeys.id "
           " ORDER BY n.id LIMIT 1) <= ?1");
  q.int64(1, replaced_before_ms);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  deleted = sqlite3_changes(db_);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::next_signed_prekey_id(std::uint32_t& out) {
  return next_id("next_signed_prekey_id", 1, out);
}

// --- One-time prekeys --------------------------------------------------

ClientStoreError ClientStore::save_one_time_prekeys(const std::vector<e2e::OneTimePreKey>& keys) {
  for (const auto& k : keys) {
    if (k.id == 0) return ClientStoreError::kInvalid;
  }
  return atomically([&]() -> ClientStoreError {
    XD_QUERY(q,
             "INSERT INTO one_time_prekeys (id, public_key, secret) VALUES (?1, ?2, ?3) "
             "ON CONFLICT (id) DO NOTHING");
    for (const auto& k : keys) {
      q.int64(1, k.id);
      q.blob(2, as_view(k.pair.public_key.data(), k.pair.public_key.size()));
      q.blob(3, seal(as_view(k.pair.secret_key.data(), k.pair.secret_key.size())));
      if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
      if (sqlite3_changes(db_) == 0) return ClientStoreError::kExists;
      sqlite3_reset(q_stmt);
    }
    return ClientStoreError::kOk;
  });
}

ClientStoreError ClientStore::load_one_time_prekey(std::uint32_t id, e2e::OneTimePreKey& out) {
  XD_QUERY(q, "SELECT public_key, secret FROM one_time_prekeys WHERE id = ?1");
  q.int64(1, id);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return ClientStoreError::kNotFound;
  if (rc != SQLITE_ROW) return from_sqlite(rc);
  e2e::OneTimePreKey k;
  k.id = id;
  std::string secret;
  const bool ok = copy_exact(q.blob_at(0), k.pair.public_key) && unseal(q.blob_at(1), secret) &&
                  copy_exact(secret, k.pair.secret_key);
  wipe(secret);
  if (!ok) return ClientStoreError::kCorrupt;
  out = k;
  sodium_memzero(k.pair.secret_key.data(), k.pair.secret_key.size());
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::delete_one_time_prekey(std::uint32_t id) {
  XD_QUERY(q, "DELETE FROM one_time_prekeys WHERE id = ?1");
  q.int64(1, id);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

ClientStoreError ClientStore::one_time_prekey_ids(std::vector<std::uint32_t>& out) {
  XD_QUERY(q, "SELECT id FROM one_time_prekeys ORDER BY id");
  return read_ids(q, out);
}

ClientStoreError ClientStore::next_prekey_id(std::uint32_t& first, std::uint32_t count) {
  return next_id("next_prekey_id", count, first);
}

// --- Sessions ----------------------------------------------------------

ClientStoreError ClientStore::save_session(std::string_view peer, std::uint32_t device,
                                           std::string_view state) {
  XD_QUERY(q,
           "INSERT INTO sessions (peer, device, state) VALUES (?1, ?2, ?3) "
           "ON CONFLICT (peer, device) DO UPDATE SET state = excluded.state");
  q.text(1, peer);
  q.int64(2, device);
  q.blob(3, seal(state));
  return q.run();
}

ClientStoreError ClientStore::load_session(std::string_view peer, std::uint32_t device,
                                           std::string& state) {
  XD_QUERY(q, "SELECT state FROM sessions WHERE peer = ?1 AND device = ?2");
  q.text(1, peer);
  q.int64(2, device);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return ClientStoreError::kNotFound;
  if (rc != SQLITE_ROW) return from_sqlite(rc);
  return unseal(q.blob_at(0), state) ? ClientStoreError::kOk : ClientStoreError::kCorrupt;
}

ClientStoreError ClientStore::delete_session(std::string_view peer, std::uint32_t device) {
  XD_QUERY(q, "DELETE FROM sessions WHERE peer = ?1 AND device = ?2");
  q.text(1, peer);
  q.int64(2, device);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

ClientStoreError ClientStore::session_devices(std::string_view peer,
                                              std::vector<std::uint32_t>& out) {
  XD_QUERY(q, "SELECT device FROM sessions WHERE peer = ?1 ORDER BY device");
  q.text(1, peer);
  std::vector<std::uint32_t> devices;
  for (int rc = q.step(); rc != SQLITE_DONE; rc = q.step()) {
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    devices.push_back(static_cast<std::uint32_t>(q.int64_at(0)));
  }
  out = std::move(devices);
  return ClientStoreError::kOk;
}

// --- Known devices -----------------------------------------------------

ClientStoreError ClientStore::remember_identity(std::string_view peer, std::uint32_t device,
                                                const e2e::Key32& identity, std::int64_t now_ms) {
  const std::string_view key = as_view(identity.data(), identity.size());
  return atomically([&]() -> ClientStoreError {
    XD_QUERY(q,
             "INSERT INTO devices (peer, device, identity_key, first_seen_ms, trusted) "
             "VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT (peer, device) DO NOTHING");
    q.text(1, peer);
    q.int64(2, device);
    q.blob(3, key);
    q.int64(4, now_ms);
    if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
    if (sqlite3_changes(db_) == 1) return ClientStoreError::kOk;
    XD_QUERY(s, "SELECT identity_key FROM devices WHERE peer = ?1 AND device = ?2");
    s.text(1, peer);
    s.int64(2, device);
    const int rc = s.step();
    if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? ClientStoreError::kCorrupt : from_sqlite(rc);
    return s.blob_at(0) == key ? ClientStoreError::kOk : ClientStoreError::kIdentityChanged;
  });
}

ClientStoreError ClientStore::replace_identity(std::string_view peer, std::uint32_t device,
                                               const e2e::Key32& identity, std::int64_t now_ms) {
  XD_QUERY(q,
           "INSERT INTO devices (peer, device, identity_key, first_seen_ms, trusted) "
           "VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT (peer, device) DO UPDATE SET "
           "identity_key = excluded.identity_key, first_seen_ms = excluded.first_seen_ms, "
           "trusted = 0");
  q.text(1, peer);
  q.int64(2, device);
  q.blob(3, as_view(identity.data(), identity.size()));
  q.int64(4, now_ms);
  return q.run();
}

ClientStoreError ClientStore::set_trusted(std::string_view peer, std::uint32_t device,
                                          bool trusted) {
  XD_QUERY(q, "UPDATE devices SET trusted = ?3 WHERE peer = ?1 AND device = ?2");
  q.text(1, peer);
  q.int64(2, device);
  q.int64(3, trusted ? 1 : 0);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

ClientStoreError ClientStore::load_known_device(std::string_view peer, std::uint32_t device,
                                                KnownDevice& out) {
  std::vector<KnownDevice> all;
  if (const auto e = known_devices(peer, all); e != ClientStoreError::kOk) return e;
  for (auto& d : all) {
    if (d.device == device) {
      out = std::move(d);
      return ClientStoreError::kOk;
    }
  }
  return ClientStoreError::kNotFound;
}

ClientStoreError ClientStore::known_devices(std::string_view peer, std::vector<KnownDevice>& out) {
  XD_QUERY(q,
           "SELECT device, identity_key, first_seen_ms, trusted FROM devices "
           "WHERE peer = ?1 ORDER BY device");
  q.text(1, peer);
  std::vector<KnownDevice> devices;
  for (int rc = q.step(); rc != SQLITE_DONE; rc = q.step()) {
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    KnownDevice d;
    d.peer = std::string(peer);
    d.device = static_cast<std::uint32_t>(q.int64_at(0));
    if (!copy_exact(q.blob_at(1), d.identity_key)) return ClientStoreError::kCorrupt;
    d.first_seen_ms = q.int64_at(2);
    d.trusted = q.int64_at(3) != 0;
    devices.push_back(std::move(d));
  }
  out = std::move(devices);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::forget_device(std::string_view peer, std::uint32_t device) {
  XD_QUERY(q, "DELETE FROM devices WHERE peer = ?1 AND device = ?2");
  q.text(1, peer);
  q.int64(2, device);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

// --- Contacts ----------------------------------------------------------

ClientStoreError ClientStore::add_contact(std::string_view jid, std::string_view name) {
  if (jid.empty()) return ClientStoreError::kInvalid;
  XD_QUERY(q,
           "INSERT INTO contacts (jid, name) VALUES (?1, ?2) "
           "ON CONFLICT (jid) DO UPDATE SET name = excluded.name");
  q.text(1, jid);
  q.text(2, name);
  return q.run();
}

ClientStoreError ClientStore::remove_contact(std::string_view jid) {
  XD_QUERY(q, "DELETE FROM contacts WHERE jid = ?1");
  q.text(1, jid);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

ClientStoreError ClientStore::contacts(std::vector<Contact>& out) {
  XD_QUERY(q, "SELECT jid, name FROM contacts ORDER BY jid");
  std::vector<Contact> list;
  for (int rc = q.step(); rc != SQLITE_DONE; rc = q.step()) {
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    list.push_back(Contact{std::string(q.text_at(0)), std::string(q.text_at(1))});
  }
  out = std::move(list);
  return ClientStoreError::kOk;
}

// --- Messages ----------------------------------------------------------

#define XD_MESSAGE_COLUMNS                                                                        \
  "SELECT id, peer, direction, origin_id, stanza_id, body, encrypted, state, wire, ts_ms, error " \
  "FROM messages "

ClientStoreError ClientStore::read_messages(Query& q, std::vector<StoredMessage>& out) {
  std::vector<StoredMessage> list;
  for (int rc = q.step(); rc != SQLITE_DONE; rc = q.step()) {
    if (rc != SQLITE_ROW) return from_sqlite(rc);
    StoredMessage m;
    m.id = q.int64_at(0);
    m.peer = std::string(q.text_at(1));
    const std::string_view dir = q.text_at(2);
    if (dir == "in") {
      m.direction = MessageDirection::kIn;
    } else if (dir == "out") {
      m.direction = MessageDirection::kOut;
    } else {
      return ClientStoreError::kCorrupt;
    }
    m.origin_id = std::string(q.text_at(3));
    m.stanza_id = std::string(q.text_at(4));
    m.body = std::string(q.text_at(5));
    m.encrypted = q.int64_at(6) != 0;
    if (!parse_message_state(q.text_at(7), m.state)) return ClientStoreError::kCorrupt;
    m.wire = std::string(q.text_at(8));
    m.ts_ms = q.int64_at(9);
    m.error = std::string(q.text_at(10));
    list.push_back(std::move(m));
  }
  out = std::move(list);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::add_outgoing(std::string_view peer, std::string_view origin_id,
                                           std::string_view body, bool encrypted,
                                           std::string_view wire, std::int64_t ts_ms,
                                           std::int64_t* id) {
  if (peer.empty() || origin_id.empty() || wire.empty()) return ClientStoreError::kInvalid;
  XD_QUERY(q,
           "INSERT INTO messages (peer, direction, origin_id, body, encrypted, state, wire, "
           "ts_ms) VALUES (?1, 'out', ?2, ?3, ?4, 'queued', ?5, ?6) "
           "ON CONFLICT (peer, direction, origin_id) DO NOTHING");
  q.text(1, peer);
  q.text(2, origin_id);
  q.text(3, body);
  q.int64(4, encrypted ? 1 : 0);
  q.text(5, wire);
  q.int64(6, ts_ms);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  if (sqlite3_changes(db_) == 0) return ClientStoreError::kExists;
  if (id) *id = sqlite3_last_insert_rowid(db_);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::add_sent_copy(std::string_view peer, std::string_view origin_id,
                                            std::string_view body, bool encrypted,
                                            std::int64_t ts_ms) {
  if (peer.empty() || origin_id.empty()) return ClientStoreError::kInvalid;
  XD_QUERY(q,
           "INSERT INTO messages (peer, direction, origin_id, body, encrypted, state, ts_ms) "
           "VALUES (?1, 'out', ?2, ?3, ?4, 'sent', ?5) "
           "ON CONFLICT (peer, direction, origin_id) DO NOTHING");
  q.text(1, peer);
  q.text(2, origin_id);
  q.text(3, body);
  q.int64(4, encrypted ? 1 : 0);
  q.int64(5, ts_ms);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kExists : ClientStoreError::kOk;
}

ClientStoreError ClientStore::outbox(std::vector<StoredMessage>& out) {
  XD_QUERY(q, XD_MESSAGE_COLUMNS "WHERE state = 'queued' ORDER BY id");
  return read_messages(q, out);
}

ClientStoreError ClientStore::mark_state(std::string_view peer, std::string_view origin_id,
                                         MessageState state, bool& changed,
                                         std::string_view error) {
  changed = false;
  const std::string_view dir = direction_name(
      message_state_is_outgoing(state) ? MessageDirection::kOut : MessageDirection::kIn);
  // The states |state| may be reached from (at most four), bound as
  // parameters; unused slots stay NULL, which IN never matches.
  std::vector<std::string_view> from;
  for (const MessageState s :
       {MessageState::kQueued, MessageState::kSent, MessageState::kDelivered, MessageState::kRead,
        MessageState::kFailed, MessageState::kReceived, MessageState::kDisplayed}) {
    if (message_state_can_move(s, state)) from.push_back(message_state_name(s));
  }
  {
    XD_QUERY(q,
             "UPDATE messages SET state = ?1, "
             "wire = CASE WHEN ?1 IN ('sent', 'delivered', 'read') THEN NULL ELSE wire END, "
             "error = CASE WHEN ?1 = 'failed' THEN ?2 "
             "WHEN ?1 IN ('delivered', 'read') THEN NULL ELSE error END "
             "WHERE direction = ?3 AND origin_id = ?4 AND (?5 = '' OR peer = ?5) "
             "AND state IN (?6, ?7, ?8, ?9)");
    q.text(1, message_state_name(state));
    q.text_or_null(2, error);
    q.text(3, dir);
    q.text(4, origin_id);
    q.text(5, peer);
    for (int i = 0; i < 4; ++i) {
      if (static_cast<std::size_t>(i) < from.size()) {
        q.text(6 + i, from[static_cast<std::size_t>(i)]);
      } else {
        q.null(6 + i);
      }
    }
    if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
    if (sqlite3_changes(db_) > 0) {
      changed = true;
      return ClientStoreError::kOk;
    }
  }
  XD_QUERY(s,
           "SELECT 1 FROM messages WHERE direction = ?1 AND origin_id = ?2 "
           "AND (?3 = '' OR peer = ?3) LIMIT 1");
  s.text(1, dir);
  s.text(2, origin_id);
  s.text(3, peer);
  const int rc = s.step();
  if (rc == SQLITE_ROW) return ClientStoreError::kOk;
  return rc == SQLITE_DONE ? ClientStoreError::kNotFound : from_sqlite(rc);
}

ClientStoreError ClientStore::add_incoming(std::string_view peer, std::string_view origin_id,
                                           std::string_view stanza_id, std::string_view body,
                                           bool encrypted, std::int64_t ts_ms, std::int64_t* id) {
  if (peer.empty() || origin_id.empty()) return ClientStoreError::kInvalid;
  XD_QUERY(q,
           "INSERT INTO messages (peer, direction, origin_id, stanza_id, body, encrypted, "
           "state, ts_ms) VALUES (?1, 'in', ?2, ?3, ?4, ?5, 'received', ?6) "
           "ON CONFLICT (peer, direction, origin_id) DO NOTHING");
  q.text(1, peer);
  q.text(2, origin_id);
  q.text_or_null(3, stanza_id);
  q.text(4, body);
  q.int64(5, encrypted ? 1 : 0);
  q.int64(6, ts_ms);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  if (sqlite3_changes(db_) == 0) return ClientStoreError::kExists;
  if (id) *id = sqlite3_last_insert_rowid(db_);
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::set_stanza_id(std::string_view peer, MessageDirection direction,
                                            std::string_view origin_id,
                                            std::string_view stanza_id) {
  XD_QUERY(q,
           "UPDATE messages SET stanza_id = ?4 "
           "WHERE peer = ?1 AND direction = ?2 AND origin_id = ?3");
  q.text(1, peer);
  q.text(2, direction_name(direction));
  q.text(3, origin_id);
  q.text_or_null(4, stanza_id);
  if (const auto e = q.run(); e != ClientStoreError::kOk) return e;
  return sqlite3_changes(db_) == 0 ? ClientStoreError::kNotFound : ClientStoreError::kOk;
}

ClientStoreError ClientStore::history(std::string_view peer, int limit,
                                      std::vector<StoredMessage>& out) {
  if (limit < 1) return ClientStoreError::kInvalid;
  XD_QUERY(q, XD_MESSAGE_COLUMNS "WHERE peer = ?1 ORDER BY ts_ms DESC, id DESC LIMIT ?2");
  q.text(1, peer);
  q.int64(2, limit);
  if (const auto e = read_messages(q, out); e != ClientStoreError::kOk) return e;
  std::reverse(out.begin(), out.end());
  return ClientStoreError::kOk;
}

ClientStoreError ClientStore::find(std::string_view origin_id, StoredMessage& out,
                                   std::string_view peer) {
  XD_QUERY(q, XD_MESSAGE_COLUMNS
           "WHERE origin_id = ?1 AND (?2 = '' OR peer = ?2) "
           "ORDER BY id LIMIT 1");
  q.text(1, origin_id);
  q.text(2, peer);
  std::vector<StoredMessage> found;
  if (const auto e = read_messages(q, found); e != ClientStoreError::kOk) return e;
  if (found.empty()) return ClientStoreError::kNotFound;
  out = std::move(found.front());
  return ClientStoreError::kOk;
}

#undef XD_MESSAGE_COLUMNS
#undef XD_QUERY

}  // namespace xd::client
