// XML -> compact -> XML differential fuzz target (spec/compact.md §5): the
// input is one stanza as it would arrive in a jabber:client stream. If
// parse_fragment accepts it, its token encoding must decode to an equal
// tree, with and without a stream domain (the JID flag, §5.8), and so must
// ELEMENT frames built with compression on and off when fed, together,
// through a CompactDecoder. A tree the XML parser built must always encode.
// Limits are generous: this target is about content, the decoder target
// about limits. Any difference traps.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/compact/compact_codec.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"

using namespace xd::protocol;
using namespace xd::protocol::compact;

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();  // also in release builds
}

DecodeLimits generous_decode_limits() {
  DecodeLimits l;
  l.max_decoded_bytes = 64 * 1024 * 1024;
  l.max_depth = 256;
  l.max_attributes = 1024;
  l.max_elements = 1 << 20;
  return l;
}

ParserLimits generous_parser_limits() {
  ParserLimits l = post_auth_parser_limits();
  l.max_outstanding_bytes = 64 * 1024 * 1024;
  l.max_depth = 256;
  l.max_attributes = 1024;
  l.max_elements_per_stanza = 1 << 20;
  return l;
}

void round_trip(const Element& stanza, std::string_view domain) {
  const CodecContext ctx{domain};
  std::string body;
  require(encode_element(stanza, body, ctx));  // parsed trees always encode
  DecodeError err;
  std::unique_ptr<Element> back = decode_element(body, ctx, generous_decode_limits(), err);
  require(back != nullptr);
  require(back->equals(stanza));

  // Frames: plain, then compressed when that is smaller; both in one stream.
  std::string plain, packed;
  require(append_element_frame(stanza, plain, ctx, /*compress=*/false));
  require(append_element_frame(stanza, packed, ctx, /*compress=*/true));
  require(packed.size() <= plain.size());
  CompactDecoder d(generous_parser_limits(), std::string(domain), /*compression=*/true);
  d.feed(plain);
  d.feed(packed);
  for (int i = 0; i < 2; ++i) {
    std::optional<StreamEvent> ev = d.next();
    require(ev && ev->type == StreamEvent::Type::kStanza);
    require(ev->stanza->equals(stanza));
  }
  require(!d.next());
  require(d.outstanding_bytes() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  std::unique_ptr<Element> stanza = parse_fragment(xml);
  if (!stanza) return 0;
  round_trip(*stanza, "example.com");
  round_trip(*stanza, "");
  return 0;
}
