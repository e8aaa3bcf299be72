#include "server/storage/lmdb/record_codec.h"

#include <openssl/evp.h>

#include <cassert>
#include <limits>
#include <utility>

#include "server/storage/lmdb/record_io.h"

namespace xd::server {
namespace {

using xd::protocol::ScramCredentials;
using xd::protocol::ScramHash;

using Writer = RecordWriter;
using Reader = RecordReader;

void write_credentials(Writer& w, const ScramCredentials& c) {
  w.str(c.salt);
  w.u32(c.iterations);
  w.str(c.stored_key);
  w.str(c.server_key);
}

ScramCredentials read_credentials(Reader& r, ScramHash hash) {
  ScramCredentials c;
  c.hash = hash;
  c.salt = r.str();
  c.iterations = r.u32();
  c.stored_key = r.str();
  c.server_key = r.str();
  return c;
}

// A record that is one type octet and one u64 (counter, dedupe).
std::string encode_u64_record(uint8_t type, uint64_t value) {
  Writer w;
  w.u8(type);
  w.u64(value);
  return w.take();
}

StorageError decode_u64_record(uint8_t type, std::string_view bytes, uint64_t& out) {
  Reader r(bytes);
  if (r.u8() != type) return StorageError::kCorrupt;
  uint64_t v = r.u64();
  if (!r.done()) return StorageError::kCorrupt;
  out = v;
  return StorageError::kOk;
}

}  // namespace

std::string key_part(std::string_view name) {
  if (name.size() <= kInlineKeyPartBytes) return std::string(name);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // A libcrypto failure hashing a buffer is an environment failure.
  int ok = EVP_Digest(name.data(), name.size(), digest, &len, EVP_sha256(), nullptr);
  assert(ok == 1 && len == 32);
  (void)ok;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(1, '\xff');
  out.reserve(1 + 2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string account_key(std::string_view username) { return key_part(username); }

std::string roster_key_prefix(std::string_view user) {
  std::string key = key_part(user);
  key.push_back('\0');
  return key;
}

std::string roster_key(std::string_view user, std::string_view contact) {
  std::string key = roster_key_prefix(user);
  key += key_part(contact);
  return key;
}

std::string encode_account(const StoredAccount& account) {
  assert(validate_stored_account(account) == StorageError::kOk);
  Writer w;
  w.u8(kAccountRecordV1);
  w.str(account.username);
  w.u64(account.created_unix);
  write_credentials(w, account.sha1);
  write_credentials(w, account.sha256);
  return w.take();
}

StorageError decode_account(std::string_view bytes, StoredAccount& out) {
  Reader r(bytes);
  if (r.u8() != kAccountRecordV1) return StorageError::kCorrupt;
  StoredAccount a;
  a.username = r.str();
  a.created_unix = r.u64();
  a.sha1 = read_credentials(r, ScramHash::kSha1);
  a.sha256 = read_credentials(r, ScramHash::kSha256);
  if (!r.done() || validate_stored_account(a) != StorageError::kOk) return StorageError::kCorrupt;
  out = std::move(a);
  return StorageError::kOk;
}

std::string encode_roster_item(const RosterItem& item) {
  assert(item.subscription != RosterItem::Subscription::kRemove);
  assert(item.groups.size() <= std::numeric_limits<uint32_t>::max());
  Writer w;
  w.u8(kRosterRecordV1);
  w.str(item.jid);
  w.str(item.name);
  w.u8(static_cast<uint8_t>(item.subscription));
  w.u8(static_cast<uint8_t>((item.ask_subscribe ? 1 : 0) | (item.pending_in ? 2 : 0)));
  w.u32(static_cast<uint32_t>(item.groups.size()));
  for (const std::string& g : item.groups) w.str(g);
  return w.take();
}

StorageError decode_roster_item(std::string_view bytes, RosterItem& out) {
  Reader r(bytes);
  if (r.u8() != kRosterRecordV1) return StorageError::kCorrupt;
  RosterItem item;
  item.jid = r.str();
  item.name = r.str();
  uint8_t sub = r.u8();
  uint8_t flags = r.u8();
  uint32_t groups = r.u32();
  if (sub > static_cast<uint8_t>(RosterItem::Subscription::kBoth) || (flags & ~3u) != 0 ||
      validate_contact(item.jid) != StorageError::kOk) {
    return StorageError::kCorrupt;
  }
  item.subscription = static_cast<RosterItem::Subscription>(sub);
  item.ask_subscribe = (flags & 1) != 0;
  item.pending_in = (flags & 2) != 0;
  // Each group takes at least its 4-octet length, which bounds the count by
  // the bytes actually present before we reserve anything.
  if (groups > r.remaining() / 4) return StorageError::kCorrupt;
  item.groups.reserve(groups);
  for (uint32_t i = 0; i < groups; ++i) item.groups.push_back(r.str());
  if (!r.done()) return StorageError::kCorrupt;
  out = std::move(item);
  return StorageError::kOk;
}

std::string encode_counter(uint64_t value) { return encode_u64_record(kCounterRecordV1, value); }

StorageError decode_counter(std::string_view bytes, uint64_t& out) {
  return decode_u64_record(kCounterRecordV1, bytes, out);
}

std::string big_endian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

std::string queue_key_prefix(std::string_view user) {
  std::string key = key_part(user);
  key.push_back('\0');
  return key;
}

std::string queue_key(std::string_view user, uint64_t seq) {
  return queue_key_prefix(user) + big_endian64(seq);
}

bool queue_key_seq(std::string_view key, uint64_t& seq) {
  if (key.size() < 9 || key[key.size() - 9] != '\0') return false;
  uint64_t v = 0;
  for (size_t i = key.size() - 8; i < key.size(); ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  seq = v;
  return true;
}

std::string encode_queued(const QueuedStanza& stanza) {
  Writer w;
  w.u8(kQueuedRecordV1);
  w.u64(stanza.stamp_ms);
  w.str(stanza.user);
  w.str(stanza.data);
  return w.take();
}

StorageError decode_queued(std::string_view bytes, QueuedStanza& out) {
  Reader r(bytes);
  if (r.u8() != kQueuedRecordV1) return StorageError::kCorrupt;
  QueuedStanza q;
  q.stamp_ms = r.u64();
  q.user = r.str();
  q.data = r.str();
  if (!r.done() || validate_username(q.user) != StorageError::kOk || q.data.empty()) {
    return StorageError::kCorrupt;
  }
  q.seq = out.seq;
  out = std::move(q);
  return StorageError::kOk;
}

std::string encode_sm(const SmRecord& record) {
  Writer w;
  w.u8(kSmRecordV1);
  w.str(record.id);
  w.str(record.user);
  w.str(record.resource);
  w.u32(record.inbound_h);
  w.u64(record.stamp_ms);
  w.str(record.presence_xml);
  return w.take();
}

StorageError decode_sm(std::string_view bytes, SmRecord& out) {
  Reader r(bytes);
  if (r.u8() != kSmRecordV1) return StorageError::kCorrupt;
  SmRecord s;
  s.id = r.str();
  s.user = r.str();
  s.resource = r.str();
  s.inbound_h = r.u32();
  s.stamp_ms = r.u64();
  s.presence_xml = r.str();
  if (!r.done() || s.id.empty() || validate_username(s.user) != StorageError::kOk ||
      s.resource.empty()) {
    return StorageError::kCorrupt;
  }
  out = std::move(s);
  return StorageError::kOk;
}

std::string encode_dedupe(uint64_t stamp_ms) {
  return encode_u64_record(kDedupeRecordV1, stamp_ms);
}

StorageError decode_dedupe(std::string_view bytes, uint64_t& stamp_ms) {
  return decode_u64_record(kDedupeRecordV1, bytes, stamp_ms);
}

std::string encode_push(const std::vector<PushRegistration>& registrations) {
  Writer w;
  w.u8(kPushRecordV1);
  w.u32(static_cast<uint32_t>(registrations.size()));
  for (const PushRegistration& r : registrations) {
    w.str(r.jid);
    w.str(r.node);
    w.str(r.options_xml);
  }
  return w.take();
}

StorageError decode_push(std::string_view bytes, std::vector<PushRegistration>& out) {
  Reader r(bytes);
  if (r.u8() != kPushRecordV1) return StorageError::kCorrupt;
  const uint32_t n = r.u32();
  if (n > kMaxPushRegistrations) return StorageError::kCorrupt;
  std::vector<PushRegistration> regs(n);
  for (PushRegistration& p : regs) {
    p.jid = r.str();
    p.node = r.str();
    p.options_xml = r.str();
    if (p.jid.empty()) return StorageError::kCorrupt;
  }
  if (!r.done()) return StorageError::kCorrupt;
  out = std::move(regs);
  return StorageError::kOk;
}

}  // namespace xd::server
