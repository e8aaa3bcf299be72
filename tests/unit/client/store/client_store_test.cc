// The client store (client/store/client_store.h) against real SQLite files
// in a temp dir: modes, the storage-key check, survival across reopen,
// secrets absent from the database and its WAL, forward-only message
// states, duplicate detection across restarts, transactions, the outbox.
#include "client/store/client_store.h"

#include <doctest/doctest.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace xd::client {

inline doctest::String toString(ClientStoreError e) {
  return doctest::String(client_store_error_name(e).data(),
                         static_cast<unsigned>(client_store_error_name(e).size()));
}

namespace {

namespace e2e = protocol::e2e;
using E = ClientStoreError;
using namespace std::string_literals;

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/xd_cstore_XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

StorageKey random_key() {
  REQUIRE(sodium_init() >= 0);
  StorageKey k;
  randombytes_buf(k.data(), k.size());
  return k;
}

template <std::size_t N>
std::array<std::uint8_t, N> random_bytes() {
  std::array<std::uint8_t, N> a{};
  randombytes_buf(a.data(), a.size());
  return a;
}

template <std::size_t N>
std::string as_string(const std::array<std::uint8_t, N>& a) {
  return std::string(reinterpret_cast<const char*>(a.data()), N);
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The database file plus its WAL, as an attacker reading the disk sees them.
std::string disk_bytes(const std::string& db) { return read_file(db) + read_file(db + "-wal"); }

std::unique_ptr<ClientStore> open_store(const std::string& path, const StorageKey& key) {
  std::unique_ptr<ClientStore> s;
  REQUIRE(ClientStore::open(path, key, s) == E::kOk);
  REQUIRE(s != nullptr);
  return s;
}

e2e::IdentityKeyPair random_identity() {
  e2e::IdentityKeyPair p;
  p.public_key = random_bytes<32>();
  p.secret_key = random_bytes<64>();
  return p;
}

e2e::SignedPreKey random_signed_prekey(std::uint32_t id) {
  e2e::SignedPreKey k;
  k.id = id;
  k.pair.public_key = random_bytes<32>();
  k.pair.secret_key = random_bytes<32>();
  k.signature = random_bytes<64>();
  return k;
}

e2e::OneTimePreKey random_prekey(std::uint32_t id) {
  e2e::OneTimePreKey k;
  k.id = id;
  k.pair.public_key = random_bytes<32>();
  k.pair.secret_key = random_bytes<32>();
  return k;
}

StoredMessage find_or_fail(ClientStore& s, std::string_view origin_id, std::string_view peer = {}) {
  StoredMessage m;
  REQUIRE(s.find(origin_id, m, peer) == E::kOk);
  return m;
}

}  // namespace

TEST_CASE("client_store: a new database is 0600 in a 0700 directory, WAL included") {
  TempDir tmp;
  const std::string db = tmp.path + "/acct/client.db";
  const StorageKey key = random_key();
  auto s = open_store(db, key);
  CHECK(mode_of(tmp.path + "/acct") == 0700);
  CHECK(mode_of(db) == 0600);
  REQUIRE(s->add_contact("bob@example.org", "Bob") == E::kOk);
  REQUIRE(std::filesystem::exists(db + "-wal"));
  CHECK(mode_of(db + "-wal") == 0600);
  CHECK(mode_of(db + "-shm") == 0600);
  CHECK(ClientStore::schema_version() == 1);
}

TEST_CASE("client_store: wrong key, group-readable file and a non-database are refused") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  { open_store(db, key); }
  std::unique_ptr<ClientStore> s;
  CHECK(ClientStore::open(db, random_key(), s) == E::kWrongKey);
  CHECK(s == nullptr);

  REQUIRE(::chmod(db.c_str(), 0640) == 0);
  CHECK(ClientStore::open(db, key, s) == E::kPermissions);
  REQUIRE(::chmod(db.c_str(), 0600) == 0);
  CHECK(ClientStore::open(db, key, s) == E::kOk);
  s.reset();

  const std::string junk = tmp.path + "/junk.db";
  {
    std::ofstream out(junk, std::ios::binary);
    out << std::string(4096, 'x');
  }
  REQUIRE(::chmod(junk.c_str(), 0600) == 0);
  CHECK(ClientStore::open(junk, key, s) == E::kCorrupt);
  CHECK(ClientStore::open(tmp.path, key, s) == E::kPermissions);  // a directory
}

