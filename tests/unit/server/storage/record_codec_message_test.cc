// The message-queue part of the LMDB record format
// (server/storage/lmdb/record_codec.h): queue keys that sort by sequence
// number and keep users apart, and the queued, SM and dedupe records with
// strict decoders (every truncation, extension or foreign type byte is
// kCorrupt).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "server/storage/lmdb/record_codec.h"

namespace xd::server {

inline doctest::String toString(StorageError e) {
  return doctest::String(storage_error_name(e).data(),
                         static_cast<unsigned>(storage_error_name(e).size()));
}

namespace {

QueuedStanza sample_queued() {
  QueuedStanza q;
  q.user = "juliet";
  q.seq = 77;
  q.stamp_ms = 0x0102030405060708ull;
  // Bytes, not a C string: an embedded NUL survives.
  static constexpr char kXml[] =
      "<message to='juliet@example.com'><body>\xC3\xA9\0x</body></message>";
  q.data.assign(kXml, sizeof kXml - 1);
  return q;
}

SmRecord sample_sm() {
  SmRecord r;
  r.id = "0123456789abcdef0123456789abcdef";
  r.user = "juliet";
  r.resource = "balcony";
  r.inbound_h = 0xFFFFFFFEu;
  r.stamp_ms = 1795837267123ull;
  r.presence_xml = "<presence><show>away</show></presence>";
  return r;
}

TEST_SUITE("storage.lmdb.record") {
  TEST_CASE("big_endian64 and queue keys: user NUL then the sequence, big-endian") {
    CHECK(big_endian64(0x0102030405060708ull) ==
          std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
    CHECK(big_endian64(0) == std::string(8, '\0'));
    CHECK(big_endian64(UINT64_MAX) == std::string(8, '\xff'));
    CHECK(queue_key_prefix("bob") == std::string("bob\0", 4));
    CHECK(queue_key("bob", 258) == std::string("bob\0\0\0\0\0\0\0\x01\x02", 12));
  }

  TEST_CASE("queue keys sort by sequence number within a user") {
    const std::vector<uint64_t> seqs = {
        0, 1, 2, 255, 256, 65535, 65536, 1ull << 40, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 1; i < seqs.size(); ++i) {
      CAPTURE(seqs[i]);
      CHECK(queue_key("u", seqs[i - 1]) < queue_key("u", seqs[i]));
      CHECK(big_endian64(seqs[i - 1]) < big_endian64(seqs[i]));
    }
  }

  TEST_CASE("queue keys keep users apart: 'a' never sees 'ab'") {
    const std::string pa = queue_key_prefix("a");
    const std::string pab = queue_key_prefix("ab");
    for (uint64_t seq :
         {uint64_t{0}, uint64_t{0x62}, uint64_t{0x6200000000000000ull}, UINT64_MAX}) {
      CAPTURE(seq);
      CHECK(queue_key("ab", seq).compare(0, pa.size(), pa) != 0);
      CHECK(queue_key("a", seq).compare(0, pab.size(), pab) != 0);
      CHECK(queue_key("a", seq).compare(0, pa.size(), pa) == 0);
    }
  }

  TEST_CASE("queue_key_seq reads back the sequence, also for hashed long names") {
    const std::string long_name(kInlineKeyPartBytes + 50, 'x');
    for (const std::string& user : {std::string("a"), std::string("juliet"), long_name}) {
      for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{1234567890123ull}, UINT64_MAX}) {
        CAPTURE(user.size());
        CAPTURE(seq);
        const std::string key = queue_key(user, seq);
        CHECK(key.size() <= 511);
        uint64_t out = 42;
        REQUIRE(queue_key_seq(key, out));
        CHECK(out == seq);
      }
    }
    uint64_t out = 0;
    CHECK_FALSE(queue_key_seq("", out));
    CHECK_FALSE(queue_key_seq(std::string(8, '\x01'), out));  // no separator room
    CHECK_FALSE(queue_key_seq(std::string("ab") + std::string(8, '\x01'), out));      // no NUL
    CHECK_FALSE(queue_key_seq(std::string("a\0", 2) + std::string(7, '\x01'), out));  // short
  }

  TEST_CASE("a queued stanza round-trips; the sequence comes from the key, not the record") {
    const QueuedStanza q = sample_queued();
    const std::string bytes = encode_queued(q);
    CHECK(static_cast<uint8_t>(bytes[0]) == kQueuedRecordV1);
    // u64 LE stamp right after the format octet.
    CHECK(bytes.substr(1, 8) == std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
    CHECK(bytes.substr(9, 10) == std::string("\x06\x00\x00\x00juliet", 10));
    QueuedStanza out;
    out.seq = 9000;  // what the caller read from the key
    REQUIRE(decode_queued(bytes, out) == StorageError::kOk);
    CHECK(out.user == q.user);
    CHECK(out.stamp_ms == q.stamp_ms);
    CHECK(out.data == q.data);
    CHECK(out.seq == 9000);
  }

  TEST_CASE("every truncation and every extension of a queued record is kCorrupt") {
    const std::string bytes = encode_queued(sample_queued());
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      QueuedStanza out;
      CHECK(decode_queued(bytes.substr(0, n), out) == StorageError::kCorrupt);
    }
    for (char extra : {'\0', 'x'}) {
      QueuedStanza out;
      CHECK(decode_queued(bytes + extra, out) == StorageError::kCorrupt);
    }
  }

