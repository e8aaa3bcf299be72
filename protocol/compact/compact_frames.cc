#include "protocol/compact/compact_frames.h"

#include <utility>

#include "protocol/compact/compression.h"
#include "protocol/compact/dictionary.h"
#include "protocol/compact/wire.h"

namespace xd::protocol::compact {
namespace {

constexpr std::string_view kStreamNsView = "http://etherx.jabber.org/streams";
// spec §4.3: below this a compressed body is never smaller (the zstd frame
// header and block header alone take about 6 bytes).
constexpr size_t kMinCompressBytes = 64;
// A drained buffer above this capacity is returned to the allocator, so an
// idle compact stream stays small (conventions.md §2).
constexpr size_t kBufferKeepBytes = 4096;

void append_frame(std::string& out, uint8_t flags, std::string_view body) {
  append_varint(out, static_cast<uint32_t>(body.size() + 1));
  out.push_back(static_cast<char>(flags));
  out.append(body);
}

std::string& scratch() {
  thread_local std::string s;
  return s;
}

DecodeLimits decode_limits(const ParserLimits& l) {
  DecodeLimits d;
  d.max_decoded_bytes = l.max_outstanding_bytes;
  d.max_depth = l.max_depth;
  d.max_attributes = l.max_attributes;
  d.max_elements = l.max_elements_per_stanza;
  return d;
}

}  // namespace

void append_preface(std::string& out, bool accept_compression) {
  out.push_back(static_cast<char>(kPrefaceMagic0));
  out.push_back(static_cast<char>(kPrefaceMagic1));
  out.push_back(static_cast<char>(kProtocolVersion));
  out.push_back(static_cast<char>(dictionary_version()));
  out.push_back(static_cast<char>(accept_compression ? kPrefaceCompression : 0));
}

PrefaceResult parse_preface(std::string_view bytes, Preface& out) {
  // Judge each byte as soon as it is there: a plain XML client on this
  // port ("<?xml") fails on its first byte.
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() >= 1 && b[0] != kPrefaceMagic0) return PrefaceResult::kBad;
  if (bytes.size() >= 2 && b[1] != kPrefaceMagic1) return PrefaceResult::kBad;
  if (bytes.size() < kPrefaceBytes) return PrefaceResult::kNeedMore;
  out.protocol_version = b[2];
  out.dictionary_version = b[3];
  out.flags = b[4];
  if (out.flags & kPrefaceReserved) return PrefaceResult::kBad;
  return PrefaceResult::kOk;
}

void append_body_frame(std::string_view body, std::string& out, bool compress) {
  if (compress && body.size() >= kMinCompressBytes) {
    std::string packed;
    append_varint(packed, static_cast<uint32_t>(body.size()));
    if (compress_body(body, packed) && packed.size() < body.size()) {
      append_frame(out, static_cast<uint8_t>(FrameKind::kElement) | kFrameCompressed, packed);
      return;
    }
  }
  append_frame(out, static_cast<uint8_t>(FrameKind::kElement), body);
}

bool append_element_frame(const Element& element, std::string& out, const CodecContext& context,
                          bool compress) {
  std::string& body = scratch();
  body.clear();
  if (!encode_element(element, body, context)) return false;
  append_body_frame(body, out, compress);
  if (body.capacity() > kBufferKeepBytes) body = std::string();
  return true;
}

void append_open_frame(const Element& header, std::string& out, const CodecContext& context) {
  std::string body;
  [[maybe_unused]] bool ok = encode_element(header, body, context, kStreamNsView);
  append_frame(out, static_cast<uint8_t>(FrameKind::kOpen), body);
}

void append_close_frame(std::string& out) {
  append_frame(out, static_cast<uint8_t>(FrameKind::kClose), {});
}

void append_keepalive_frame(std::string& out) {
  append_frame(out, static_cast<uint8_t>(FrameKind::kKeepalive), {});
}

// ------------------------------------------------------------ decoder

CompactDecoder::CompactDecoder(const ParserLimits& limits, std::string domain, bool compression)
    : limits_(limits), domain_(std::move(domain)), compression_(compression) {}

void CompactDecoder::feed(std::string_view bytes) {
  if (state_ != State::kOk) return;
  compact_buffer();
  buffer_.append(bytes);
}

void CompactDecoder::compact_buffer() {
  if (pos_ == 0) return;
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    if (buffer_.capacity() > kBufferKeepBytes) buffer_.shrink_to_fit();
  } else {
    buffer_.erase(0, pos_);
  }
  pos_ = 0;
}

void CompactDecoder::reset() {
  buffer_.clear();
  buffer_.shrink_to_fit();
  pos_ = 0;
  state_ = State::kOk;
}