TEST_CASE("client_store: account, keys and sessions survive a reopen") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  const auto identity = random_identity();
  const auto spk = random_signed_prekey(1);
  const std::vector<e2e::OneTimePreKey> pks = {random_prekey(1), random_prekey(2),
                                               random_prekey(3)};
  const std::string session = "ratchet-state\0with-nul"s;
  {
    auto s = open_store(db, key);
    std::uint32_t dev = 0;
    CHECK(s->device(dev) == E::kNotFound);
    CHECK(s->set_device(0) == E::kInvalid);
    CHECK(s->set_device(0x80000000u) == E::kInvalid);
    REQUIRE(s->set_device(12345) == E::kOk);
    e2e::IdentityKeyPair none;
    CHECK(s->load_identity(none) == E::kNotFound);
    REQUIRE(s->save_identity(identity) == E::kOk);
    REQUIRE(s->save_signed_prekey(spk, 1000) == E::kOk);
    REQUIRE(s->save_one_time_prekeys(pks) == E::kOk);
    REQUIRE(s->save_session("bob@example.org", 7, session) == E::kOk);
    REQUIRE(s->save_session("bob@example.org", 3, "other") == E::kOk);
  }
  auto s = open_store(db, key);
  std::uint32_t dev = 0;
  REQUIRE(s->device(dev) == E::kOk);
  CHECK(dev == 12345);
  e2e::IdentityKeyPair id;
  REQUIRE(s->load_identity(id) == E::kOk);
  CHECK(id.public_key == identity.public_key);
  CHECK(id.secret_key == identity.secret_key);

  e2e::SignedPreKey got;
  REQUIRE(s->load_signed_prekey(1, got) == E::kOk);
  CHECK(got.id == 1);
  CHECK(got.pair.public_key == spk.pair.public_key);
  CHECK(got.pair.secret_key == spk.pair.secret_key);
  CHECK(got.signature == spk.signature);

  std::vector<std::uint32_t> ids;
  REQUIRE(s->one_time_prekey_ids(ids) == E::kOk);
  CHECK(ids == std::vector<std::uint32_t>{1, 2, 3});
  e2e::OneTimePreKey pk;
  REQUIRE(s->load_one_time_prekey(2, pk) == E::kOk);
  CHECK(pk.id == 2);
  CHECK(pk.pair.public_key == pks[1].pair.public_key);
  CHECK(pk.pair.secret_key == pks[1].pair.secret_key);

  std::string state;
  REQUIRE(s->load_session("bob@example.org", 7, state) == E::kOk);
  CHECK(state == session);
  std::vector<std::uint32_t> devices;
  REQUIRE(s->session_devices("bob@example.org", devices) == E::kOk);
  CHECK(devices == std::vector<std::uint32_t>{3, 7});
  REQUIRE(s->save_session("bob@example.org", 7, "advanced") == E::kOk);
  REQUIRE(s->load_session("bob@example.org", 7, state) == E::kOk);
  CHECK(state == "advanced");
  CHECK(s->delete_session("bob@example.org", 3) == E::kOk);
  CHECK(s->delete_session("bob@example.org", 3) == E::kNotFound);
  CHECK(s->load_session("bob@example.org", 3, state) == E::kNotFound);
  CHECK(s->load_session("carol@example.org", 7, state) == E::kNotFound);
}

TEST_CASE("client_store: a write that returned kOk survives the process dying at once") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  { open_store(db, key); }
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child writes and dies without closing: no checkpoint, no
    // destructor; only the fsync()ed WAL holds the rows.
    std::unique_ptr<ClientStore> s;
    if (ClientStore::open(db, key, s) != E::kOk) ::_exit(2);
    if (s->add_outgoing("bob@example.org", "crash-1", "x", true, "<w/>", 1) != E::kOk) ::_exit(3);
    if (s->save_session("bob@example.org", 7, "after") != E::kOk) ::_exit(4);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto s = open_store(db, key);
  std::vector<StoredMessage> out;
  REQUIRE(s->outbox(out) == E::kOk);
  REQUIRE(out.size() == 1);
  CHECK(out[0].origin_id == "crash-1");
  std::string state;
  REQUIRE(s->load_session("bob@example.org", 7, state) == E::kOk);
  CHECK(state == "after");
}

