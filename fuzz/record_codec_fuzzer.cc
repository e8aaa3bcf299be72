// libFuzzer target for the LMDB on-disk record codec (conventions.md §14;
// server/storage/lmdb/record_codec.h). The data file is input too (a torn
// copy, a bad disk, another program), so every decoder must turn any bytes
// into kOk or kCorrupt: never a crash, an over-read or a huge allocation.
// Byte 0 picks the decoder (low nibble 0-7; 8-15 tries them all on the same
// bytes); the rest is the record, or for queue_key_seq the key. Beyond "no
// crash", it checks that the codec is canonical: a record that decodes
// re-encodes to exactly the same bytes, and those decode to an equal value;
// that at most one decoder accepts any record (the type nibble); and that
// queue keys give back their sequence number and keep their user prefix.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/lmdb/record_codec.h"

namespace {

namespace xs = xd::server;
using xs::StorageError;

// Traps rather than asserting so the check also runs in release builds.
void require(bool condition) {
  if (!condition) __builtin_trap();
}

// kOk or kCorrupt, nothing else; returns whether it was kOk.
bool accepted(StorageError e) {
  require(e == StorageError::kOk || e == StorageError::kCorrupt);
  return e == StorageError::kOk;
}

bool same(const xd::protocol::ScramCredentials& a, const xd::protocol::ScramCredentials& b) {
  return a.salt == b.salt && a.iterations == b.iterations && a.stored_key == b.stored_key &&
         a.server_key == b.server_key && a.hash == b.hash;
}
bool same(const xs::StoredAccount& a, const xs::StoredAccount& b) {
  return a.username == b.username && a.created_unix == b.created_unix && same(a.sha1, b.sha1) &&
         same(a.sha256, b.sha256);
}
bool same(const xs::RosterItem& a, const xs::RosterItem& b) {
  return a.jid == b.jid && a.name == b.name && a.subscription == b.subscription &&
         a.ask_subscribe == b.ask_subscribe && a.pending_in == b.pending_in && a.groups == b.groups;
}
bool same(const xs::QueuedStanza& a, const xs::QueuedStanza& b) {
  return a.user == b.user && a.stamp_ms == b.stamp_ms && a.data == b.data;
}
bool same(const xs::SmRecord& a, const xs::SmRecord& b) {
  return a.id == b.id && a.user == b.user && a.resource == b.resource &&
         a.inbound_h == b.inbound_h && a.stamp_ms == b.stamp_ms && a.presence_xml == b.presence_xml;
}
bool same(const std::vector<xs::PushRegistration>& a, const std::vector<xs::PushRegistration>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].jid != b[i].jid || a[i].node != b[i].node || a[i].options_xml != b[i].options_xml) {
      return false;
    }
  }
  return true;
}
bool same(uint64_t a, uint64_t b) { return a == b; }

// Decodes |bytes| with |decode|; on kOk, |encode| must give the same bytes
// back and those must decode to an equal value. Returns whether it decoded.
template <typename T, typename Decode, typename Encode>
bool round_trip(std::string_view bytes, Decode decode, Encode encode) {
  T value{};
  if (!accepted(decode(bytes, value))) return false;
  const std::string again = encode(value);
  require(again == bytes);  // strict decoders: one encoding per value
  T second{};
  require(decode(again, second) == StorageError::kOk);
  require(same(value, second));
  return true;
}

// queue_key_seq on |key|, and the key builders on names cut from it.
bool check_keys(std::string_view key) {
  uint64_t seq = 0;
  const bool is_queue_key = xs::queue_key_seq(key, seq);
  if (is_queue_key) {
    require(key.size() >= 9 && key[key.size() - 9] == '\0');
    require(key.substr(key.size() - 8) == xs::big_endian64(seq));
  }
  // Any name: its keys start with its prefix and give the number back.
  const size_t nul = key.find('\0');
  const std::string_view user = key.substr(0, nul);
  const std::string_view contact = nul == std::string_view::npos ? key : key.substr(nul + 1);
  const std::string part = xs::key_part(user);
  if (user.size() <= xs::kInlineKeyPartBytes) {
    require(part == user);
  } else {
    require(part.size() == 65 && part[0] == '\xff');
  }
  require(xs::account_key(user) == part);
  const std::string qkey = xs::queue_key(user, seq);
  uint64_t back = ~seq;
  require(xs::queue_key_seq(qkey, back) && back == seq);
  const std::string prefix = xs::queue_key_prefix(user);
  require(qkey.size() == prefix.size() + 8 && qkey.compare(0, prefix.size(), prefix) == 0);
  const std::string rkey = xs::roster_key(user, contact);
  const std::string rprefix = xs::roster_key_prefix(user);
  require(rkey.compare(0, rprefix.size(), rprefix) == 0);
  return is_queue_key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned selector = data[0] & 0x0f;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool all = selector >= 8;

  int records = 0;  // decoders that accepted |bytes| as a record
  if (all || selector == 0) {
    records += round_trip<xs::StoredAccount>(bytes, xs::decode_account, xs::encode_account);
  }
  if (all || selector == 1) {
    records += round_trip<xs::RosterItem>(bytes, xs::decode_roster_item, xs::encode_roster_item);
  }
  if (all || selector == 2) {
    records += round_trip<uint64_t>(bytes, xs::decode_counter, xs::encode_counter);
  }
  if (all || selector == 3) {
    records += round_trip<xs::QueuedStanza>(bytes, xs::decode_queued, xs::encode_queued);
  }
  if (all || selector == 4) {
    records += round_trip<xs::SmRecord>(bytes, xs::decode_sm, xs::encode_sm);
  }
  if (all || selector == 5) {
    records += round_trip<uint64_t>(bytes, xs::decode_dedupe, xs::encode_dedupe);
  }
  if (all || selector == 6) {
    records +=
        round_trip<std::vector<xs::PushRegistration>>(bytes, xs::decode_push, xs::encode_push);
  }
  if (all || selector == 7) check_keys(bytes);
  // The high nibble of the format octet names the record type, so no record
  // reads as two types.
  require(records <= 1);
  return 0;
}
