// Catalogue C27: chunking invariance. Every split of a stream must give the
// same events (stanzas and final error) as feeding it whole.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "parse_helpers.h"

using namespace xd::protocol;
using namespace xd::protocol::test;

namespace {

std::vector<std::string> corpus() {
  std::string h = kHeader;
  return {
      h + "<message to='bob@example.com' id='a1' type='chat'><body>h\xC3\xA9llo &amp; "
          "\xF0\x9F\x98\x80</body><request xmlns='urn:xmpp:receipts'/></message></stream:stream>",
      h + "<presence><show>away</show></presence> \n<iq type='get' id='1'><query "
          "xmlns='jabber:iq:roster'/></iq>",
      h + "<message><body><![CDATA[a]]b]]></body></message>",
      h + "<message xml:lang='en' xmlns:x='urn:x' x:a='1'><x:y/></message>",
      h + "<message><body>\xC0\xBC</body></message>",
      h + "<message><body>\xE2\x82</body></message>",
      h + "<message><!-- c --></message>",
      h + "<message><body>&foo;</body></message>",
      h + "<c:message xmlns:c='jabber:client'/>",
      h + "<message to='a' to='b'/>",
      "\xEF\xBB\xBF" + h,
      "<?xml version='1.1'?>" + h,
      "<!DOCTYPE x>" + h,
      h + "</stream:stream><x/>",
      h + "<presence/>text",
      // Found by the xml_stream fuzzer: the encoding verdict must not depend
      // on whether expat saw the first byte before the sniffer saw a NUL.
      std::string("\x96\x00\x01xml v<?xm", 11),
      "\x16\x03\x01\x02\x00\x01",
  };
}

}  // namespace

TEST_CASE("C27: every split point of short streams gives identical events") {
  for (const std::string& in : corpus()) {
    CAPTURE(in);
    auto whole = parse_all(in);
    REQUIRE(!whole.empty());
    for (size_t cut = 1; cut < in.size(); ++cut) {
      size_t first = cut;
      bool used = false;
      auto split = parse_split(in, [&](size_t rest) {
        if (!used) {
          used = true;
          return first;
        }
        return rest;
      });
      CHECK(split == whole);
    }
  }
}

TEST_CASE("C27: one byte at a time and random splits give identical events") {
  std::mt19937 rng(12345);  // fixed seed: hermetic
  for (const std::string& in : corpus()) {
    CAPTURE(in);
    auto whole = parse_all(in);
    CHECK(parse_split(in, [](size_t) { return 1; }) == whole);
    for (int round = 0; round < 20; ++round) {
      std::uniform_int_distribution<size_t> d(1, 16);
      CHECK(parse_split(in, [&](size_t) { return d(rng); }) == whole);
    }
  }
}

TEST_CASE("C27: hibernating between reads changes nothing") {
  for (const std::string& in : corpus()) {
    CAPTURE(in);
    auto whole = parse_all(in);
    CHECK(parse_split(
              in, [](size_t) { return 1; }, post_auth_parser_limits(), true) == whole);
    CHECK(parse_split(
              in, [](size_t) { return 5; }, post_auth_parser_limits(), true) == whole);
  }
}
