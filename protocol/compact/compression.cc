#include "protocol/compact/compression.h"

#include <zstd.h>

#include <cstdint>
#include <memory>

#include "protocol/compact/compact_codec.h"
#include "protocol/compact/compact_dictionary_data.h"
#include "protocol/xml/fragment_parser.h"

namespace xd::protocol::compact {
namespace {

// spec §4.3: the magic number every zstd frame starts with (RFC 8878
// §3.1.1), little-endian; it is not sent.
constexpr uint8_t kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
// spec §4.3: the level is the encoder's choice; 3 is zstd's default.
constexpr int kLevel = 3;

std::string build_dictionary() {
  std::string dict;
  std::string_view samples = compact_data::kCompressionSamples;
  const CodecContext none{};
  // One sample element per line; blank lines and '#' lines are skipped.
  while (!samples.empty()) {
    const size_t nl = samples.find('\n');
    std::string_view line = samples.substr(0, nl);
    samples = nl == std::string_view::npos ? std::string_view{} : samples.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    std::unique_ptr<Element> e = parse_fragment(line);
    if (e) encode_element(*e, dict, none);
  }
  return dict;
}

struct Digested {
  ZSTD_CDict* cdict;
  ZSTD_DDict* ddict;
};

const Digested& digested() {
  static const Digested d = [] {
    const std::string& dict = compression_dictionary();
    return Digested{ZSTD_createCDict(dict.data(), dict.size(), kLevel),
                    ZSTD_createDDict(dict.data(), dict.size())};
  }();
  return d;
}

struct Contexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  std::string scratch;
  ~Contexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};

Contexts& contexts() {
  thread_local Contexts t;
  return t;
}

}  // namespace

const std::string& compression_dictionary() {
  static const std::string* const dict = new std::string(build_dictionary());
  return *dict;
}

bool compress_body(std::string_view body, std::string& out) {
  Contexts& t = contexts();
  const size_t bound = ZSTD_compressBound(body.size());
  t.scratch.resize(bound);
  const size_t n = ZSTD_compress_usingCDict(t.c, t.scratch.data(), bound, body.data(), body.size(),
                                            digested().cdict);
  if (ZSTD_isError(n) || n < sizeof kZstdMagic) return false;
  // The magic number is not sent (spec §4.3).
  out.append(t.scratch.data() + sizeof kZstdMagic, n - sizeof kZstdMagic);
  return true;
}

bool decompress_body(std::string_view compressed, size_t size, std::string& out) {
  Contexts& t = contexts();
  t.scratch.assign(reinterpret_cast<const char*>(kZstdMagic), sizeof kZstdMagic);
  t.scratch.append(compressed);
  // Exactly one zstd frame (spec §4.3): a second frame or a skippable one
  // after it is not part of the format.
  if (ZSTD_findFrameCompressedSize(t.scratch.data(), t.scratch.size()) != t.scratch.size()) {
    out.clear();
    return false;
  }
  out.resize(size);
  const size_t n = ZSTD_decompress_usingDDict(t.d, out.data(), size, t.scratch.data(),
                                              t.scratch.size(), digested().ddict);
  if (t.scratch.capacity() > 64 * 1024) {
    t.scratch.clear();
    t.scratch.shrink_to_fit();
  }
  if (ZSTD_isError(n) || n != size) {
    out.clear();
    return false;
  }
  return true;
}

}  // namespace xd::protocol::compact
