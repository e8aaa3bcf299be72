#include "protocol/xml/fragment_parser.h"

#include <cstdint>

namespace xd::protocol {
namespace {

// Parses |xml| as the content of a jabber:client stream whose header binds
// the 'stream' prefix. Appends at most |max| elements; false, with |out| as
// it was, on an error or more than |max| elements. The stream must end with
// the closing tag fed here, not with one inside |xml|: otherwise
// "<message/></stream:stream>" followed by anything (a DOCTYPE, a second
// document) would pass, and the rest would never be looked at.
bool parse_sequence(std::string_view xml, std::vector<std::unique_ptr<Element>>& out,
                    const ParserLimits& limits, size_t max) {
  StreamParser parser(limits);
  parser.feed(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
  parser.feed(xml);
  // Reparse deferral may hold the tail back until told there is no more.
  parser.flush();
  const size_t mark = out.size();
  for (bool ours = false;; ours = true) {
    if (ours) {
      parser.feed("</stream:stream>");
      parser.flush();
    }
    while (auto ev = parser.next()) {
      switch (ev->type) {
        case StreamEvent::Type::kStreamOpen:
          continue;
        case StreamEvent::Type::kStanza:
          if (!ours && out.size() - mark < max) {
            out.push_back(std::move(ev->stanza));
            continue;
          }
          break;
        case StreamEvent::Type::kStreamClose:
          if (ours) return true;
          break;  // a closing tag inside |xml|
        case StreamEvent::Type::kError:
          break;
      }
      out.resize(mark);
      return false;
    }
    if (ours) break;
  }
  out.resize(mark);
  return false;
}

}  // namespace

std::unique_ptr<Element> parse_fragment(std::string_view xml, const ParserLimits& limits) {
  std::vector<std::unique_ptr<Element>> one;
  if (!parse_sequence(xml, one, limits, 1) || one.size() != 1) return nullptr;
  return std::move(one.front());
}

bool parse_fragments(std::string_view xml, std::vector<std::unique_ptr<Element>>& out,
                     const ParserLimits& limits) {
  return parse_sequence(xml, out, limits, SIZE_MAX);
}

}  // namespace xd::protocol
