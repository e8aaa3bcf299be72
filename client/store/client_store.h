// The client's local store: one SQLite database per account holding its
// device id and keys, ratchet sessions, the devices it has seen for each
// peer, contacts, and message history with the outbox. Every secret (the
// identity and prekey private keys, ratchet session state) is sealed with
// the account's StorageKey (crypto_secretbox, a random nonce per value)
// before it reaches SQLite, so the database and its WAL never hold a
// private key in the clear. The store never throws, never builds SQL from
// caller data (every value is a bound parameter), never relaxes durability
// (WAL with synchronous=FULL: a call that returned kOk survives a crash),
// and never opens a database file that group or others can read.
//
// One ClientStore is used from one thread at a time. It keeps no
// transaction open between calls except inside transaction().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/store/client_store_error.h"
#include "client/store/message_state.h"
#include "client/store/storage_key.h"
#include "protocol/e2e/e2e_keys.h"

struct sqlite3;
struct sqlite3_stmt;

namespace xd::client {

// A device of a peer as first seen (trust on first use).
struct KnownDevice {
  std::string peer;  // bare JID
  std::uint32_t device = 0;
  protocol::e2e::Key32 identity_key{};
  std::int64_t first_seen_ms = 0;
  bool trusted = false;  // set by the user after comparing fingerprints
};

struct Contact {
  std::string jid;  // bare JID
  std::string name;
};

enum class MessageDirection { kIn, kOut };

// One row of the messages table. Empty strings stand for SQL NULL in the
// nullable columns (stanza_id, wire, error).
struct StoredMessage {
  std::int64_t id = 0;  // insertion order
  std::string peer;     // bare JID of the other party
  MessageDirection direction = MessageDirection::kOut;
  std::string origin_id;  // XEP-0359 origin-id (or the stanza id)
  std::string stanza_id;  // XEP-0359 stanza-id assigned by the server
  std::string body;       // plaintext body as shown to the user
  bool encrypted = false;
  MessageState state = MessageState::kQueued;
  std::string wire;  // out, queued only: the exact stanza to (re)send
  std::int64_t ts_ms = 0;
  std::string error;  // why it failed, for the user
};

class ClientStore {
 public:
  // Opens or creates the database at |path| and sets |out|. Missing parent
  // directories are created 0700; a new file is created 0600 before SQLite
  // sees it. kPermissions when the file exists with group/other bits or
  // another owner, or |path| is a directory or a symbolic link; kWrongKey when |key| is not the key
  // the database was created with (a sealed check value does not open); kUnsupported when the
  // schema version is newer than this code; kCorrupt when the file is not a database; kBusy when
  // another process holds the write lock; kIo otherwise. A new database gets the current schema; an
  // older one is migrated in one transaction. The store keeps its own copy of |key|, wiped when it
  // is destroyed. |out| is only set on kOk.
  static ClientStoreError open(const std::string& path, const StorageKey& key,
                               std::unique_ptr<ClientStore>& out);
  ~ClientStore();
  ClientStore(const ClientStore&) = delete;
  ClientStore& operator=(const ClientStore&) = delete;

  // The schema version this code writes (tests and diagnostics).
  static int schema_version();

  // --- Account ---------------------------------------------------------

  // This account's device id, 1..2^31-1 (spec/e2e-keys.md); kInvalid
  // outside that range. Overwrites a previous value.
  ClientStoreError set_device(std::uint32_t device_id);
  // kNotFound until set_device has been called.
  ClientStoreError device(std::uint32_t& out);
  // Stores (replacing) the account's identity key pair, sealed.
  ClientStoreError save_identity(const protocol::e2e::IdentityKeyPair& identity);
  // kNotFound when none is saved; kCorrupt when the sealed value does not
  // open or has the wrong size.
  ClientStoreError load_identity(protocol::e2e::IdentityKeyPair& out);

  // --- Signed prekeys --------------------------------------------------
  // Ids come from next_signed_prekey_id, so a higher id is a newer key; the
  // highest id is the current one.