TEST_CASE("client_store: private keys and session state never reach the disk in the clear") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  const auto identity = random_identity();
  const auto spk = random_signed_prekey(1);
  const auto pk = random_prekey(1);
  const std::string session = "SESSION-" + as_string(random_bytes<32>());
  const std::string marker = "visible-contact-name-" + std::to_string(randombytes_random());

  auto check_disk = [&](const std::string& bytes) {
    // The positive control: plain data is found, so the scan reads the
    // right files.
    CHECK(bytes.find(marker) != std::string::npos);
    CHECK(bytes.find(as_string(identity.secret_key)) == std::string::npos);
    CHECK(bytes.find(as_string(identity.secret_key).substr(0, 32)) == std::string::npos);
    CHECK(bytes.find(as_string(spk.pair.secret_key)) == std::string::npos);
    CHECK(bytes.find(as_string(pk.pair.secret_key)) == std::string::npos);
    CHECK(bytes.find(session) == std::string::npos);
    CHECK(bytes.find("SESSION-") == std::string::npos);
    CHECK(bytes.find(std::string(reinterpret_cast<const char*>(key.data()), 32)) ==
          std::string::npos);
  };
  {
    auto s = open_store(db, key);
    REQUIRE(s->add_contact("bob@example.org", marker) == E::kOk);
    REQUIRE(s->save_identity(identity) == E::kOk);
    REQUIRE(s->save_signed_prekey(spk, 1) == E::kOk);
    REQUIRE(s->save_one_time_prekeys({pk}) == E::kOk);
    REQUIRE(s->save_session("bob@example.org", 7, session) == E::kOk);
    // While open, the writes sit in the WAL.
    REQUIRE(std::filesystem::file_size(db + "-wal") > 0);
    check_disk(disk_bytes(db));
  }
  // After close the WAL is checkpointed into the main file.
  check_disk(disk_bytes(db));
}

TEST_CASE("client_store: one-time prekeys: ids, batches all or nothing, deletion") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  {
    auto s = open_store(db, key);
    std::uint32_t first = 0;
    REQUIRE(s->next_prekey_id(first, 10) == E::kOk);
    CHECK(first == 1);
    REQUIRE(s->next_prekey_id(first) == E::kOk);
    CHECK(first == 11);
    CHECK(s->next_prekey_id(first, 0) == E::kInvalid);
    REQUIRE(s->save_one_time_prekeys({random_prekey(1), random_prekey(2)}) == E::kOk);
    // One duplicate id in a batch: nothing of the batch is stored.
    CHECK(s->save_one_time_prekeys({random_prekey(3), random_prekey(2)}) == E::kExists);
    CHECK(s->save_one_time_prekeys({random_prekey(0)}) == E::kInvalid);
    std::vector<std::uint32_t> ids;
    REQUIRE(s->one_time_prekey_ids(ids) == E::kOk);
    CHECK(ids == std::vector<std::uint32_t>{1, 2});
    CHECK(s->delete_one_time_prekey(1) == E::kOk);
    CHECK(s->delete_one_time_prekey(1) == E::kNotFound);
    e2e::OneTimePreKey k;
    CHECK(s->load_one_time_prekey(1, k) == E::kNotFound);
  }
  auto s = open_store(db, key);
  std::uint32_t first = 0;
  REQUIRE(s->next_prekey_id(first) == E::kOk);
  CHECK(first == 12);  // never reused across restarts and deletions
  std::vector<std::uint32_t> ids;
  REQUIRE(s->one_time_prekey_ids(ids) == E::kOk);
  CHECK(ids == std::vector<std::uint32_t>{2});
}

