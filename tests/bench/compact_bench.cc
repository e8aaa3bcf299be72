// Compact dialect benchmark (spec/compact.md) over a corpus of chat traffic,
// one stanza per line (tests/data/compact/chat_corpus.xml, made by
// scripts/gen_chat_corpus.py). Reports
//  (a) size: ELEMENT frames (length, flags, body) as a share of the XML our
//      serializer writes for the same stanzas in a jabber:client stream,
//      token encoding alone and with per-frame zstd, per stanza class and
//      overall;
//  (b) time per stanza: compact encode + decode (append_element_frame, then
//      CompactDecoder over the stream of frames) against XML serialize +
//      StreamParser over a stream of the same stanzas, and their ratio.
// Every stanza is checked to come back equal once before timing.
// Usage: compact_bench [CORPUS [ROUNDS [PASSES]]] (scripts/bench compact).
// A benchmark, not a test: it asserts nothing about time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/compact/compact_frames.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

using namespace xd::protocol;
using namespace xd::protocol::compact;

namespace {

constexpr size_t kChunk = 64 * 1024;  // one read's worth, as net/ hands it over
constexpr std::string_view kDomain = "example.com";
constexpr std::string_view kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='bench' "
    "version='1.0'>";

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "compact_bench: %s\n", what);
  std::exit(1);
}

std::string classify(const Element& e) {
  constexpr std::string_view kSm = "urn:xmpp:sm:3";
  if (e.ns() == kSm) return "sm <r/> <a h/>";
  if (e.name() == "presence") return "presence";
  if (e.name() == "iq") {
    if (e.child("ping", "urn:xmpp:ping")) return "iq ping";
    if (e.child("query", "jabber:iq:roster")) return "iq roster";
    return "iq result";
  }
  if (e.name() == "message") {
    if (e.child("body", "jabber:client")) return "message with body";
    if (e.child("received", "urn:xmpp:receipts")) return "receipt (0184)";
    if (e.child("displayed", "urn:xmpp:chat-markers:0")) return "displayed (0333)";
    for (const Node& n : e.children()) {
      if (n.element && n.element->ns() == "http://jabber.org/protocol/chatstates") {
        return "chat state";
      }
    }
    return "message, other";
  }
  return "other";
}

