// The on-disk format of the LMDB backend: how keys are built and how
// records are encoded, as pure functions over bytes. Decoders are strict and
// total: any truncated, padded or out-of-range record is kCorrupt, never a
// crash, an over-read or a huge allocation, because the file is input too
// (a torn copy, a bad disk, another program). Never touches LMDB itself.
//
// Record layout (all integers little-endian):
//
//   record  = format fields
//   format  = 1 octet: high nibble record type, low nibble version
//             0x11 account v1, 0x21 roster item v1, 0x31 counter v1
//   str     = u32 length, then that many octets
//
//   account v1 = 0x11 str(username) u64(created_unix) cred(sha1) cred(sha256)
//   cred       = str(salt) u32(iterations) str(stored_key) str(server_key)
//   roster v1  = 0x21 str(jid) str(name) u8(subscription 0..3: none, to,
//                from, both) u8(flags: bit 0 ask_subscribe, bit 1
//                pending_in, others zero) u32(group count) str(group)*
//   counter v1 = 0x31 u64(value)
//   queued v1  = 0x41 u64(stamp_ms) str(user) str(xml); key: queue_key
//   sm v1      = 0x51 str(id) str(user) str(resource) u32(inbound_h)
//                u64(stamp_ms) str(presence_xml)
//   dedupe v1  = 0x61 u64(stamp_ms)
//   push v1    = 0x71 u32(count) (str(jid) str(node) str(options_xml))*
//   device v1  = 0x81: one device's end-to-end keys, in lmdb_key_store.h
//
// A new version gets a new low nibble; decoders refuse versions they do not
// know rather than guess.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "server/storage/account_store.h"
#include "server/storage/message_store.h"
#include "server/storage/roster_store.h"
#include "server/storage/storage_error.h"

namespace xd::server {

inline constexpr uint8_t kAccountRecordV1 = 0x11;
inline constexpr uint8_t kRosterRecordV1 = 0x21;
inline constexpr uint8_t kCounterRecordV1 = 0x31;
inline constexpr uint8_t kQueuedRecordV1 = 0x41;
inline constexpr uint8_t kSmRecordV1 = 0x51;
inline constexpr uint8_t kDedupeRecordV1 = 0x61;
inline constexpr uint8_t kPushRecordV1 = 0x71;

// Names up to this many octets are used in keys as they are; longer ones are
// replaced by 0xFF followed by the 64 hex digits of their SHA-256. LMDB keys
// are limited to 511 octets (mdb_env_get_maxkeysize), and a roster key holds
// two names; the records keep the full names, and readers compare them.
// Valid names never contain 0xFF or NUL (validate_username,
// validate_roster_item), so inline and hashed parts never collide, and NUL
// can separate parts.
inline constexpr size_t kInlineKeyPartBytes = 200;

// The key part for |name| as described above.
std::string key_part(std::string_view name);
// Key of an account (and of its roster version counter): key_part(user).
std::string account_key(std::string_view username);
// Key of a roster item: key_part(user) NUL key_part(contact). Every key of
// |user|'s roster, and no other user's, starts with roster_key_prefix(user):
// the NUL ends the user part, so user "a" never sees user "ab"'s items.
std::string roster_key(std::string_view user, std::string_view contact);
std::string roster_key_prefix(std::string_view user);

// Key of a queued stanza: key_part(user) NUL, then |seq| as 8 big-endian
// octets so that key order is sequence order. queue_key_prefix(user) is
// the part before the sequence number.
std::string queue_key(std::string_view user, uint64_t seq);
std::string queue_key_prefix(std::string_view user);
// The sequence number of a queue key; false when |key| is not one.
bool queue_key_seq(std::string_view key, uint64_t& seq);
// |v| as 8 big-endian octets (keys that sort by number).
std::string big_endian64(uint64_t v);

// Encoders take values that passed validate_stored_account /
// validate_roster_item (asserted) and return the record bytes.
std::string encode_queued(const QueuedStanza& stanza);
std::string encode_sm(const SmRecord& record);
std::string encode_dedupe(uint64_t stamp_ms);
StorageError decode_queued(std::string_view bytes, QueuedStanza& out);
StorageError decode_sm(std::string_view bytes, SmRecord& out);
StorageError decode_dedupe(std::string_view bytes, uint64_t& stamp_ms);
std::string encode_push(const std::vector<PushRegistration>& registrations);
StorageError decode_push(std::string_view bytes, std::vector<PushRegistration>& out);

// Encoders take values that passed validate_stored_account /
// validate_roster_item (asserted) and return the record bytes.
std::string encode_account(const StoredAccount& account);
std::string encode_roster_item(const RosterItem& item);
std::string encode_counter(uint64_t value);

// Decoders fill |out| from |bytes| and return kOk, or kCorrupt when |bytes|
// is not exactly one well-formed record of the expected type and a known
// version whose values pass validation. |out| is unspecified on kCorrupt.
StorageError decode_account(std::string_view bytes, StoredAccount& out);
StorageError decode_roster_item(std::string_view bytes, RosterItem& out);
StorageError decode_counter(std::string_view bytes, uint64_t& out);

}  // namespace xd::server