TEST_CASE("client_store: signed prekeys: current, previous kept for a while, pruning") {
  TempDir tmp;
  auto s = open_store(tmp.path + "/client.db", random_key());
  e2e::SignedPreKey cur;
  CHECK(s->current_signed_prekey(cur) == E::kNotFound);
  std::uint32_t a = 0, b = 0, c = 0;
  REQUIRE(s->next_signed_prekey_id(a) == E::kOk);
  REQUIRE(s->next_signed_prekey_id(b) == E::kOk);
  REQUIRE(s->next_signed_prekey_id(c) == E::kOk);
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(c == 3);
  const auto ka = random_signed_prekey(a);
  const auto kb = random_signed_prekey(b);
  const auto kc = random_signed_prekey(c);
  REQUIRE(s->save_signed_prekey(ka, 1000) == E::kOk);
  REQUIRE(s->save_signed_prekey(kb, 2000) == E::kOk);
  REQUIRE(s->save_signed_prekey(kc, 3000) == E::kOk);
  CHECK(s->save_signed_prekey(random_signed_prekey(b), 5000) == E::kExists);
  CHECK(s->save_signed_prekey(random_signed_prekey(0), 5000) == E::kInvalid);
  REQUIRE(s->current_signed_prekey(cur) == E::kOk);
  CHECK(cur.id == c);
  CHECK(cur.pair.secret_key == kc.pair.secret_key);

  int deleted = -1;
  // a was replaced at 2000, b at 3000; c is current.
  REQUIRE(s->prune_signed_prekeys(1999, deleted) == E::kOk);
  CHECK(deleted == 0);
  REQUIRE(s->prune_signed_prekeys(2000, deleted) == E::kOk);
  CHECK(deleted == 1);
  std::vector<std::uint32_t> ids;
  REQUIRE(s->signed_prekey_ids(ids) == E::kOk);
  CHECK(ids == std::vector<std::uint32_t>{b, c});
  REQUIRE(s->prune_signed_prekeys(1'000'000, deleted) == E::kOk);
  CHECK(deleted == 1);
  REQUIRE(s->signed_prekey_ids(ids) == E::kOk);
  CHECK(ids == std::vector<std::uint32_t>{c});  // the current one always stays
  CHECK(s->delete_signed_prekey(c) == E::kOk);
  CHECK(s->delete_signed_prekey(c) == E::kNotFound);
}

TEST_CASE("client_store: trust on first use of peer identities") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  const auto k1 = random_bytes<32>();
  const auto k2 = random_bytes<32>();
  {
    auto s = open_store(db, key);
    CHECK(s->remember_identity("bob@example.org", 7, k1, 100) == E::kOk);
    CHECK(s->remember_identity("bob@example.org", 7, k1, 200) == E::kOk);
    CHECK(s->remember_identity("bob@example.org", 8, k2, 300) == E::kOk);
    CHECK(s->set_trusted("bob@example.org", 7, true) == E::kOk);
    CHECK(s->set_trusted("bob@example.org", 9, true) == E::kNotFound);
  }
  auto s = open_store(db, key);
  CHECK(s->remember_identity("bob@example.org", 7, k2, 400) == E::kIdentityChanged);
  KnownDevice d;
  REQUIRE(s->load_known_device("bob@example.org", 7, d) == E::kOk);
  CHECK(d.identity_key == k1);  // the stored key is kept
  CHECK(d.first_seen_ms == 100);
  CHECK(d.trusted);
  // The user accepts the new key: it replaces the old one, untrusted.
  REQUIRE(s->replace_identity("bob@example.org", 7, k2, 500) == E::kOk);
  REQUIRE(s->load_known_device("bob@example.org", 7, d) == E::kOk);
  CHECK(d.identity_key == k2);
  CHECK(d.first_seen_ms == 500);
  CHECK_FALSE(d.trusted);
  CHECK(s->remember_identity("bob@example.org", 7, k2, 600) == E::kOk);

  std::vector<KnownDevice> all;
  REQUIRE(s->known_devices("bob@example.org", all) == E::kOk);
  REQUIRE(all.size() == 2);
  CHECK(all[0].device == 7);
  CHECK(all[1].device == 8);
  CHECK(all[1].peer == "bob@example.org");
  CHECK(s->forget_device("bob@example.org", 8) == E::kOk);
  CHECK(s->forget_device("bob@example.org", 8) == E::kNotFound);
  CHECK(s->load_known_device("bob@example.org", 8, d) == E::kNotFound);
  REQUIRE(s->known_devices("carol@example.org", all) == E::kOk);
  CHECK(all.empty());
}

TEST_CASE("client_store: contacts") {
  TempDir tmp;
  auto s = open_store(tmp.path + "/client.db", random_key());
  REQUIRE(s->add_contact("carol@example.org", "Carol") == E::kOk);
  REQUIRE(s->add_contact("bob@example.org", "Bob") == E::kOk);
  REQUIRE(s->add_contact("bob@example.org", "Robert") == E::kOk);
  CHECK(s->add_contact("", "x") == E::kInvalid);
  std::vector<Contact> list;
  REQUIRE(s->contacts(list) == E::kOk);
  REQUIRE(list.size() == 2);
  CHECK(list[0].jid == "bob@example.org");
  CHECK(list[0].name == "Robert");
  CHECK(list[1].jid == "carol@example.org");
  CHECK(s->remove_contact("carol@example.org") == E::kOk);
  CHECK(s->remove_contact("carol@example.org") == E::kNotFound);
  REQUIRE(s->contacts(list) == E::kOk);
  CHECK(list.size() == 1);
}

