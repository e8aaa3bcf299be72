#include "protocol/xml/fragment_parser.h"

namespace xd::protocol {

std::unique_ptr<Element> parse_fragment(std::string_view xml, const ParserLimits& limits) {
  StreamParser parser(limits);
  parser.feed(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
  parser.feed(xml);
  parser.feed("</stream:stream>");
  // Reparse deferral may hold the tail back until told there is no more.
  parser.flush();
  std::unique_ptr<Element> out;
  while (auto ev = parser.next()) {
    switch (ev->type) {
      case StreamEvent::Type::kStreamOpen:
        break;
      case StreamEvent::Type::kStanza:
        if (out) return nullptr;  // more than one element
        out = std::move(ev->stanza);
        break;
      case StreamEvent::Type::kStreamClose:
        return out;
      case StreamEvent::Type::kError:
        return nullptr;
    }
  }
  return nullptr;
}

}  // namespace xd::protocol
