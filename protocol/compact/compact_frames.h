// The compact dialect's stream framing (spec/compact.md §3.2, §4): the
// direct-mode preface, and frames — a varint length, a flags byte and a
// body — in both directions. The writer half appends frames to an output
// string; the reader half, CompactDecoder, has the XML StreamParser's call
// shape (feed bytes, pull StreamEvents) so a stream can swap one for the
// other. Pure: no I/O, no clock; nothing of a size a peer claims is
// allocated before that size has been checked against the limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/compact/compact_codec.h"
#include "protocol/xml/element.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol::compact {

// spec §3.2.
struct Preface {
  uint8_t protocol_version = 0;
  uint8_t dictionary_version = 0;
  uint8_t flags = 0;
};
void append_preface(std::string& out, bool accept_compression);
enum class PrefaceResult { kOk, kNeedMore, kBad };
// Reads the 5-byte preface from the front of |bytes|.
PrefaceResult parse_preface(std::string_view bytes, Preface& out);

// spec §4: one ELEMENT frame carrying |element| (a stanza or nonza in a
// jabber:client stream). With |compress|, the body is compressed when that
// makes the frame smaller (§4.3). False, appending nothing, if the element
// cannot be encoded (a name or text the XML serializer would refuse too).
bool append_element_frame(const Element& element, std::string& out, const CodecContext& context,
                          bool compress);
// The same for an element already encoded (spec §5): |body| is framed as
// it is, compressed when that makes it smaller.
void append_body_frame(std::string_view body, std::string& out, bool compress);
// spec §4.2: an OPEN frame: the stream header with |attrs| (to, from, id,
// version, xml:lang).
void append_open_frame(const Element& header, std::string& out, const CodecContext& context);
void append_close_frame(std::string& out);
void append_keepalive_frame(std::string& out);

// Frames in, StreamEvents out (spec §4, §10). Limits come from the XML
// parser's: a frame longer than max_outstanding_bytes, or decoding to more
// than that, is a policy-violation, as an XML stanza of that size would be.
class CompactDecoder {
 public:
  CompactDecoder(const ParserLimits& limits, std::string domain, bool compression);

  void set_limits(const ParserLimits& limits) { limits_ = limits; }
  // Whether compressed frames are allowed (negotiated, spec §3).
  void set_compression(bool allowed) { compression_ = allowed; }
  // The stream domain for JIDs (§5.8); direct mode learns it from OPEN.
  void set_domain(std::string domain) { domain_ = std::move(domain); }
  const std::string& domain() const { return domain_; }

  // Buffers |bytes|; frames are decoded by next(). The owner drains with
  // next() after every feed, so at most one partial frame plus one read
  // is held.
  void feed(std::string_view bytes);
  // The next event, or nullopt when more bytes are needed. Exactly one
  // kError after a violation, then nullopt until reset().
  std::optional<StreamEvent> next();
  // Discards buffered bytes and any latched error (stream restart).
  void reset();

  bool failed() const { return state_ != State::kOk; }
  uint64_t outstanding_bytes() const { return buffer_.size() - pos_; }

 private:
  enum class State { kOk, kFailed, kReported, kClosed };
  StreamEvent error(StreamCondition condition, std::string detail, bool too_big = false);
  void compact_buffer();

  ParserLimits limits_;
  std::string domain_;
  bool compression_;
  State state_ = State::kOk;
  std::string buffer_;
  size_t pos_ = 0;
  std::string inflated_;  // scratch for a decompressed body
};

}  // namespace xd::protocol::compact
