#include "protocol/compact/compression.h"

#include <zstd.h>

#include <cstdint>
#include <cstdlib>
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
constexpr int kLevel = 1;
constexpr int kWindowLog = 14;
constexpr int kTableLog = 12;

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
    // The samples are ours; one that does not parse or encode is a bug in
    // the data file, caught by every test run rather than skipped.
    if (!e || !encode_element(*e, dict, none)) std::abort();
  }
  return dict;
}

const ZSTD_DDict* ddict() {
  static const ZSTD_DDict* const d = [] {
    const std::string& dict = compression_dictionary();
    return ZSTD_createDDict(dict.data(), dict.size());
  }();
  return d;
}

// Parameters sized for frames of a few hundred octets: zstd's defaults
// assume large inputs and would reset 100s of KiB of match tables per
// stanza. A 16 KiB window holds the dictionary and any frame this matters
// for; larger frames only find fewer matches.
ZSTD_CCtx* make_compressor() {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  if (!c) std::abort();
  ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, kLevel);
  ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, kWindowLog);
  ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, kTableLog);
  ZSTD_CCtx_setParameter(c, ZSTD_c_chainLog, kTableLog);
  ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
  ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
  const std::string& dict = compression_dictionary();
  // No dictionary magic: loaded as raw content (spec §8). Digested once,
  // kept for every frame this context compresses.
  if (ZSTD_isError(ZSTD_CCtx_loadDictionary(c, dict.data(), dict.size()))) std::abort();
  return c;
}

struct Contexts {
  ZSTD_CCtx* c = make_compressor();
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
  const size_t n = ZSTD_compress2(t.c, t.scratch.data(), bound, body.data(), body.size());
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
                                              t.scratch.size(), ddict());
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
