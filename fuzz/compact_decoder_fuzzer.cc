// Differential fuzz target for the compact dialect's frame decoder
// (spec/compact.md §4, §5, §10): post-auth limits, compression allowed,
// stream domain "example.com". The same bytes fed whole and split at a point
// chosen by byte 0 must give identical events. Every decoded stanza must
// serialize to XML that parses back to an equal tree (catalogue J65: a
// compact stanza cannot smuggle markup into an XML stream), and re-encode to
// a body that decodes to an equal tree and re-encodes to the same bytes
// (the encoder is canonical). Any difference traps.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/compact/compact_codec.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

using namespace xd::protocol;
using namespace xd::protocol::compact;

namespace {

constexpr std::string_view kDomain = "example.com";

void require(bool condition) {
  if (!condition) __builtin_trap();  // also in release builds
}

struct Run {
  std::vector<std::string> events;
  std::vector<std::unique_ptr<Element>> stanzas;
};

void drain(CompactDecoder& d, Run& run) {
  while (auto ev = d.next()) {
    switch (ev->type) {
      case StreamEvent::Type::kStreamOpen: {
        std::string s = "open " + ev->header.ns + " " + ev->header.name;
        for (const Attribute& a : ev->header.attrs) s += " {" + a.ns + "}" + a.name + "=" + a.value;
        run.events.push_back(std::move(s));
        break;
      }
      case StreamEvent::Type::kStanza: {
        std::string xml;
        require(serialize(*ev->stanza, xml, "jabber:client"));  // decoded trees always serialize
        run.events.push_back("stanza " + xml);
        run.stanzas.push_back(std::move(ev->stanza));
        break;
      }
      case StreamEvent::Type::kStreamClose:
        run.events.push_back("close");
        break;
      case StreamEvent::Type::kError:
        run.events.push_back("error " + std::string(stream_condition_name(ev->error)));
        break;
    }
  }
}

Run decode(std::string_view in, size_t cut) {
  CompactDecoder d(post_auth_parser_limits(), std::string(kDomain), /*compression=*/true);
  Run run;
  if (cut > 0 && cut < in.size()) {
    d.feed(in.substr(0, cut));
    drain(d, run);
    in.remove_prefix(cut);
  }
  d.feed(in);
  drain(d, run);
  return run;
}

// Room for what escaping adds ('<' is 4 bytes in XML) and for a prefix
// declaration per qualified attribute: the checks below are about content,
// not limits.
ParserLimits generous_parser_limits() {
  ParserLimits l = post_auth_parser_limits();
  l.max_outstanding_bytes = 64 * 1024 * 1024;
  l.max_namespace_declarations = 1024;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  Run whole = decode(in, 0);
  Run split = decode(in, (in.size() * mode) / 255);
  require(whole.events == split.events);

  const CodecContext ctx{kDomain};
  DecodeLimits generous;
  generous.max_decoded_bytes = 64 * 1024 * 1024;
  generous.max_depth = 256;
  generous.max_attributes = 1024;
  generous.max_elements = 1 << 20;
  for (const auto& stanza : whole.stanzas) {
    // J65: the XML written for a compact stanza is exactly that stanza.
    std::string xml;
    require(serialize(*stanza, xml, "jabber:client"));
    std::unique_ptr<Element> reparsed = parse_fragment(xml, generous_parser_limits());
    require(reparsed != nullptr);
    require(reparsed->equals(*stanza));

    // Re-encoding: decodes to an equal tree, and is a fixed point.
    std::string body;
    require(encode_element(*stanza, body, ctx));
    DecodeError err;
    std::unique_ptr<Element> again = decode_element(body, ctx, generous, err);
    require(again != nullptr);
    require(again->equals(*stanza));
    std::string body2;
    require(encode_element(*again, body2, ctx));
    require(body2 == body);
  }
  return 0;
}