  // kExists when that id is stored already (nothing changes); kInvalid for
  // id 0. |created_ms| is when it became current.
  ClientStoreError save_signed_prekey(const protocol::e2e::SignedPreKey& key,
                                      std::int64_t created_ms);
  ClientStoreError load_signed_prekey(std::uint32_t id, protocol::e2e::SignedPreKey& out);
  // The one with the highest id; kNotFound when there is none.
  ClientStoreError current_signed_prekey(protocol::e2e::SignedPreKey& out);
  ClientStoreError delete_signed_prekey(std::uint32_t id);
  // Ascending.
  ClientStoreError signed_prekey_ids(std::vector<std::uint32_t>& out);
  // Deletes every signed prekey that was replaced at or before
  // |replaced_before_ms| (its successor's created_ms <= that); the current
  // one is always kept. A previous key must stay for a while after it is
  // replaced because a peer may have claimed the old bundle just before.
  // |deleted| receives the number removed.
  ClientStoreError prune_signed_prekeys(std::int64_t replaced_before_ms, int& deleted);
  // Reserves and returns a fresh signed prekey id (never handed out twice,
  // even across deletions and restarts). kFull when 2^32-1 is used up.
  ClientStoreError next_signed_prekey_id(std::uint32_t& out);

  // --- One-time prekeys ------------------------------------------------

  // Stores |keys| all or nothing; kExists if any id is present (nothing is
  // stored); kInvalid for id 0.
  ClientStoreError save_one_time_prekeys(const std::vector<protocol::e2e::OneTimePreKey>& keys);
  ClientStoreError load_one_time_prekey(std::uint32_t id, protocol::e2e::OneTimePreKey& out);
  // After it was used in an X3DH handshake (spec/e2e.md §3.3): kNotFound
  // when absent. SQLite's secure_delete overwrites the freed bytes.
  ClientStoreError delete_one_time_prekey(std::uint32_t id);
  // Ascending.
  ClientStoreError one_time_prekey_ids(std::vector<std::uint32_t>& out);
  // Reserves |count| (>= 1) consecutive fresh one-time prekey ids and sets
  // |first| to the first; ids are never handed out twice. kInvalid for
  // count 0, kFull when they would pass 2^32-1.
  ClientStoreError next_prekey_id(std::uint32_t& first, std::uint32_t count = 1);

  // --- Ratchet sessions ------------------------------------------------

  // Stores (replacing) the serialized session with |peer|'s |device|,
  // sealed. |state| is opaque here.
  ClientStoreError save_session(std::string_view peer, std::uint32_t device,
                                std::string_view state);
  // kNotFound when there is none; kCorrupt when the sealed value does not
  // open.
  ClientStoreError load_session(std::string_view peer, std::uint32_t device, std::string& state);
  // kNotFound when there is none.
  ClientStoreError delete_session(std::string_view peer, std::uint32_t device);
  // Devices of |peer| with a session, ascending.
  ClientStoreError session_devices(std::string_view peer, std::vector<std::uint32_t>& out);

  // --- Known devices of peers (trust on first use) ---------------------

  // Records |identity| for (|peer|, |device|) the first time it is seen
  // (first_seen_ms = |now_ms|, untrusted) and returns kOk; kOk also when
  // the same key is presented again. kIdentityChanged when a different key
  // is on record: the stored key is kept, and only replace_identity
  // changes it (after the user accepted the change).
  ClientStoreError remember_identity(std::string_view peer, std::uint32_t device,
                                     const protocol::e2e::Key32& identity, std::int64_t now_ms);
  // Replaces the key on record (or inserts it), resetting first_seen_ms to
  // |now_ms| and trusted to false.
  ClientStoreError replace_identity(std::string_view peer, std::uint32_t device,
                                    const protocol::e2e::Key32& identity, std::int64_t now_ms);
  // kNotFound when the device is unknown.
  ClientStoreError set_trusted(std::string_view peer, std::uint32_t device, bool trusted);
  // kNotFound when the device is unknown.
  ClientStoreError load_known_device(std::string_view peer, std::uint32_t device, KnownDevice& out);
  // All known devices of |peer|, by device id.
  ClientStoreError known_devices(std::string_view peer, std::vector<KnownDevice>& out);
  // kNotFound when the device is unknown.
  ClientStoreError forget_device(std::string_view peer, std::uint32_t device);

  // --- Contacts --------------------------------------------------------

  // Adds |jid| or renames it when present.
  ClientStoreError add_contact(std::string_view jid, std::string_view name);
  // kNotFound when absent.
  ClientStoreError remove_contact(std::string_view jid);
  // By JID.
  ClientStoreError contacts(std::vector<Contact>& out);

  // --- Messages: history and outbox ------------------------------------

  // A message another device of this account sent (an XEP-0280 sent
  // carbon): history only, already in state sent, never in the outbox.
  // kExists when |origin_id| to |peer| is already stored.
  ClientStoreError add_sent_copy(std::string_view peer, std::string_view origin_id,
                                 std::string_view body, bool encrypted, std::int64_t ts_ms);