TEST_CASE("client_store: the outbox keeps insertion order and survives a reopen") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  {
    auto s = open_store(db, key);
    std::int64_t id1 = 0, id2 = 0;
    // Timestamps deliberately out of order: the outbox follows insertion.
    REQUIRE(s->add_outgoing("bob@example.org", "o1", "one", true, "<message id='o1'/>", 300,
                            &id1) == E::kOk);
    REQUIRE(s->add_outgoing("carol@example.org", "o2", "two", false, "<message id='o2'/>", 100,
                            &id2) == E::kOk);
    REQUIRE(s->add_outgoing("bob@example.org", "o3", "three", true, "<message id='o3'/>", 200) ==
            E::kOk);
    CHECK(id2 > id1);
    CHECK(s->add_outgoing("bob@example.org", "o1", "again", true, "<x/>", 400) == E::kExists);
    CHECK(s->add_outgoing("", "o9", "x", true, "<x/>", 1) == E::kInvalid);
    CHECK(s->add_outgoing("bob@example.org", "", "x", true, "<x/>", 1) == E::kInvalid);
    CHECK(s->add_outgoing("bob@example.org", "o9", "x", true, "", 1) == E::kInvalid);
    // The same origin id to another peer is a different message.
    REQUIRE(s->add_outgoing("dave@example.org", "o1", "d", false, "<message id='o1'/>", 500) ==
            E::kOk);
  }
  auto s = open_store(db, key);
  std::vector<StoredMessage> out;
  REQUIRE(s->outbox(out) == E::kOk);
  REQUIRE(out.size() == 4);
  CHECK(out[0].origin_id == "o1");
  CHECK(out[0].peer == "bob@example.org");
  CHECK(out[0].wire == "<message id='o1'/>");
  CHECK(out[0].body == "one");
  CHECK(out[0].encrypted);
  CHECK(out[0].direction == MessageDirection::kOut);
  CHECK(out[0].state == MessageState::kQueued);
  CHECK(out[1].origin_id == "o2");
  CHECK(out[2].origin_id == "o3");
  CHECK(out[3].peer == "dave@example.org");

  bool changed = false;
  REQUIRE(s->mark_state("carol@example.org", "o2", MessageState::kSent, changed) == E::kOk);
  CHECK(changed);
  REQUIRE(s->outbox(out) == E::kOk);
  REQUIRE(out.size() == 3);
  CHECK(out[0].origin_id == "o1");
  CHECK(out[1].origin_id == "o3");
  // Once sent, the wire copy is gone.
  CHECK(find_or_fail(*s, "o2").wire.empty());
}

