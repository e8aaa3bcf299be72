// The compact dialect's element codec (spec/compact.md §5): an Element tree
// to the token encoding of one frame body and back. The stream-level
// framing (length, flags, compression) is in compact_encoder.h and
// compact_decoder.h; this unit is the part both share, and what the spec's
// test vectors and the XML -> compact -> XML fuzzer exercise directly.
// Pure: no I/O, no clock, no global mutable state. Decoding is bounded by
// the limits before anything of a claimed size is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/stream_error.h"
#include "protocol/xml/element.h"

namespace xd::protocol::compact {

// What both ends of a stream agreed on that changes the encoding: the
// stream's domain, which JIDs refer to with one flag (spec §5.8).
struct CodecContext {
  std::string_view domain;
};

// Limits on one decoded element tree (spec §11); the XML parser's values.
struct DecodeLimits {
  size_t max_decoded_bytes = 8 * 1024;  // XML size of the decoded tree (§11)
  size_t max_depth = 64;
  size_t max_attributes = 64;
  size_t max_elements = 32;
};

// Limits for decoding our own encodings (a stored queue entry): the widest
// a configuration can allow for live streams (spec §11), so whatever the
// server accepted decodes again.
DecodeLimits stored_decode_limits();

// Appends the token encoding of |element| (spec §5.1), whose parent
// namespace is |parent_ns| (jabber:client for a stanza, §5.1). Returns
// false, with |out| as it was, when the tree has a name the XML serializer
// would refuse too, or text that is not XML.
bool encode_element(const Element& element, std::string& out, const CodecContext& context,
                    std::string_view parent_ns = "jabber:client");

// Appends one string value in its canonical (shortest) encoding (§5.10).
// Exposed for the spec's vectors and tests.
void encode_value(std::string_view value, std::string& out, const CodecContext& context);

struct DecodeError {
  StreamCondition condition = StreamCondition::kBadFormat;
  std::string detail;  // for logs; never sent to the peer
  // The decoded size went over max_decoded_bytes (spec §11): the stream
  // error carries <stanza-too-big/> (see StreamEvent::too_big).
  bool too_big = false;
};

// Decodes exactly one element from |body| (all of it: trailing bytes are an
// error, §5.1). Null on error, with |error| set to the spec's condition
// (§10).
std::unique_ptr<Element> decode_element(std::string_view body, const CodecContext& context,
                                        const DecodeLimits& limits, DecodeError& error,
                                        std::string_view parent_ns = "jabber:client");

}  // namespace xd::protocol::compact