  // Queues an outgoing message: state queued, |wire| the exact stanza to
  // send (and to resend after a restart until the server acknowledges it).
  // kExists when (|peer|, out, |origin_id|) is stored already (nothing
  // changes); kInvalid for an empty |peer|, |origin_id| or |wire|. |id|,
  // when not null, receives the row id.
  ClientStoreError add_outgoing(std::string_view peer, std::string_view origin_id,
                                std::string_view body, bool encrypted, std::string_view wire,
                                std::int64_t ts_ms, std::int64_t* id = nullptr);
  // Queued outgoing messages with their wire, in insertion order.
  ClientStoreError outbox(std::vector<StoredMessage>& out);
  // Moves the message(s) with |origin_id| (from or to |peer|; any peer when
  // |peer| is empty) to |state| when message_state_can_move allows it; the
  // direction follows from |state|. Moving past queued (to sent, delivered
  // or read) clears the stored wire; |error| is recorded with kFailed.
  // |changed| tells whether a row moved. kNotFound when no message of that
  // direction has |origin_id|; kOk with |changed| false when the move is not
  // forward (a late receipt after a read marker).
  ClientStoreError mark_state(std::string_view peer, std::string_view origin_id, MessageState state,
                              bool& changed, std::string_view error = {});
  // Stores an incoming message (state received). kExists when |peer| sent
  // that |origin_id| before (duplicate from a resend, carbon or archive
  // fetch, across restarts); kInvalid for an empty |peer| or |origin_id|.
  // An empty |stanza_id| is stored as NULL.
  ClientStoreError add_incoming(std::string_view peer, std::string_view origin_id,
                                std::string_view stanza_id, std::string_view body, bool encrypted,
                                std::int64_t ts_ms, std::int64_t* id = nullptr);
  // Records the server-assigned stanza-id of a stored message (for
  // example of an outgoing one reflected by the archive). kNotFound when no
  // such message.
  ClientStoreError set_stanza_id(std::string_view peer, MessageDirection direction,
                                 std::string_view origin_id, std::string_view stanza_id);
  // The last |limit| messages exchanged with |peer|, oldest first (ordered
  // by ts_ms, then insertion). kInvalid for a limit below 1.
  ClientStoreError history(std::string_view peer, int limit, std::vector<StoredMessage>& out);
  // The message with |origin_id| (the earliest stored when several peers
  // or directions share it; only |peer|'s when |peer| is not empty).
  // kNotFound when none.
  ClientStoreError find(std::string_view origin_id, StoredMessage& out, std::string_view peer = {});

  // --- Transactions ----------------------------------------------------

  // Runs |fn| inside BEGIN IMMEDIATE ... COMMIT, so everything it stores
  // through this object lands together or not at all: for example the
  // advanced ratchet session and the outbox row of the message it
  // encrypted. |fn| returns false to roll back (result kRolledBack). kBusy
  // when the write lock cannot be taken (|fn| is not called); kInvalid when
  // called from inside |fn| (no nesting; |fn| is not called); the mapped
  // error when COMMIT fails (everything is rolled back). |fn| calls back
  // into this object only; it must not throw.
  ClientStoreError transaction(const std::function<bool()>& fn);

 private:
  class Query;

  ClientStoreError init_schema();
  ClientStoreError prepare(std::string_view sql, sqlite3_stmt*& out);
  ClientStoreError exec(const char* sql);
  // Runs |fn| atomically: in a savepoint inside transaction(), else in its
  // own BEGIN IMMEDIATE ... COMMIT.
  ClientStoreError atomically(const std::function<ClientStoreError()>& fn);
  ClientStoreError next_id(const char* counter, std::uint32_t count, std::uint32_t& first);
  std::string seal(std::string_view plain) const;
  bool unseal(std::string_view sealed, std::string& plain) const;
  ClientStoreError read_messages(Query& q, std::vector<StoredMessage>& out);
  // The first column of every row of |q| as ids (replaces |out| on success).
  ClientStoreError read_ids(Query& q, std::vector<std::uint32_t>& out);
  ClientStoreError read_signed_prekey(Query& q, protocol::e2e::SignedPreKey& out);

  ClientStore(sqlite3* db, const StorageKey& key);

  sqlite3* db_ = nullptr;
  StorageKey key_;
  bool in_transaction_ = false;
  // Prepared statements by SQL text. Keys view string literals, which live
  // for the whole program.
  std::unordered_map<std::string_view, sqlite3_stmt*> statements_;
};

}  // namespace xd::client
