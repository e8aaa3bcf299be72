// Reads an XMPP stream from a file (or stdin) in small reads, as a socket
// would deliver it, and prints each parser event: a way to see what the
// protocol core makes of a stream until the server exists.
#include <cstdio>
#include <string>

#include "protocol/stream_error.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

using namespace xd::protocol;

namespace {

void print_events(StreamParser& p, size_t& stanzas, bool& failed) {
  while (auto ev = p.next()) {
    switch (ev->type) {
      case StreamEvent::Type::kStreamOpen:
        std::printf("stream open  <%s:%s xmlns='%s'> content namespace '%s'\n",
                    ev->header.prefix.c_str(), ev->header.name.c_str(), ev->header.ns.c_str(),
                    std::string(ev->header.content_namespace()).c_str());
        break;
      case StreamEvent::Type::kStanza:
        ++stanzas;
        std::printf("stanza %-5zu %s\n", stanzas, to_xml(*ev->stanza, "jabber:client").c_str());
        // The session would lift the limits after SASL success.
        p.set_limits(post_auth_parser_limits());
        break;
      case StreamEvent::Type::kStreamClose:
        std::printf("stream close\n");
        break;
      case StreamEvent::Type::kError:
        std::printf("stream error <%s/> (%s)\n",
                    std::string(stream_condition_name(ev->error)).c_str(), ev->detail.c_str());
        failed = true;
        break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  FILE* in = argc > 1 ? std::fopen(argv[1], "rb") : stdin;
  if (!in) {
    std::perror(argv[1]);
    return 2;
  }
  StreamParser parser;
  size_t stanzas = 0;
  bool failed = false;
  char buf[512];  // small reads exercise partial tokens
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) {
    parser.feed(std::string_view(buf, n));
    print_events(parser, stanzas, failed);
  }
  parser.flush();
  print_events(parser, stanzas, failed);
  return failed ? 1 : 0;
}
