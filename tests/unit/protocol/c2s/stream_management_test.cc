// XEP-0198 counters of protocol/c2s/stream_management.h: acknowledgements
// modulo 2^32 (kOk, kTooHigh, kBehind), the unacknowledged list with its
// tags, inbound numbering, and the strict parser of the h attribute.
#include "protocol/c2s/stream_management.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace xd::protocol {
namespace {

using Ack = StreamManagement::AckResult;
using Tags = std::vector<uint64_t>;

const char* name(Ack a) {
  switch (a) {
    case Ack::kOk:
      return "kOk";
    case Ack::kTooHigh:
      return "kTooHigh";
    case Ack::kBehind:
      return "kBehind";
  }
  return "?";
}

std::vector<std::string> xml_of(const StreamManagement& sm) {
  std::vector<std::string> out;
  for (const auto& s : sm.unacked()) out.push_back(s.xml);
  return out;
}

TEST_SUITE("stream_management") {
  TEST_CASE("a fresh state counts nothing and acknowledges h=0") {
    StreamManagement sm;
    CHECK(sm.sent() == 0);
    CHECK(sm.acked() == 0);
    CHECK(sm.inbound() == 0);
    CHECK(sm.unacked_count() == 0);
    CHECK(sm.id().empty());
    Tags tags;
    CHECK(name(sm.ack(0, tags)) == std::string("kOk"));
    CHECK(tags.empty());
  }

  TEST_CASE("record keeps stanzas in order; ack drops them and returns non-zero tags") {
    StreamManagement sm;
    sm.record(7, "<message id='1'/>");
    sm.record(0, "<iq id='2'/>");
    sm.record(9, "<message id='3'/>");
    sm.record(11, "<message id='4'/>");
    CHECK(sm.sent() == 4);
    CHECK(sm.unacked_count() == 4);

    Tags tags;
    REQUIRE(sm.ack(2, tags) == Ack::kOk);
    CHECK(tags == Tags{7});  // the tag-0 stanza is acknowledged but not reported
    CHECK(sm.acked() == 2);
    CHECK(xml_of(sm) == std::vector<std::string>{"<message id='3'/>", "<message id='4'/>"});

    // The same h again changes nothing and is no error.
    tags.clear();
    CHECK(sm.ack(2, tags) == Ack::kOk);
    CHECK(tags.empty());
    CHECK(sm.unacked_count() == 2);

    // Tags are appended, oldest first.
    tags = {100};
    REQUIRE(sm.ack(4, tags) == Ack::kOk);
    CHECK(tags == Tags{100, 9, 11});
    CHECK(sm.unacked_count() == 0);
    CHECK(sm.acked() == 4);
    CHECK(sm.sent() == 4);
  }

  TEST_CASE("acknowledging more than was sent is kTooHigh and changes nothing") {
    StreamManagement sm;
    sm.record(1, "a");
    sm.record(2, "b");
    Tags tags;
    CHECK(sm.ack(3, tags) == Ack::kTooHigh);
    CHECK(sm.ack(1000, tags) == Ack::kTooHigh);
    CHECK(sm.ack(UINT32_MAX / 2, tags) == Ack::kTooHigh);
    CHECK(tags.empty());
    CHECK(sm.acked() == 0);
    CHECK(sm.unacked_count() == 2);
    // Nothing sent at all: any h above 0 is too high.
    StreamManagement empty;
    CHECK(empty.ack(1, tags) == Ack::kTooHigh);
  }

  TEST_CASE("an h below the previous one is kBehind and changes nothing") {
    StreamManagement sm;
    for (uint64_t t = 1; t <= 5; ++t) sm.record(t, "x");
    Tags tags;
    REQUIRE(sm.ack(4, tags) == Ack::kOk);
    tags.clear();
    CHECK(sm.ack(3, tags) == Ack::kBehind);
    CHECK(sm.ack(0, tags) == Ack::kBehind);
    CHECK(tags.empty());
    CHECK(sm.acked() == 4);
    CHECK(sm.unacked_count() == 1);
    REQUIRE(sm.ack(5, tags) == Ack::kOk);
    CHECK(tags == Tags{5});
  }

  TEST_CASE("counters wrap at 2^32 (XEP-0198 §4)") {
    // Three stanzas sent across the wrap: 2^32-1, 0, 1.
    StreamManagement sm(UINT32_MAX - 1);
    CHECK(sm.sent() == UINT32_MAX - 1);
    CHECK(sm.acked() == UINT32_MAX - 1);
    sm.record(1, "a");
    sm.record(2, "b");
    sm.record(3, "c");
    CHECK(sm.sent() == 1);
    Tags tags;
    REQUIRE(sm.ack(UINT32_MAX, tags) == Ack::kOk);
    CHECK(tags == Tags{1});
    tags.clear();
    REQUIRE(sm.ack(1, tags) == Ack::kOk);  // past the wrap
    CHECK(tags == Tags{2, 3});
    CHECK(sm.acked() == 1);
    CHECK(sm.unacked_count() == 0);
    // Across the wrap, 2 is too high and UINT32_MAX is behind.
    CHECK(sm.ack(2, tags) == Ack::kTooHigh);
    CHECK(sm.ack(UINT32_MAX, tags) == Ack::kBehind);
    CHECK(sm.acked() == 1);
  }

  TEST_CASE("a state starting at a base counts from there, with nothing unacknowledged") {
    StreamManagement sm(41);
    Tags tags;
    CHECK(sm.ack(41, tags) == Ack::kOk);
    CHECK(sm.ack(42, tags) == Ack::kTooHigh);
    CHECK(sm.ack(40, tags) == Ack::kBehind);
    sm.record(5, "x");
    CHECK(sm.sent() == 42);
    REQUIRE(sm.ack(42, tags) == Ack::kOk);
    CHECK(tags == Tags{5});
  }

  TEST_CASE("inbound numbering is 1-based and wraps") {
    StreamManagement sm;
    CHECK(sm.count_inbound() == 1);
    CHECK(sm.count_inbound() == 2);
    CHECK(sm.inbound() == 2);
    sm.set_inbound(UINT32_MAX - 1);
    CHECK(sm.count_inbound() == UINT32_MAX);
    CHECK(sm.count_inbound() == 0);
    CHECK(sm.count_inbound() == 1);
    // Inbound counting never touches the outbound side.
    CHECK(sm.sent() == 0);
    CHECK(sm.unacked_count() == 0);
  }

  TEST_CASE("take_unacked empties the list; counters and id stay; the state moves") {
    StreamManagement sm;
    sm.set_id("abc");
    sm.record(3, "one");
    sm.record(4, "two");
    auto taken = sm.take_unacked();
    REQUIRE(taken.size() == 2);
    CHECK(taken[0].tag == 3);
    CHECK(taken[1].xml == "two");
    CHECK(sm.unacked_count() == 0);
    CHECK(sm.sent() == 2);
    CHECK(sm.id() == "abc");

    sm.record(5, "three");
    sm.count_inbound();
    StreamManagement moved(std::move(sm));
    CHECK(moved.id() == "abc");
    CHECK(moved.sent() == 3);
    CHECK(moved.inbound() == 1);
    CHECK(xml_of(moved) == std::vector<std::string>{"three"});
  }

  TEST_CASE("parse_sm_counter: decimal xs:unsignedInt only") {
    struct Good {
      const char* text;
      uint32_t value;
    };
    for (const Good& g : {Good{"0", 0}, Good{"1", 1}, Good{"42", 42}, Good{"007", 7},
                          Good{"4294967295", UINT32_MAX}, Good{"0000000000", 0}}) {
      CAPTURE(g.text);
      uint32_t v = 12345;
      CHECK(parse_sm_counter(g.text, v));
      CHECK(v == g.value);
    }
    for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "4294967296", "9999999999",
                            "18446744073709551617", "12a", "١"}) {
      CAPTURE(bad);
      uint32_t v = 12345;
      CHECK_FALSE(parse_sm_counter(bad, v));
      CHECK(v == 12345);  // untouched on failure
    }
    uint32_t v = 0;
    CHECK_FALSE(parse_sm_counter(std::string_view("1\0", 2), v));
  }
}

}  // namespace
}  // namespace xd::protocol
