// The XMPP stream parser: restricted XML on libexpat, fed bytes as they
// arrive, yielding the stream header, one complete stanza at a time as an
// Element tree, the stream close, or a latched error carrying its RFC 6120
// stream condition (RFC 6120 §4, §11; hostile-inputs.md "Parser wrapper
// recipe"). It never performs I/O, never reads a clock and never calls back
// into its owner: events are pulled with next(), so no owner code runs
// inside an expat handler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/stream_error.h"
#include "protocol/xml/element.h"

namespace xd::protocol {

// Every limit of the parser. Exceeding one latches policy-violation
// (conventions.md §2). Defaults are the pre-authentication values.
struct ParserLimits {
  // Bytes fed that are not yet part of a completed top-level element
  // (stream header, stanza, or inter-stanza whitespace). Counting these,
  // rather than the size of a finished stanza, catches a stanza that never
  // ends (catalogue C25b).
  size_t max_outstanding_bytes = 8 * 1024;
  // Nesting depth inside a stanza; the stanza element itself is depth 1.
  size_t max_depth = 64;
  // Attributes on one element (namespace declarations not included).
  size_t max_attributes = 64;
  // Namespace declarations on one element.
  size_t max_namespace_declarations = 64;
  // Elements in one stanza, the stanza element included.
  size_t max_elements_per_stanza = 32;
};

// Limits before authentication: 8 KiB, 32 elements (ejabberd 26.04).
ParserLimits pre_auth_parser_limits();
// Limits after authentication: 256 KiB, 4096 elements per stanza.
ParserLimits post_auth_parser_limits();

// The opening <stream:stream> tag, namespaces resolved.
struct StreamHeader {
  std::string ns;      // namespace of the root element (expected kStreamNs)
  std::string name;    // local name (expected "stream")
  std::string prefix;  // prefix used on the root element ("stream" normally)
  std::vector<Attribute> attrs;
  // Namespace declarations on the root: (prefix, uri); prefix "" is the
  // default (content) namespace, e.g. ("", "jabber:client").
  std::vector<std::pair<std::string, std::string>> namespace_declarations;

  // The default namespace declared on the root, or "" if none.
  std::string_view content_namespace() const;
};

struct StreamEvent {
  enum class Type { kStreamOpen, kStanza, kStreamClose, kError };
  Type type = Type::kError;
  StreamHeader header;              // kStreamOpen
  std::unique_ptr<Element> stanza;  // kStanza (owned by the receiver of the event)
  StreamCondition error = StreamCondition::kUndefinedCondition;  // kError
  std::string detail;  // kError: a diagnostic for logs, never sent to peers
  // kError: a size limit was exceeded (a stanza over max_outstanding_bytes,
  // a compact frame or decoded body over it), not a depth, attribute or
  // element-count limit. The stream error then carries the XEP-0182
  // application condition <stanza-too-big xmlns='urn:xmpp:errors'/>
  // (RFC 6120 §4.9.4; hostile-inputs.md catalogue C25).
  bool too_big = false;
};

class StreamParser {
 public:
  explicit StreamParser(const ParserLimits& limits = pre_auth_parser_limits());
  ~StreamParser();
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  // Changes the limits from now on (e.g. after SASL success).
  void set_limits(const ParserLimits& limits) { limits_ = limits; }
  const ParserLimits& limits() const { return limits_; }

  // Hands |bytes| to the parser; the parser copies what it keeps. Events
  // are then pulled with next(). While events are still waiting to be
  // pulled the bytes are queued and parsed once next() gets to them, so
  // the owner should drain with next() after every feed() to keep memory
  // bounded by the read size. After an error has been latched, input is
  // ignored until reset().
  void feed(std::string_view bytes);

  // The next event, or nullopt when more input is needed. Exactly one
  // kError is returned after an error; nullopt follows until reset().
  // Events come in stream order; after a kStanza the owner may call
  // reset() (stream restart) and the rest of the input is discarded.
  std::optional<StreamEvent> next();

  // Expat defers re-parsing a partial token until the buffered data has
  // doubled, which can hold a complete stanza back indefinitely. The owner
  // calls flush() from a short timer when wants_flush() is true after a
  // read; it re-parses once with deferral off. Precondition: drained.
  void flush();
  bool wants_flush() const;

  // Frees expat's state (about 10 KB) while the stream is idle between
  // stanzas: possible only with nothing outstanding and no events pending.
  // The next feed() re-creates the parser and replays a minimal copy of the
  // stream header (its namespace declarations), so parsing continues as if
  // nothing happened. Costs one parser creation per wake-up, so owners call
  // it after a quiet period, not after every stanza. Returns whether it
  // hibernated.
  bool hibernate();
  bool hibernating() const { return parser_ == nullptr; }
  // Frees expat and every buffer for good: the stream switched to another
  // wire format (spec/compact.md §3). Input is ignored from now on; only
  // reset() or destruction may follow.
  void release();

  // Stream restart (after STARTTLS or SASL success, RFC 6120 §4.3.3): a
  // fresh document, every handler reinstalled (XML_ParserReset clears
  // them), counters zeroed, every buffered byte discarded. Limits are kept.
  void reset();

  // True once an error has been latched.
  bool failed() const { return state_ == State::kFailed || state_ == State::kErrorReported; }
  // Bytes fed but not yet part of a completed top-level element.
  uint64_t outstanding_bytes() const { return fed_ - completed_; }

 private:
  // kClosed: the root ended (</stream:stream>); expat is done and later
  // bytes are judged by judge_after_close().
  enum class State { kParsing, kSuspended, kClosed, kFailed, kErrorReported };
  struct Handlers;  // expat callbacks, befriended

  void install();
  void remember_header();
  void wake();
  void parse(std::string_view bytes);
  StreamEvent take_pending();
  void after_parse(int status);
  void fail(StreamCondition condition, std::string detail, bool too_big = false);
  void fail_from_handler(StreamCondition condition, std::string detail, bool too_big = false);
  bool over_outstanding_limit_in_handler();
  bool sniff_encoding(bool final);
  void judge_after_close(std::string_view bytes);

  ParserLimits limits_;
  void* parser_ = nullptr;  // XML_Parser; opaque here so expat.h stays private
  State state_ = State::kParsing;
  bool in_expat_ = false;  // guards against re-entry from a handler
  bool in_cdata_ = false;  // inside a CDATA section (its text is not yet consumed)

  uint64_t fed_ = 0;        // bytes fed since the last reset
  uint64_t completed_ = 0;  // document offset after the last completed top-level item
  static constexpr size_t kSniffBytes = 4;
  std::string head_;      // the first bytes of a document, held until sniffed
  bool sniffed_ = false;  // the encoding check of this document is done

  size_t depth_ = 0;  // 0 = before root, 1 = inside the stream, 2+ = inside a stanza
  size_t stanza_elements_ = 0;
  size_t pending_ns_decls_ = 0;
  std::string content_ns_;
  StreamHeader header_;
  std::unique_ptr<Element> stanza_;
  std::vector<Element*> open_;  // path from the stanza element to the current element

  // Events produced by the last parse step: one, except for an empty root
  // element (<stream:stream/>), whose start and end share a token.
  std::deque<StreamEvent> pending_;
  std::string backlog_;        // input fed while suspended, parsed once drained
  std::string replay_header_;  // see remember_header(); empty before the header
  StreamCondition error_ = StreamCondition::kUndefinedCondition;
  std::string error_detail_;
  bool error_too_big_ = false;  // see StreamEvent::too_big
};

}  // namespace xd::protocol