struct Sizes {
  size_t count = 0, xml = 0, token = 0, packed = 0, compressed_frames = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

using Stanzas = std::vector<std::unique_ptr<Element>>;

void xml_serialize(const Stanzas& stanzas, std::string& out) {
  out.assign(kHeader);
  for (const auto& s : stanzas) {
    if (!serialize(*s, out, "jabber:client")) die("serialize failed");
  }
}

size_t xml_parse(const std::string& stream, Stanzas* keep) {
  StreamParser p(post_auth_parser_limits());
  size_t n = 0;
  auto drain = [&] {
    while (auto ev = p.next()) {
      if (ev->type == StreamEvent::Type::kError) die("XML parse error");
      if (ev->type != StreamEvent::Type::kStanza) continue;
      ++n;
      if (keep) keep->push_back(std::move(ev->stanza));
    }
  };
  for (size_t pos = 0; pos < stream.size(); pos += kChunk) {
    p.feed(std::string_view(stream).substr(pos, kChunk));
    drain();
  }
  p.flush();
  drain();
  return n;
}

void compact_encode(const Stanzas& stanzas, std::string& out, bool compress) {
  out.clear();
  const CodecContext ctx{kDomain};
  for (const auto& s : stanzas) {
    if (!append_element_frame(*s, out, ctx, compress)) die("encode failed");
  }
}

size_t compact_decode(const std::string& stream, Stanzas* keep) {
  CompactDecoder d(post_auth_parser_limits(), std::string(kDomain), /*compression=*/true);
  size_t n = 0;
  for (size_t pos = 0; pos < stream.size(); pos += kChunk) {
    d.feed(std::string_view(stream).substr(pos, kChunk));
    while (auto ev = d.next()) {
      if (ev->type != StreamEvent::Type::kStanza) die("compact decode error");
      ++n;
      if (keep) keep->push_back(std::move(ev->stanza));
    }
  }
  return n;
}

void check_equal(const Stanzas& a, const Stanzas& b, const char* what) {
  if (a.size() != b.size()) die(what);
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i]->equals(*b[i])) die(what);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "tests/data/compact/chat_corpus.xml";
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 15;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  std::ifstream in(path);
  if (!in) die("cannot open the corpus");

  Stanzas stanzas;
  std::vector<std::string> classes;
  std::map<std::string, Sizes> by_class;
  Sizes total;
  const CodecContext ctx{kDomain};
  std::string line, xml, plain, packed;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto e = parse_fragment(line);
    if (!e) die("a corpus line does not parse");
    xml.clear();
    plain.clear();
    packed.clear();
    if (!serialize(*e, xml, "jabber:client")) die("serialize failed");
    if (!append_element_frame(*e, plain, ctx, false)) die("encode failed");
    if (!append_element_frame(*e, packed, ctx, true)) die("encode failed");
    for (Sizes* s : {&by_class[classify(*e)], &total}) {
      s->count++;
      s->xml += xml.size();
      s->token += plain.size();
      s->packed += packed.size();
      s->compressed_frames += packed.size() < plain.size();
    }
    stanzas.push_back(std::move(e));
  }
  if (stanzas.empty()) die("empty corpus");
  const size_t n = stanzas.size();

  // Correctness once: both paths give back the same trees.
  std::string xml_stream, token_stream, packed_stream;
  xml_serialize(stanzas, xml_stream);
  compact_encode(stanzas, token_stream, false);
  compact_encode(stanzas, packed_stream, true);
  Stanzas back;
  if (xml_parse(xml_stream, &back) != n) die("XML stanza count");
  check_equal(stanzas, back, "XML round trip differs");
  for (const std::string* s : {&token_stream, &packed_stream}) {
    back.clear();
    if (compact_decode(*s, &back) != n) die("compact stanza count");
    check_equal(stanzas, back, "compact round trip differs");
  }

  std::printf("corpus: %s, %zu stanzas, %zu XML bytes (avg %.0f)\n", path, n, total.xml,
              static_cast<double>(total.xml) / static_cast<double>(n));
  std::printf("\n(a) size: compact ELEMENT frames as a share of XML bytes\n");
  std::printf("%-20s %6s %9s %9s %9s %9s %11s\n", "class", "count", "XML avg", "token avg",
              "token %", "+zstd %", "compressed");
  auto row = [](const std::string& name, const Sizes& s) {
    const double c = static_cast<double>(s.count);
    std::printf("%-20s %6zu %9.1f %9.1f %8.1f%% %8.1f%% %10.0f%%\n", name.c_str(), s.count,
                static_cast<double>(s.xml) / c, static_cast<double>(s.token) / c,
                100.0 * static_cast<double>(s.token) / static_cast<double>(s.xml),
                100.0 * static_cast<double>(s.packed) / static_cast<double>(s.xml),
                100.0 * static_cast<double>(s.compressed_frames) / c);
  };
  for (const auto& [name, s] : by_class) row(name, s);
  row("all", total);

  // (b) time. Each measurement handles the corpus |reps| times; the rounds
  // interleave the six measurements, so a burst of load on a shared machine
  // hits every path alike, and each keeps its best round. Encode writes one
  // stream of frames (or XML), decode reads it.
  std::string scratch;
  size_t sink = 0;
  const double total_stanzas = static_cast<double>(n) * reps;
  auto per_stanza_ns = [&](double seconds) { return 1e9 * seconds / total_stanzas; };
  double t_ser = 1e30, t_parse = 1e30, t_enc = 1e30, t_dec = 1e30, t_zenc = 1e30, t_zdec = 1e30;
  auto timed = [&](double& best, auto&& f) {
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) f();
    best = std::min(best, seconds_since(t0));
  };
  for (int round = 0; round < rounds; ++round) {
    timed(t_ser, [&] { xml_serialize(stanzas, scratch); });
    timed(t_parse, [&] { sink += xml_parse(xml_stream, nullptr); });
    timed(t_enc, [&] { compact_encode(stanzas, scratch, false); });
    timed(t_dec, [&] { sink += compact_decode(token_stream, nullptr); });
    timed(t_zenc, [&] { compact_encode(stanzas, scratch, true); });
    timed(t_zdec, [&] { sink += compact_decode(packed_stream, nullptr); });
  }
  if (sink == 0) die("nothing decoded");

  std::printf("\n(b) time per stanza, best of %d rounds of %d passes over the corpus\n", rounds,
              reps);
  std::printf("%-24s %10s %10s %10s %12s\n", "path", "encode ns", "decode ns", "total ns",
              "vs XML");
  const double xml_total = per_stanza_ns(t_ser + t_parse);
  auto trow = [&](const char* name, double enc, double dec) {
    const double tot = per_stanza_ns(enc + dec);
    std::printf("%-24s %10.0f %10.0f %10.0f %11.0f%%\n", name, per_stanza_ns(enc),
                per_stanza_ns(dec), tot, 100.0 * tot / xml_total);
  };
  trow("XML (serialize+parse)", t_ser, t_parse);
  trow("compact, token only", t_enc, t_dec);
  trow("compact, token + zstd", t_zenc, t_zdec);
  std::printf("speed-up over XML: token only %.2fx, token + zstd %.2fx\n",
              (t_ser + t_parse) / (t_enc + t_dec), (t_ser + t_parse) / (t_zenc + t_zdec));
  return 0;
}
