// Compact framing (spec/compact.md §3.2, §4): the preface, frame kinds,
// compression, and the decoder's StreamEvents, including every framing
// violation of catalogue J63/J64 with its condition.
#include "protocol/compact/compact_frames.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "protocol/compact/compression.h"
#include "protocol/compact/wire.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

using namespace xd::protocol;
using namespace xd::protocol::compact;

namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out.push_back(static_cast<char>(b));
  return out;
}

std::vector<std::string> events(CompactDecoder& d) {
  std::vector<std::string> out;
  while (auto ev = d.next()) {
    switch (ev->type) {
      case StreamEvent::Type::kStreamOpen: {
        std::string s = "open";
        for (const Attribute& a : ev->header.attrs) s += " " + a.name + "=" + a.value;
        out.push_back(s);
        break;
      }
      case StreamEvent::Type::kStanza:
        out.push_back(to_xml(*ev->stanza, "jabber:client"));
        break;
      case StreamEvent::Type::kStreamClose:
        out.push_back("close");
        break;
      case StreamEvent::Type::kError:
        // A size limit says so (XEP-0182 <stanza-too-big/>, catalogue C25).
        out.push_back("error " + std::string(stream_condition_name(ev->error)) +
                      (ev->too_big ? " too-big" : ""));
        break;
    }
  }
  return out;
}

std::string frame_of(std::string_view xml, bool compress = false) {
  auto e = parse_fragment(xml);
  REQUIRE(e);
  std::string out;
  REQUIRE(append_element_frame(*e, out, CodecContext{"example.com"}, compress));
  return out;
}

std::vector<std::string> decode_all(std::string_view input, bool compression = false,
                                    ParserLimits limits = post_auth_parser_limits()) {
  CompactDecoder d(limits, "example.com", compression);
  d.feed(input);
  return events(d);
}

const char* kChat =
    "<message to='bob@example.com/phone' type='chat' id='a1b2c3'><body>Thank you so much, I "
    "really appreciate it. Let me know when you are home.</body><request "
    "xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/></message>";

}  // namespace

TEST_CASE("compact preface: magic, versions, flags (spec §3.2)") {
  std::string p;
  append_preface(p, true);
  CHECK(p == bytes({'X', 'C', 1, 1, 1}));
  Preface got;
  CHECK(parse_preface(p, got) == PrefaceResult::kOk);
  CHECK(got.flags == kPrefaceCompression);
  CHECK(parse_preface("XC", got) == PrefaceResult::kNeedMore);
  // A plain XML client on the direct port fails at its first byte.
  CHECK(parse_preface("<", got) == PrefaceResult::kBad);
  CHECK(parse_preface(bytes({'X', 'C', 1, 1, 0x80}), got) == PrefaceResult::kBad);
}

TEST_CASE("compact frames: every kind decodes, in any chunking") {
  std::string input;
  auto header = std::make_unique<Element>("http://etherx.jabber.org/streams", "stream");
  header->set_attr("to", "example.com");
  header->set_attr("version", "1.0");
  append_open_frame(*header, input, CodecContext{});
  append_keepalive_frame(input);
  input += frame_of(kChat);
  input += frame_of("<r xmlns='urn:xmpp:sm:3'/>");
  append_close_frame(input);
  const std::vector<std::string> expect = {
      "open to=example.com version=1.0",
      std::string(kChat),
      "<r xmlns='urn:xmpp:sm:3'/>",
      "close",
  };
  CHECK(decode_all(input) == expect);
  for (size_t chunk : {1u, 2u, 3u, 7u}) {
    CompactDecoder d(post_auth_parser_limits(), "example.com", false);
    std::vector<std::string> got;
    for (size_t i = 0; i < input.size(); i += chunk) {
      d.feed(std::string_view(input).substr(i, chunk));
      for (auto& s : events(d)) got.push_back(s);
    }
    CHECK(got == expect);
  }
}

TEST_CASE("compact frames: compression is per frame and only when negotiated") {
  const std::string plain = frame_of(kChat, false);
  const std::string packed = frame_of(kChat, true);
  CHECK(packed.size() < plain.size());
  CHECK((static_cast<uint8_t>(packed[packed[0] & 0x80 ? 2 : 1]) & kFrameCompressed) != 0);
  CHECK(decode_all(packed, true) == std::vector<std::string>{kChat});
  CHECK(decode_all(packed, false) == std::vector<std::string>{"error bad-format"});
  // Catalogue J66: the size of a frame does not depend on an earlier frame.
  const std::string secret = frame_of(
      "<message><body>password is hunter2 hunter2 hunter2 hunter2 hunter2</body></message>", true);
  const std::string probe = frame_of(
      "<message><body>password is hunter2 hunter2 hunter2 hunter2 hunter2</body></message>", true);
  CHECK(secret == probe);
  const std::string alone = frame_of(kChat, true);
  CHECK(alone == packed);
}