TEST_CASE("client_store: message states only move forward") {
  TempDir tmp;
  auto s = open_store(tmp.path + "/client.db", random_key());
  REQUIRE(s->add_outgoing("bob@example.org", "m1", "hi", true, "<w/>", 1) == E::kOk);
  bool changed = false;

  REQUIRE(s->mark_state("bob@example.org", "m1", MessageState::kSent, changed) == E::kOk);
  CHECK(changed);
  REQUIRE(s->mark_state("bob@example.org", "m1", MessageState::kSent, changed) == E::kOk);
  CHECK_FALSE(changed);
  REQUIRE(s->mark_state("", "m1", MessageState::kRead, changed) == E::kOk);  // any peer
  CHECK(changed);
  // A late receipt after the read marker keeps 'read'.
  REQUIRE(s->mark_state("bob@example.org", "m1", MessageState::kDelivered, changed) == E::kOk);
  CHECK_FALSE(changed);
  REQUIRE(s->mark_state("bob@example.org", "m1", MessageState::kFailed, changed, "x") == E::kOk);
  CHECK_FALSE(changed);
  CHECK(find_or_fail(*s, "m1").state == MessageState::kRead);
  CHECK(find_or_fail(*s, "m1").error.empty());

  // failed from queued keeps the wire (the user may retry) and the reason.
  REQUIRE(s->add_outgoing("bob@example.org", "m2", "hi", true, "<w2/>", 2) == E::kOk);
  REQUIRE(s->mark_state("bob@example.org", "m2", MessageState::kFailed, changed, "no devices") ==
          E::kOk);
  CHECK(changed);
  StoredMessage m2 = find_or_fail(*s, "m2");
  CHECK(m2.state == MessageState::kFailed);
  CHECK(m2.error == "no devices");
  CHECK(m2.wire == "<w2/>");
  REQUIRE(s->mark_state("bob@example.org", "m2", MessageState::kSent, changed) == E::kOk);
  CHECK_FALSE(changed);
  // ...but a receipt proves delivery after all.
  REQUIRE(s->mark_state("bob@example.org", "m2", MessageState::kDelivered, changed) == E::kOk);
  CHECK(changed);
  m2 = find_or_fail(*s, "m2");
  CHECK(m2.state == MessageState::kDelivered);
  CHECK(m2.error.empty());
  CHECK(m2.wire.empty());

  // Wrong peer or unknown id: not found; the direction follows the state.
  CHECK(s->mark_state("carol@example.org", "m1", MessageState::kRead, changed) == E::kNotFound);
  CHECK(s->mark_state("bob@example.org", "nope", MessageState::kSent, changed) == E::kNotFound);
  CHECK(s->mark_state("bob@example.org", "m1", MessageState::kDisplayed, changed) == E::kNotFound);

  REQUIRE(s->add_incoming("bob@example.org", "i1", "sid-1", "hello", true, 5) == E::kOk);
  REQUIRE(s->mark_state("bob@example.org", "i1", MessageState::kDisplayed, changed) == E::kOk);
  CHECK(changed);
  REQUIRE(s->mark_state("bob@example.org", "i1", MessageState::kDisplayed, changed) == E::kOk);
  CHECK_FALSE(changed);
  CHECK(s->mark_state("bob@example.org", "i1", MessageState::kRead, changed) == E::kNotFound);
}

TEST_CASE("client_store: duplicate incoming messages are detected across a reopen") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  {
    auto s = open_store(db, key);
    std::int64_t id = 0;
    REQUIRE(s->add_incoming("bob@example.org", "in-1", "sid-1", "hello", true, 10, &id) == E::kOk);
    CHECK(id > 0);
    REQUIRE(s->add_incoming("bob@example.org", "in-2", "", "plain", false, 20) == E::kOk);
    CHECK(s->add_incoming("", "x", "", "b", false, 1) == E::kInvalid);
  }
  auto s = open_store(db, key);
  CHECK(s->add_incoming("bob@example.org", "in-1", "sid-9", "hello again", true, 30) == E::kExists);
  // Same origin id from another peer, or our own outgoing one: not a duplicate.
  CHECK(s->add_incoming("carol@example.org", "in-1", "", "hi", false, 40) == E::kOk);
  CHECK(s->add_outgoing("bob@example.org", "in-1", "reply", false, "<w/>", 50) == E::kOk);

  const StoredMessage m = find_or_fail(*s, "in-1", "bob@example.org");
  CHECK(m.direction == MessageDirection::kIn);
  CHECK(m.body == "hello");  // the first copy stays
  CHECK(m.stanza_id == "sid-1");
  CHECK(m.state == MessageState::kReceived);
  CHECK(m.ts_ms == 10);
  CHECK(find_or_fail(*s, "in-2").stanza_id.empty());
  CHECK(find_or_fail(*s, "in-1", "carol@example.org").peer == "carol@example.org");
  StoredMessage none;
  CHECK(s->find("absent", none) == E::kNotFound);

  REQUIRE(s->set_stanza_id("bob@example.org", MessageDirection::kOut, "in-1", "sid-out") == E::kOk);
  CHECK(s->set_stanza_id("bob@example.org", MessageDirection::kOut, "zzz", "s") == E::kNotFound);
}

