// The LMDB record format (server/storage/lmdb/record_codec.h): round trips,
// key layout, and a strict decoder that answers kCorrupt for every
// truncation, extension or out-of-range field instead of crashing.
#include "server/storage/lmdb/record_codec.h"

#include <doctest/doctest.h>

#include <string>

namespace xd::server {

inline doctest::String toString(StorageError e) {
  return doctest::String(storage_error_name(e).data(),
                         static_cast<unsigned>(storage_error_name(e).size()));
}

namespace {

using xd::protocol::ScramHash;

StoredAccount sample_account(std::string name) {
  StoredAccount a;
  a.username = std::move(name);
  a.created_unix = 0x0102030405060708ull;
  a.sha1.hash = ScramHash::kSha1;
  a.sha1.salt = std::string(16, 's');
  a.sha1.iterations = 4096;
  a.sha1.stored_key = std::string(20, '\x01');
  a.sha1.server_key = std::string(20, '\x02');
  a.sha256 = a.sha1;
  a.sha256.hash = ScramHash::kSha256;
  a.sha256.stored_key = std::string(32, '\x03');
  a.sha256.server_key = std::string(32, '\x04');
  return a;
}

RosterItem sample_item() {
  RosterItem item;
  item.jid = "juliet@example.com";
  item.name = "Juliet";
  item.subscription = RosterItem::Subscription::kFrom;
  item.ask_subscribe = true;
  item.pending_in = true;
  item.groups = {"Friends", "", "Capulets"};
  return item;
}

bool same(const xd::protocol::ScramCredentials& a, const xd::protocol::ScramCredentials& b) {
  return a.hash == b.hash && a.salt == b.salt && a.iterations == b.iterations &&
         a.stored_key == b.stored_key && a.server_key == b.server_key;
}

TEST_SUITE("storage.lmdb.record") {
  TEST_CASE("an account round-trips and its layout is little-endian") {
    StoredAccount a = sample_account("romeo");
    std::string bytes = encode_account(a);
    CHECK(static_cast<uint8_t>(bytes[0]) == kAccountRecordV1);
    // str(username): u32 LE length 5, then the octets.
    CHECK(bytes.substr(1, 9) == std::string("\x05\x00\x00\x00romeo", 9));
    // u64 LE created_unix.
    CHECK(bytes.substr(10, 8) == "\x08\x07\x06\x05\x04\x03\x02\x01");
    StoredAccount b;
    REQUIRE(decode_account(bytes, b) == StorageError::kOk);
    CHECK(b.username == "romeo");
    CHECK(b.created_unix == a.created_unix);
    CHECK(same(a.sha1, b.sha1));
    CHECK(same(a.sha256, b.sha256));
  }

  TEST_CASE("every truncation and every extension of an account record is kCorrupt") {
    std::string bytes = encode_account(sample_account("romeo"));
    StoredAccount out;
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      CHECK(decode_account(std::string_view(bytes).substr(0, n), out) == StorageError::kCorrupt);
    }
    CHECK(decode_account(bytes + '\0', out) == StorageError::kCorrupt);
  }

