// Parser benchmark: our StreamParser (restricted XML, limits, tree
// building) against raw expat with no handlers over the same bytes, on a
// corpus of typical chat stanzas. Prints stanzas/s and MB/s for both.
// A benchmark, not a test: it asserts nothing about time.
#include <expat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/xml/stream_parser.h"

using namespace xd::protocol;

namespace {

constexpr size_t kChunk = 64 * 1024;  // one read's worth, as net/ hands it over

std::string make_corpus(size_t stanzas, size_t* count) {
  std::string s =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
  size_t n = 0;
  for (size_t i = 0; n < stanzas; ++i) {
    std::string id = std::to_string(i);
    std::string to = "user" + std::to_string(i % 1000) + "@example.com";
    // 60% messages with body + receipt request + origin-id, 15% receipts,
    // 10% displayed markers, 10% presence, 5% iq ping.
    switch (i % 20) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
      case 7:
      case 8:
      case 9:
      case 10:
      case 11:
        s += "<message to='" + to + "' type='chat' id='m" + id +
             "'><body>Hello there, this is message number " + id +
             " &amp; it has a typical length.</body><request xmlns='urn:xmpp:receipts'/>"
             "<markable xmlns='urn:xmpp:chat-markers:0'/><origin-id xmlns='urn:xmpp:sid:0' id='o" +
             id + "'/></message>";
        break;
      case 12:
      case 13:
      case 14:
        s += "<message to='" + to + "' id='r" + id + "'><received xmlns='urn:xmpp:receipts' id='m" +
             id + "'/></message>";
        break;
      case 15:
      case 16:
        s += "<message to='" + to +
             "' type='chat'><displayed xmlns='urn:xmpp:chat-markers:0' id='m" + id +
             "'/></message>";
        break;
      case 17:
      case 18:
        s += "<presence><show>away</show><status>In a "
             "meeting</status><priority>5</priority></presence>";
        break;
      default:
        s += "<iq type='get' id='p" + id + "' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>";
        break;
    }
    ++n;
  }
  *count = n;
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double run_ours(const std::string& corpus, size_t expected) {
  auto t0 = std::chrono::steady_clock::now();
  StreamParser p(post_auth_parser_limits());
  size_t stanzas = 0;
  for (size_t pos = 0; pos < corpus.size(); pos += kChunk) {
    p.feed(std::string_view(corpus).substr(pos, kChunk));
    while (auto ev = p.next()) {
      if (ev->type == StreamEvent::Type::kStanza) ++stanzas;
      if (ev->type == StreamEvent::Type::kError) {
        std::fprintf(stderr, "parse error: %s\n", ev->detail.c_str());
        std::exit(1);
      }
    }
  }
  p.flush();
  while (auto ev = p.next()) {
    if (ev->type == StreamEvent::Type::kStanza) ++stanzas;
  }
  double t = seconds_since(t0);
  if (stanzas != expected) {
    std::fprintf(stderr, "expected %zu stanzas, got %zu\n", expected, stanzas);
    std::exit(1);
  }
  return t;
}

double run_raw_expat(const std::string& corpus) {
  auto t0 = std::chrono::steady_clock::now();
  XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
  for (size_t pos = 0; pos < corpus.size(); pos += kChunk) {
    size_t n = std::min(kChunk, corpus.size() - pos);
    if (XML_Parse(p, corpus.data() + pos, static_cast<int>(n), XML_FALSE) != XML_STATUS_OK) {
      std::fprintf(stderr, "expat error\n");
      std::exit(1);
    }
  }
  XML_ParserFree(p);
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  size_t want = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  size_t count = 0;
  std::string corpus = make_corpus(want, &count);
  double mb = static_cast<double>(corpus.size()) / 1e6;
  double best_ours = 1e9, best_raw = 1e9;
  for (int r = 0; r < rounds; ++r) {
    best_raw = std::min(best_raw, run_raw_expat(corpus));
    best_ours = std::min(best_ours, run_ours(corpus, count));
  }
  std::printf("corpus: %zu stanzas, %.1f MB (avg %.0f bytes), best of %d rounds\n", count, mb,
              static_cast<double>(corpus.size()) / static_cast<double>(count), rounds);
  std::printf("%-34s %12s %10s\n", "parser", "stanzas/s", "MB/s");
  std::printf("%-34s %12.0f %10.1f\n", "raw expat (no handlers)", count / best_raw, mb / best_raw);
  std::printf("%-34s %12.0f %10.1f\n", "xd StreamParser (tree + limits)", count / best_ours,
              mb / best_ours);
  std::printf("ratio ours / raw expat: %.0f%%\n", 100.0 * best_raw / best_ours);
  return 0;
}