TEST_CASE("compact frames: decompression bomb stops at the cap (catalogue J63)") {
  // 1 MiB of one text byte compresses to a few hundred bytes.
  std::string body = bytes({0x20, 0x02, 0x01, 0xF0, 0x80, 0x80, 0x40});
  body.append(1 << 20, 'a');
  std::string packed;
  append_varint(packed, static_cast<uint32_t>(body.size()));
  REQUIRE(compress_body(body, packed));
  CHECK(packed.size() < 1024);
  std::string frame;
  append_varint(frame, static_cast<uint32_t>(packed.size() + 1));
  frame.push_back(static_cast<char>(kFrameCompressed));
  frame += packed;
  // The claimed size is over the 256 KiB stanza limit: refused unread.
  CHECK(decode_all(frame, true) == std::vector<std::string>{"error policy-violation too-big"});
  // A lie about the size: the output never grows past the claim.
  std::string liar;
  append_varint(liar, 100);
  std::string z;
  REQUIRE(compress_body(body, z));
  liar += z;
  std::string frame2;
  append_varint(frame2, static_cast<uint32_t>(liar.size() + 1));
  frame2.push_back(static_cast<char>(kFrameCompressed));
  frame2 += liar;
  CHECK(decode_all(frame2, true) == std::vector<std::string>{"error bad-format"});
  // Garbage that is not zstd.
  CHECK(decode_all(bytes({0x05, 0x04, 0x03, 0x01, 0x02, 0x03}), true) ==
        std::vector<std::string>{"error bad-format"});
}

TEST_CASE("compact frames: size limits are flagged too_big, count limits not (catalogue C25)") {
  using V = std::vector<std::string>;
  const std::string frame = frame_of(kChat);
  // The frame fits the limit but its body decodes to more (tokens expand).
  ParserLimits tight = post_auth_parser_limits();
  tight.max_outstanding_bytes = frame.size();
  CHECK(decode_all(frame, false, tight) == V{"error policy-violation too-big"});
  // A length over the limit, judged before the body is read.
  tight.max_outstanding_bytes = 16;
  CHECK(decode_all(frame, false, tight) == V{"error policy-violation too-big"});
  // Depth and element count are no size limits.
  ParserLimits shallow = post_auth_parser_limits();
  shallow.max_depth = 1;
  CHECK(decode_all(frame, false, shallow) == V{"error policy-violation"});
  ParserLimits few = post_auth_parser_limits();
  few.max_elements_per_stanza = 2;
  CHECK(decode_all(frame, false, few) == V{"error policy-violation"});
}

TEST_CASE("compact frames: hostile framing gets its condition (catalogue J64)") {
  using V = std::vector<std::string>;
  // Length 0xFFFFFFFF: over the limit, judged before anything is buffered.
  CHECK(decode_all(bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x0F})) == V{"error policy-violation too-big"});
  // A varint longer than 5 bytes; a value above 2^32 - 1; non-minimal.
  CHECK(decode_all(bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80})) == V{"error bad-format"});
  CHECK(decode_all(bytes({0xFF, 0xFF, 0xFF, 0xFF, 0x1F})) == V{"error bad-format"});
  CHECK(decode_all(bytes({0x81, 0x00, 0x00})) == V{"error bad-format"});
  // Length 0; reserved flags; a close or keepalive with a body.
  CHECK(decode_all(bytes({0x00})) == V{"error bad-format"});
  CHECK(decode_all(bytes({0x01, 0x08})) == V{"error bad-format"});
  CHECK(decode_all(bytes({0x02, 0x02, 0x00})) == V{"error bad-format"});
  CHECK(decode_all(bytes({0x02, 0x03, 0x00})) == V{"error bad-format"});
  // A length beyond the frame's body: the element ends early.
  CHECK(decode_all(bytes({0x04, 0x00, 0x01, 0x02, 0x05})) == V{"error bad-format"});
  // A truncated frame is simply incomplete: nothing yet.
  CHECK(decode_all(bytes({0x10, 0x00, 0x00})).empty());
  // Pre-auth limits: 8 KiB.
  std::string big;
  append_varint(big, 9000);
  CHECK(decode_all(big, false, pre_auth_parser_limits()) == V{"error policy-violation too-big"});
  // An OPEN frame that is not a stream header.
  CHECK(decode_all(bytes({0x03, 0x01, 0x00, 0x02})) == V{"error bad-format"});
  // After the error nothing more comes out.
  CompactDecoder d(post_auth_parser_limits(), "example.com", false);
  d.feed(bytes({0x00}));
  CHECK(events(d) == V{"error bad-format"});
  d.feed(frame_of(kChat));
  CHECK(events(d).empty());
}

TEST_CASE("compact compression dictionary is pinned (spec §8)") {
  const std::string& dict = compression_dictionary();
  CHECK(dict.size() > 500);
  CHECK(dict.size() < 8192);
}