TEST_CASE("client_store: history is the newest messages, oldest first") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  {
    auto s = open_store(db, key);
    REQUIRE(s->add_incoming("bob@example.org", "a", "", "A", false, 100) == E::kOk);
    REQUIRE(s->add_outgoing("bob@example.org", "b", "B", true, "<w/>", 200) == E::kOk);
    REQUIRE(s->add_incoming("carol@example.org", "c", "", "C", false, 250) == E::kOk);
    REQUIRE(s->add_incoming("bob@example.org", "d", "", "D", false, 300) == E::kOk);
    // Fetched late from the archive, but older: it sorts by its time.
    REQUIRE(s->add_incoming("bob@example.org", "e", "", "E", false, 150) == E::kOk);
  }
  auto s = open_store(db, key);
  std::vector<StoredMessage> h;
  REQUIRE(s->history("bob@example.org", 10, h) == E::kOk);
  REQUIRE(h.size() == 4);
  CHECK(h[0].origin_id == "a");
  CHECK(h[1].origin_id == "e");
  CHECK(h[2].origin_id == "b");
  CHECK(h[3].origin_id == "d");
  REQUIRE(s->history("bob@example.org", 2, h) == E::kOk);
  REQUIRE(h.size() == 2);
  CHECK(h[0].origin_id == "b");
  CHECK(h[1].origin_id == "d");
  CHECK(s->history("bob@example.org", 0, h) == E::kInvalid);
  REQUIRE(s->history("nobody@example.org", 5, h) == E::kOk);
  CHECK(h.empty());
}

TEST_CASE("client_store: a transaction commits together or leaves nothing") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  {
    auto s = open_store(db, key);
    REQUIRE(s->save_session("bob@example.org", 7, "state-0") == E::kOk);

    // Rolled back: neither the advanced session nor the outbox row stays.
    CHECK(s->transaction([&] {
      CHECK(s->save_session("bob@example.org", 7, "state-1") == E::kOk);
      CHECK(s->add_outgoing("bob@example.org", "t1", "x", true, "<w/>", 1) == E::kOk);
      CHECK(s->save_one_time_prekeys({random_prekey(5)}) == E::kOk);  // nested savepoint
      return false;
    }) == E::kRolledBack);
    std::string state;
    REQUIRE(s->load_session("bob@example.org", 7, state) == E::kOk);
    CHECK(state == "state-0");
    StoredMessage m;
    CHECK(s->find("t1", m) == E::kNotFound);
    std::vector<std::uint32_t> ids;
    REQUIRE(s->one_time_prekey_ids(ids) == E::kOk);
    CHECK(ids.empty());

    // A failing step inside rolls back only itself; the caller decides.
    CHECK(s->transaction([&] {
      CHECK(s->save_session("bob@example.org", 7, "state-2") == E::kOk);
      CHECK(s->add_outgoing("bob@example.org", "t2", "x", true, "<w2/>", 2) == E::kOk);
      CHECK(s->save_one_time_prekeys({random_prekey(6), random_prekey(6)}) == E::kExists);
      CHECK(s->transaction([] { return true; }) == E::kInvalid);  // no nesting
      return true;
    }) == E::kOk);
    REQUIRE(s->one_time_prekey_ids(ids) == E::kOk);
    CHECK(ids.empty());
  }
  auto s = open_store(db, key);
  std::string state;
  REQUIRE(s->load_session("bob@example.org", 7, state) == E::kOk);
  CHECK(state == "state-2");
  std::vector<StoredMessage> out;
  REQUIRE(s->outbox(out) == E::kOk);
  REQUIRE(out.size() == 1);
  CHECK(out[0].origin_id == "t2");
  CHECK(out[0].wire == "<w2/>");
}

TEST_CASE("client_store: a newer schema is refused, not downgraded") {
  TempDir tmp;
  const std::string db = tmp.path + "/client.db";
  const StorageKey key = random_key();
  { open_store(db, key); }
  // A later client wrote version 99; this one must not touch it.
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(raw);
  std::unique_ptr<ClientStore> s;
  CHECK(ClientStore::open(db, key, s) == E::kUnsupported);
  CHECK(client_store_error_name(E::kUnsupported) == "unsupported");
}

TEST_CASE("client_store: error names and the fatal threshold") {
  CHECK(client_store_error_name(E::kOk) == "ok");
  CHECK(client_store_error_name(E::kIdentityChanged) == "identity-changed");
  CHECK(client_store_error_name(static_cast<E>(4)) == "unknown");
  CHECK(static_cast<int>(E::kNotFound) == 950);
  CHECK(client_store_error_is_fatal(E::kIo));
  CHECK_FALSE(client_store_error_is_fatal(E::kCorrupt));
}

}  // namespace xd::client