  TEST_CASE("account records with bad fields are kCorrupt") {
    StoredAccount out;
    std::string bytes = encode_account(sample_account("romeo"));
    std::string b = bytes;
    b[0] = 0x12;  // unknown version
    CHECK(decode_account(b, out) == StorageError::kCorrupt);
    b[0] = static_cast<char>(kRosterRecordV1);  // wrong record type
    CHECK(decode_account(b, out) == StorageError::kCorrupt);
    b = bytes;
    b[1] = '\xff';  // username length beyond the record
    CHECK(decode_account(b, out) == StorageError::kCorrupt);
    b = bytes;
    b[4] = '\x80';  // a 2 GiB length must not allocate 2 GiB
    CHECK(decode_account(b, out) == StorageError::kCorrupt);
    // Keys of the wrong size for the hash: encode valid ones, then shorten a
    // key and its length together so only validation can notice.
    StoredAccount a = sample_account("romeo");
    std::string manual;
    auto u32 = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) manual.push_back(static_cast<char>(v >> (8 * i)));
    };
    auto str = [&](const std::string& s) {
      u32(static_cast<uint32_t>(s.size()));
      manual += s;
    };
    manual.push_back(static_cast<char>(kAccountRecordV1));
    str(a.username);
    manual.append(8, '\0');
    str(a.sha1.salt);
    u32(4096);
    str(std::string(19, 'k'));  // SHA-1 keys are 20 octets
    str(a.sha1.server_key);
    str(a.sha256.salt);
    u32(4096);
    str(a.sha256.stored_key);
    str(a.sha256.server_key);
    CHECK(decode_account(manual, out) == StorageError::kCorrupt);
    // Garbage.
    CHECK(decode_account("", out) == StorageError::kCorrupt);
    CHECK(decode_account(std::string(300, '\xff'), out) == StorageError::kCorrupt);
  }

  TEST_CASE("a roster item round-trips") {
    RosterItem item = sample_item();
    std::string bytes = encode_roster_item(item);
    CHECK(static_cast<uint8_t>(bytes[0]) == kRosterRecordV1);
    RosterItem out;
    REQUIRE(decode_roster_item(bytes, out) == StorageError::kOk);
    CHECK(out.jid == item.jid);
    CHECK(out.name == item.name);
    CHECK(out.subscription == RosterItem::Subscription::kFrom);
    CHECK(out.ask_subscribe);
    CHECK(out.pending_in);
    CHECK(out.groups == item.groups);

    RosterItem plain;
    plain.jid = "x@y";
    REQUIRE(decode_roster_item(encode_roster_item(plain), out) == StorageError::kOk);
    CHECK(out.name.empty());
    CHECK(out.groups.empty());
    CHECK(out.subscription == RosterItem::Subscription::kNone);
    CHECK_FALSE(out.ask_subscribe);
    CHECK_FALSE(out.pending_in);
  }

  TEST_CASE("every truncation of a roster record, and bad fields, are kCorrupt") {
    std::string bytes = encode_roster_item(sample_item());
    RosterItem out;
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      CHECK(decode_roster_item(std::string_view(bytes).substr(0, n), out) ==
            StorageError::kCorrupt);
    }
    CHECK(decode_roster_item(bytes + "x", out) == StorageError::kCorrupt);

    // Offsets: format 1, jid 4+18, name 4+6, subscription at 33, flags 34,
    // group count 35..38.
    const size_t sub = 1 + 4 + 18 + 4 + 6;
    std::string b = bytes;
    b[sub] = 4;  // kRemove is never stored
    CHECK(decode_roster_item(b, out) == StorageError::kCorrupt);
    b = bytes;
    b[sub + 1] = 4;  // an undefined flag bit
    CHECK(decode_roster_item(b, out) == StorageError::kCorrupt);
    b = bytes;
    b[sub + 5] = '\x7f';  // a group count no record could hold
    CHECK(decode_roster_item(b, out) == StorageError::kCorrupt);

    // A stored contact that could not be a key.
    RosterItem item;
    item.jid = "x";
    std::string e = encode_roster_item(item);
    e[5] = '\0';
    CHECK(decode_roster_item(e, out) == StorageError::kCorrupt);
    e[5] = '\xff';
    CHECK(decode_roster_item(e, out) == StorageError::kCorrupt);
  }

  TEST_CASE("counters round-trip and reject anything else") {
    uint64_t v = 0;
    REQUIRE(decode_counter(encode_counter(0xFFFFFFFFFFFFFFFEull), v) == StorageError::kOk);
    CHECK(v == 0xFFFFFFFFFFFFFFFEull);
    std::string bytes = encode_counter(7);
    CHECK(bytes == std::string("\x31\x07\0\0\0\0\0\0\0", 9));
    for (size_t n = 0; n < bytes.size(); ++n) {
      CHECK(decode_counter(bytes.substr(0, n), v) == StorageError::kCorrupt);
    }
    CHECK(decode_counter(bytes + '\0', v) == StorageError::kCorrupt);
    CHECK(decode_counter(encode_roster_item(sample_item()), v) == StorageError::kCorrupt);
  }

  TEST_CASE("roster keys keep users apart: 'a' never sees 'ab'") {
    CHECK(roster_key("a", "b@x") == std::string("a\0b@x", 5));
    CHECK(roster_key_prefix("a") == std::string("a\0", 2));
    // The entry of user "ab" does not start with user "a"'s prefix, and user
    // "a"'s contact "b..." does not start with user "ab"'s prefix.
    std::string ab_key = roster_key("ab", "c@x");
    CHECK(ab_key.rfind(roster_key_prefix("a"), 0) != 0);
    CHECK(roster_key("a", "bc@x").rfind(roster_key_prefix("ab"), 0) != 0);
  }

  TEST_CASE("long names are hashed into keys that fit LMDB's 511-octet limit") {
    std::string user(1023, 'u');
    std::string contact = std::string(1023, 'c') + "@" + std::string(1023, 'd');
    std::string part = key_part(user);
    CHECK(part.size() == 65);
    CHECK(part[0] == '\xff');
    CHECK(part.find('\0') == std::string::npos);
    CHECK(key_part(std::string(200, 'u')) == std::string(200, 'u'));
    CHECK(key_part(std::string(201, 'u')).size() == 65);
    CHECK(key_part(std::string(201, 'u')) != key_part(std::string(201, 'v')));
    CHECK(roster_key(user, contact).size() <= 511);
    CHECK(roster_key(std::string(200, 'u'), std::string(200, 'c')).size() <= 511);
    CHECK(roster_key(user, contact).rfind(roster_key_prefix(user), 0) == 0);
    CHECK(account_key("alice") == "alice");
  }
}

}  // namespace
}  // namespace xd::server
