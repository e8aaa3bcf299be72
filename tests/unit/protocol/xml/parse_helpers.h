// Test helpers: run a StreamParser over input split in a chosen way and
// summarise the events as strings, so tests compare whole event sequences.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/stream_error.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol::test {

// One line per event: "open", "stanza <xml>", "close", "error <condition>".
inline std::string summarize(const StreamEvent& ev) {
  switch (ev.type) {
    case StreamEvent::Type::kStreamOpen: {
      std::string s = "open " + ev.header.prefix + ":" + ev.header.name + " ns=" + ev.header.ns;
      s += " content=" + std::string(ev.header.content_namespace());
      for (const Attribute& a : ev.header.attrs) s += " " + a.name + "=" + a.value;
      return s;
    }
    case StreamEvent::Type::kStanza:
      return "stanza " + to_xml(*ev.stanza, "jabber:client");
    case StreamEvent::Type::kStreamClose:
      return "close";
    case StreamEvent::Type::kError:
      return "error " + std::string(stream_condition_name(ev.error));
  }
  return "?";
}

inline void drain(StreamParser& p, std::vector<std::string>& out) {
  while (auto ev = p.next()) out.push_back(summarize(*ev));
}

// Feeds |input| in pieces whose sizes come from |next_size| (called with the
// remaining length) and flushes at the end, as the connection owner's timer
// would.
inline std::vector<std::string> parse_split(std::string_view input,
                                            const std::function<size_t(size_t)>& next_size,
                                            const ParserLimits& limits = post_auth_parser_limits(),
                                            bool try_hibernate = false) {
  StreamParser p(limits);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < input.size()) {
    size_t n = next_size(input.size() - pos);
    if (n == 0) n = 1;
    if (n > input.size() - pos) n = input.size() - pos;
    p.feed(input.substr(pos, n));
    pos += n;
    drain(p, out);
    if (try_hibernate) p.hibernate();
  }
  p.flush();
  drain(p, out);
  return out;
}

inline std::vector<std::string> parse_all(std::string_view input,
                                          const ParserLimits& limits = post_auth_parser_limits()) {
  return parse_split(
      input, [](size_t rest) { return rest; }, limits);
}

inline const char* kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

// The last event of |events| (the final error, usually).
inline std::string last(const std::vector<std::string>& events) {
  return events.empty() ? std::string() : events.back();
}

}  // namespace xd::protocol::test