  TEST_CASE("queued records with a foreign type byte or bad fields are kCorrupt") {
    const std::string bytes = encode_queued(sample_queued());
    for (uint8_t type : {uint8_t{0x00}, uint8_t{0x42}, uint8_t{0x40}, kAccountRecordV1,
                         kRosterRecordV1, kCounterRecordV1, kSmRecordV1, kDedupeRecordV1}) {
      CAPTURE(static_cast<int>(type));
      std::string b = bytes;
      b[0] = static_cast<char>(type);
      QueuedStanza out;
      CHECK(decode_queued(b, out) == StorageError::kCorrupt);
    }
    // Empty user, a user with NUL, empty xml.
    QueuedStanza q = sample_queued();
    for (int variant = 0; variant < 3; ++variant) {
      CAPTURE(variant);
      QueuedStanza bad = q;
      if (variant == 0) bad.user.clear();
      if (variant == 1) bad.user = std::string("ju\0et", 5);
      if (variant == 2) bad.data.clear();
      QueuedStanza out;
      CHECK(decode_queued(encode_queued(bad), out) == StorageError::kCorrupt);
    }
    // A length field larger than the record.
    std::string b = bytes;
    b[9] = '\xff';
    b[12] = '\x7f';
    QueuedStanza out;
    CHECK(decode_queued(b, out) == StorageError::kCorrupt);
    // Other record types are not queued stanzas.
    CHECK(decode_queued(encode_counter(5), out) == StorageError::kCorrupt);
    CHECK(decode_queued(encode_sm(sample_sm()), out) == StorageError::kCorrupt);
  }

  TEST_CASE("an SM record round-trips, with and without a presence") {
    for (bool presence : {true, false}) {
      CAPTURE(presence);
      SmRecord r = sample_sm();
      if (!presence) r.presence_xml.clear();
      const std::string bytes = encode_sm(r);
      CHECK(static_cast<uint8_t>(bytes[0]) == kSmRecordV1);
      SmRecord out;
      REQUIRE(decode_sm(bytes, out) == StorageError::kOk);
      CHECK(out.id == r.id);
      CHECK(out.user == r.user);
      CHECK(out.resource == r.resource);
      CHECK(out.inbound_h == r.inbound_h);
      CHECK(out.stamp_ms == r.stamp_ms);
      CHECK(out.presence_xml == r.presence_xml);
    }
  }

  TEST_CASE(
      "every truncation, extension, foreign type or empty field of an SM record is kCorrupt") {
    const std::string bytes = encode_sm(sample_sm());
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      SmRecord out;
      CHECK(decode_sm(bytes.substr(0, n), out) == StorageError::kCorrupt);
    }
    SmRecord out;
    CHECK(decode_sm(bytes + '\0', out) == StorageError::kCorrupt);
    for (uint8_t type : {kQueuedRecordV1, uint8_t{0x52}, kDedupeRecordV1}) {
      std::string b = bytes;
      b[0] = static_cast<char>(type);
      CHECK(decode_sm(b, out) == StorageError::kCorrupt);
    }
    for (int variant = 0; variant < 3; ++variant) {
      CAPTURE(variant);
      SmRecord bad = sample_sm();
      if (variant == 0) bad.id.clear();
      if (variant == 1) bad.user.clear();
      if (variant == 2) bad.resource.clear();
      CHECK(decode_sm(encode_sm(bad), out) == StorageError::kCorrupt);
    }
  }

  TEST_CASE("a dedupe record round-trips; anything else is kCorrupt") {
    for (uint64_t stamp : {uint64_t{0}, uint64_t{1795837267123ull}, UINT64_MAX}) {
      const std::string bytes = encode_dedupe(stamp);
      CHECK(bytes.size() == 9);
      CHECK(static_cast<uint8_t>(bytes[0]) == kDedupeRecordV1);
      uint64_t out = 1;
      REQUIRE(decode_dedupe(bytes, out) == StorageError::kOk);
      CHECK(out == stamp);
    }
    const std::string bytes = encode_dedupe(12345);
    uint64_t out = 7;
    for (size_t n = 0; n < bytes.size(); ++n) {
      CAPTURE(n);
      CHECK(decode_dedupe(bytes.substr(0, n), out) == StorageError::kCorrupt);
    }
    CHECK(decode_dedupe(bytes + 'x', out) == StorageError::kCorrupt);
    std::string b = bytes;
    b[0] = static_cast<char>(kCounterRecordV1);  // a counter has the same shape
    CHECK(decode_dedupe(b, out) == StorageError::kCorrupt);
    CHECK(decode_dedupe(encode_counter(12345), out) == StorageError::kCorrupt);
    CHECK(out == 7);  // untouched on failure
  }
}

}  // namespace
}  // namespace xd::server
