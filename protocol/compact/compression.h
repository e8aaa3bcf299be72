// Per-frame Zstandard compression with the static dictionary (spec/
// compact.md §4.3, §8). Every frame is compressed on its own: no context,
// window or dictionary state is carried from one frame to the next, so the
// size of a frame depends only on that frame (CRIME/BREACH, catalogue
// J66). The digested dictionaries are built once and shared read-only; the
// working contexts are per thread. Pure computation: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace xd::protocol::compact {

// The raw-content dictionary (spec §8): the token encodings of the sample
// stanzas in protocol/compact/compression_samples.xml, concatenated.
const std::string& compression_dictionary();

// Appends the compressed form of |body| (a zstd frame without its 4-byte
// magic number, spec §4.3). Returns false, appending nothing, on failure.
bool compress_body(std::string_view body, std::string& out);

// Decompresses |compressed| (magic removed) into exactly |size| bytes.
// False if the data is corrupt, is not exactly |size| bytes once
// decompressed, or would need more: the output is never larger than |size|,
// which the caller has checked against its limits (catalogue J63).
bool decompress_body(std::string_view compressed, size_t size, std::string& out);

}  // namespace xd::protocol::compact