StreamEvent CompactDecoder::error(StreamCondition condition, std::string detail, bool too_big) {
  state_ = State::kReported;
  buffer_.clear();
  buffer_.shrink_to_fit();
  pos_ = 0;
  StreamEvent ev;
  ev.type = StreamEvent::Type::kError;
  ev.error = condition;
  ev.detail = std::move(detail);
  ev.too_big = too_big;
  return ev;
}

std::optional<StreamEvent> CompactDecoder::next() {
  while (state_ == State::kOk) {
    const auto* begin = reinterpret_cast<const uint8_t*>(buffer_.data()) + pos_;
    const auto* end = reinterpret_cast<const uint8_t*>(buffer_.data()) + buffer_.size();
    if (begin == end) return std::nullopt;
    // spec §4.1: the length is judged before anything is buffered for it.
    const uint8_t* p = begin;
    uint32_t length = 0;
    switch (read_varint(p, end, length)) {
      case VarintResult::kNeedMore:
        return std::nullopt;
      case VarintResult::kBad:
        return error(StreamCondition::kBadFormat, "malformed frame length");
      case VarintResult::kOk:
        break;
    }
    if (length == 0) return error(StreamCondition::kBadFormat, "frame length 0");
    if (length > limits_.max_outstanding_bytes) {
      return error(StreamCondition::kPolicyViolation, "frame longer than the stanza limit",
                   /*too_big=*/true);
    }
    if (static_cast<size_t>(end - p) < length) return std::nullopt;
    const uint8_t flags = *p;
    std::string_view body(reinterpret_cast<const char*>(p + 1), length - 1);
    pos_ += static_cast<size_t>(p - begin) + length;

    if (flags & kFrameReserved) return error(StreamCondition::kBadFormat, "reserved frame flag");
    const auto kind = static_cast<FrameKind>(flags & kFrameKindMask);
    const bool compressed = flags & kFrameCompressed;
    if (compressed) {
      if (!compression_) return error(StreamCondition::kBadFormat, "compression not negotiated");
      if (kind != FrameKind::kElement) {
        return error(StreamCondition::kBadFormat, "compressed frame that is not an element");
      }
      const auto* q = reinterpret_cast<const uint8_t*>(body.data());
      const auto* qend = q + body.size();
      uint32_t size = 0;
      if (read_varint(q, qend, size) != VarintResult::kOk) {
        return error(StreamCondition::kBadFormat, "malformed decompressed size");
      }
      // Catalogue J63: the claimed size is checked before any output.
      if (size > limits_.max_outstanding_bytes) {
        return error(StreamCondition::kPolicyViolation, "decompressed size over the limit",
                     /*too_big=*/true);
      }
      if (!decompress_body(
              std::string_view(reinterpret_cast<const char*>(q), static_cast<size_t>(qend - q)),
              size, inflated_)) {
        return error(StreamCondition::kBadFormat,
                     "compressed body does not decompress to its size");
      }
      body = inflated_;
    }

    switch (kind) {
      case FrameKind::kKeepalive:
        if (!body.empty()) return error(StreamCondition::kBadFormat, "keepalive with a body");
        continue;
      case FrameKind::kClose: {
        if (!body.empty()) return error(StreamCondition::kBadFormat, "close with a body");
        state_ = State::kClosed;
        StreamEvent ev;
        ev.type = StreamEvent::Type::kStreamClose;
        return ev;
      }
      case FrameKind::kOpen: {
        DecodeError err;
        const CodecContext ctx{domain_};
        auto root = decode_element(body, ctx, decode_limits(limits_), err, kStreamNsView);
        if (!root) return error(err.condition, "stream header: " + err.detail, err.too_big);
        if (root->ns() != kStreamNsView || root->name() != "stream" || !root->children().empty()) {
          return error(StreamCondition::kBadFormat, "OPEN frame is not a stream header");
        }
        StreamEvent ev;
        ev.type = StreamEvent::Type::kStreamOpen;
        ev.header.ns = root->ns();
        ev.header.name = root->name();
        ev.header.prefix = "stream";
        ev.header.attrs = root->attrs();
        ev.header.namespace_declarations = {{"", "jabber:client"},
                                            {"stream", std::string(kStreamNsView)}};
        return ev;
      }
      case FrameKind::kElement: {
        DecodeError err;
        const CodecContext ctx{domain_};
        auto root = decode_element(body, ctx, decode_limits(limits_), err);
        if (!root) return error(err.condition, err.detail, err.too_big);
        if (inflated_.capacity() > kBufferKeepBytes) inflated_ = std::string();
        StreamEvent ev;
        ev.type = StreamEvent::Type::kStanza;
        ev.stanza = std::move(root);
        return ev;
      }
    }
  }
  if (state_ == State::kFailed) {
    state_ = State::kReported;
  }
  return std::nullopt;
}

}  // namespace xd::protocol::compact
