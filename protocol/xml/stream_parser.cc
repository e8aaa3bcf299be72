#include "protocol/xml/stream_parser.h"

#include <expat.h>

#include <algorithm>
#include <cassert>
#include <cstring>

namespace xd::protocol {
namespace {

// The namespace separator handed to expat. U+0001 cannot occur in an XML
// 1.0 document, not even as a character reference, so a namespace URI or
// name can never forge a separator (catalogue B20, expat CVE-2022-25236).
constexpr char kSeparator = '\x01';

XML_Parser xp(void* p) { return static_cast<XML_Parser>(p); }

// Splits expat's "uri SEP local [SEP prefix]" (triplet mode) into parts.
struct QName {
  std::string_view ns;
  std::string_view local;
  std::string_view prefix;
};

QName split_name(const XML_Char* raw) {
  std::string_view s(raw);
  QName q;
  size_t a = s.find(kSeparator);
  if (a == std::string_view::npos) {
    q.local = s;
    return q;
  }
  q.ns = s.substr(0, a);
  std::string_view rest = s.substr(a + 1);
  size_t b = rest.find(kSeparator);
  if (b == std::string_view::npos) {
    q.local = rest;
  } else {
    q.local = rest.substr(0, b);
    q.prefix = rest.substr(b + 1);
  }
  return q;
}

bool is_xml_whitespace(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

bool equals_ignore_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Maps an expat error to the RFC 6120 §4.9.3 condition it deserves.
StreamCondition condition_for(XML_Error code) {
  switch (code) {
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ASYNC_ENTITY:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_NOT_STANDALONE:
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
      // Entities are restricted XML (RFC 6120 §11.1); catalogue B15 lets us
      // pick restricted-xml for an undefined reference such as &foo;.
      return StreamCondition::kRestrictedXml;
    case XML_ERROR_INCORRECT_ENCODING:
    case XML_ERROR_UNKNOWN_ENCODING:
      return StreamCondition::kUnsupportedEncoding;
    default:
      return StreamCondition::kNotWellFormed;
  }
}

}  // namespace

ParserLimits pre_auth_parser_limits() { return ParserLimits{}; }

ParserLimits post_auth_parser_limits() {
  ParserLimits l;
  l.max_outstanding_bytes = 256 * 1024;
  l.max_elements_per_stanza = 4096;
  return l;
}

std::string_view StreamHeader::content_namespace() const {
  for (const auto& [prefix, uri] : namespace_declarations) {
    if (prefix.empty()) return uri;
  }
  return {};
}

// The expat callbacks. Each one runs inside XML_Parse/XML_ResumeParser and
// only records state; it stops the parser (suspend after an event, abort
// after an error) instead of calling anything that could re-enter expat.
struct StreamParser::Handlers {
  static StreamParser& self(void* user) { return *static_cast<StreamParser*>(user); }
  // Expat may still call handlers for the rest of the current token after
  // XML_StopParser (e.g. the end of an empty element whose start failed).
  static bool stopped(const StreamParser& s) { return s.state_ != State::kParsing; }

  static void start_element(void* user, const XML_Char* raw_name, const XML_Char** atts) {
    StreamParser& s = self(user);
    if (stopped(s)) return;
    if (s.over_outstanding_limit_in_handler()) return;
    const size_t decls = s.pending_ns_decls_;
    s.pending_ns_decls_ = 0;
    QName q = split_name(raw_name);
    size_t attr_count = 0;
    for (const XML_Char** a = atts; *a; a += 2) ++attr_count;

    if (s.depth_ == 0) {
      // The stream header. Record it and suspend so the owner sees it first.
      s.header_.ns.assign(q.ns);
      s.header_.name.assign(q.local);
      s.header_.prefix.assign(q.prefix);
      if (attr_count > s.limits_.max_attributes) {
        s.fail_from_handler(StreamCondition::kPolicyViolation,
                            "too many attributes on stream header");
        return;
      }
      for (const XML_Char** a = atts; *a; a += 2) {
        QName an = split_name(a[0]);
        s.header_.attrs.push_back(Attribute{std::string(an.ns), std::string(an.local), a[1]});
      }
      s.content_ns_.assign(s.header_.content_namespace());
      s.remember_header();
      s.depth_ = 1;
      XML_Parser p = xp(s.parser_);
      s.completed_ = static_cast<uint64_t>(XML_GetCurrentByteIndex(p) + XML_GetCurrentByteCount(p));
      StreamEvent ev;
      ev.type = StreamEvent::Type::kStreamOpen;
      ev.header = std::move(s.header_);
      s.header_ = StreamHeader{};
      s.pending_.push_back(std::move(ev));
      XML_StopParser(p, XML_TRUE);
      return;
    }

    // Inside a stanza (or starting one).
    if (decls > s.limits_.max_namespace_declarations) {
      s.fail_from_handler(StreamCondition::kPolicyViolation, "too many namespace declarations");
      return;
    }
    if (attr_count > s.limits_.max_attributes) {
      s.fail_from_handler(StreamCondition::kPolicyViolation, "too many attributes");
      return;
    }
    if (s.depth_ - 1 >= s.limits_.max_depth) {
      s.fail_from_handler(StreamCondition::kPolicyViolation, "element depth limit");
      return;
    }
    if (s.depth_ == 1) {
      // RFC 6120 §4.8.3/§11.2.2: stanzas in the content namespace are
      // written with the default namespace, never a prefix.
      if (!q.prefix.empty() && !s.content_ns_.empty() && q.ns == s.content_ns_) {
        s.fail_from_handler(StreamCondition::kBadNamespacePrefix,
                            "prefixed content namespace on a stanza");
        return;
      }
      s.stanza_elements_ = 0;
    }
    if (++s.stanza_elements_ > s.limits_.max_elements_per_stanza) {
      s.fail_from_handler(StreamCondition::kPolicyViolation, "too many elements in one stanza");
      return;
    }
    auto element = std::make_unique<Element>(q.ns, q.local);
    element->reserve_attrs(attr_count);
    for (const XML_Char** a = atts; *a; a += 2) {
      QName an = split_name(a[0]);
      element->append_attr_unchecked(std::string(an.ns), std::string(an.local), a[1]);
    }
    Element* raw = element.get();
    if (s.depth_ == 1) {
      s.stanza_ = std::move(element);
    } else {
      s.open_.back()->add_child(std::move(element));
    }
    s.open_.push_back(raw);
    ++s.depth_;
  }

  static void end_element(void* user, const XML_Char* /*name*/) {
    StreamParser& s = self(user);
    if (stopped(s)) return;
    XML_Parser p = xp(s.parser_);
    if (s.depth_ > 1 && s.over_outstanding_limit_in_handler()) return;
    if (s.depth_ == 1) {
      // </stream:stream> (RFC 6120 §4.4).
      s.depth_ = 0;
      s.completed_ = static_cast<uint64_t>(XML_GetCurrentByteIndex(p) + XML_GetCurrentByteCount(p));
      StreamEvent ev;
      ev.type = StreamEvent::Type::kStreamClose;
      s.pending_.push_back(std::move(ev));
      // Expat is done with this document: what follows the close in its
      // buffer, and every later byte, is judged by judge_after_close(), one
      // byte at a time, so the verdict cannot depend on how the bytes were
      // split across reads. Expat's own epilog handling could not promise
      // that: a partial token at the end of a read is held, not judged
      // (found by the xml_stream differential). Expat copies every XML_Parse
      // input into its buffer (XML_CONTEXT_BYTES), so the input context is
      // exactly the bytes fed and not yet parsed.
      s.state_ = State::kClosed;
      int offset = 0;
      int size = 0;
      const char* buffer = XML_GetInputContext(p, &offset, &size);
      const int end = offset + XML_GetCurrentByteCount(p);
      if (buffer != nullptr && end <= size) {
        s.judge_after_close(std::string_view(buffer + end, static_cast<size_t>(size - end)));
      } else if (s.fed_ > s.completed_) {
        // An expat built without XML_CONTEXT_BYTES: the bytes cannot be
        // seen, so the conservative verdict.
        s.fail(StreamCondition::kNotWellFormed, "data after the stream close");
      }
      XML_StopParser(p, XML_FALSE);
      return;
    }
    --s.depth_;
    s.open_.pop_back();
    if (s.depth_ == 1) {
      s.completed_ = static_cast<uint64_t>(XML_GetCurrentByteIndex(p) + XML_GetCurrentByteCount(p));
      StreamEvent ev;
      ev.type = StreamEvent::Type::kStanza;
      ev.stanza = std::move(s.stanza_);
      s.pending_.push_back(std::move(ev));
      XML_StopParser(p, XML_TRUE);
    }
  }

  static void character_data(void* user, const XML_Char* data, int len) {
    StreamParser& s = self(user);
    if (stopped(s)) return;
    std::string_view text(data, static_cast<size_t>(len));
    if (s.depth_ <= 1) {
      // Between stanzas only whitespace is allowed (RFC 6120 §11.7
      // keepalives). It counts as consumed, so keepalives never add up to
      // the stanza size limit.
      if (!is_xml_whitespace(text)) {
        s.fail_from_handler(StreamCondition::kBadFormat, "text at stream level");
        return;
      }
      // Inside a CDATA section the text is consumed only when the section
      // ends: expat hands over its parts as they come, and counting them
      // would let hibernate() drop the section's context mid-way (found by
      // the xml_stream differential).
      if (s.in_cdata_) return;
      XML_Parser p = xp(s.parser_);
      s.completed_ = static_cast<uint64_t>(XML_GetCurrentByteIndex(p) + XML_GetCurrentByteCount(p));
      return;
    }
    if (s.over_outstanding_limit_in_handler()) return;
    s.open_.back()->add_text(text);
  }

  static void start_cdata(void* user) { self(user).in_cdata_ = true; }

  static void end_cdata(void* user) {
    StreamParser& s = self(user);
    s.in_cdata_ = false;
    if (stopped(s) || s.depth_ > 1) return;
    XML_Parser p = xp(s.parser_);
    s.completed_ = static_cast<uint64_t>(XML_GetCurrentByteIndex(p) + XML_GetCurrentByteCount(p));
  }

  static void start_namespace_decl(void* user, const XML_Char* prefix, const XML_Char* uri) {
    StreamParser& s = self(user);
    if (stopped(s)) return;
    ++s.pending_ns_decls_;
    if (s.depth_ == 0) {
      if (s.pending_ns_decls_ > s.limits_.max_namespace_declarations) {
        s.fail_from_handler(StreamCondition::kPolicyViolation, "too many namespace declarations");
        return;
      }
      s.header_.namespace_declarations.emplace_back(prefix ? prefix : "", uri ? uri : "");
    }
  }

  // XML 1.0 declaration: only version 1.0, only UTF-8, no standalone
  // (RFC 6120 §11.6; catalogue B16).
  static void xml_decl(void* user, const XML_Char* version, const XML_Char* encoding,
                       int standalone) {
    StreamParser& s = self(user);
    if (version && std::strcmp(version, "1.0") != 0) {
      s.fail_from_handler(StreamCondition::kUnsupportedVersion, "XML version other than 1.0");
    } else if (encoding && !equals_ignore_ascii_case(encoding, "UTF-8")) {
      s.fail_from_handler(StreamCondition::kUnsupportedEncoding, "encoding other than UTF-8");
    } else if (standalone != -1) {
      s.fail_from_handler(StreamCondition::kRestrictedXml, "standalone document declaration");
    }
  }

  // RFC 6120 §11.1: no DTD, no comments, no processing instructions, no
  // entity declarations. Each handler aborts at the first such token.
  static void doctype(void* user, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    self(user).fail_from_handler(StreamCondition::kRestrictedXml, "DOCTYPE");
  }
  static void entity_decl(void* user, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                          const XML_Char*, const XML_Char*, const XML_Char*) {
    self(user).fail_from_handler(StreamCondition::kRestrictedXml, "entity declaration");
  }
  static void comment(void* user, const XML_Char*) {
    self(user).fail_from_handler(StreamCondition::kRestrictedXml, "comment");
  }
  static void processing_instruction(void* user, const XML_Char*, const XML_Char*) {
    self(user).fail_from_handler(StreamCondition::kRestrictedXml, "processing instruction");
  }
  // Setting a non-expanding default handler stops expat from expanding
  // internal entities at all (expat reference: XML_SetDefaultHandler).
  static void default_handler(void*, const XML_Char*, int) {}
};

StreamParser::StreamParser(const ParserLimits& limits) : limits_(limits) {
  parser_ = XML_ParserCreateNS("UTF-8", kSeparator);
  if (!parser_) abort();  // OOM at construction: not a peer-caused error
  install();
}

StreamParser::~StreamParser() {
  // Drop the tree before the parser: it holds no expat memory, but keep the
  // order obvious.
  stanza_.reset();
  if (parser_) XML_ParserFree(xp(parser_));
}

// The smallest document prefix that rebuilds the namespace context of the
// stream: the root's qualified name and its namespace declarations. The
// other attributes of the header do not affect how stanzas parse.
void StreamParser::remember_header() {
  std::string& r = replay_header_;
  r.assign("<");
  if (!header_.prefix.empty()) r.append(header_.prefix).push_back(':');
  r.append(header_.name);
  for (const auto& [prefix, uri] : header_.namespace_declarations) {
    r.append(prefix.empty() ? " xmlns" : " xmlns:").append(prefix).append("='");
    for (char c : uri) {
      // Escape what could end the attribute value or start markup.
      switch (c) {
        case '&':
          r.append("&amp;");
          break;
        case '<':
          r.append("&lt;");
          break;
        case '\'':
          r.append("&apos;");
          break;
        case '\t':
          r.append("&#9;");
          break;
        case '\n':
          r.append("&#10;");
          break;
        case '\r':
          r.append("&#13;");
          break;
        default:
          r.push_back(c);
      }
    }
    r.push_back('\'');
  }
  r.push_back('>');
}

bool StreamParser::hibernate() {
  assert(!in_expat_);
  if (parser_ && state_ == State::kSuspended && pending_.empty()) {
    // The last event was pulled but expat still sits after its token.
    state_ = State::kParsing;
    in_expat_ = true;
    int status = XML_ResumeParser(xp(parser_));
    in_expat_ = false;
    after_parse(status);
  }
  if (!parser_ || state_ != State::kParsing || !pending_.empty() || !backlog_.empty() ||
      depth_ != 1 || fed_ != completed_ || replay_header_.empty()) {
    return false;
  }
  XML_ParserFree(xp(parser_));
  parser_ = nullptr;
  return true;
}

void StreamParser::release() {
  assert(!in_expat_);
  if (parser_) XML_ParserFree(xp(parser_));
  parser_ = nullptr;
  state_ = State::kErrorReported;
  stanza_.reset();
  open_.clear();
  pending_.clear();
  backlog_ = std::string();
  replay_header_ = std::string();
  head_ = std::string();
  header_ = StreamHeader{};
}

// Re-creates expat after hibernate() and replays the stream header so the
// namespace context (stream prefix, content namespace) is as it was. The
// header's event is swallowed: the owner saw the real one long ago.
void StreamParser::wake() {
  parser_ = XML_ParserCreateNS("UTF-8", kSeparator);
  if (!parser_) abort();  // OOM: an environment failure
  install();
  depth_ = 0;
  in_expat_ = true;
  int status = XML_Parse(xp(parser_), replay_header_.data(),
                         static_cast<int>(replay_header_.size()), XML_FALSE);
  if (status == XML_STATUS_SUSPENDED) status = XML_ResumeParser(xp(parser_));
  in_expat_ = false;
  pending_.clear();
  // The replayed header is our own well-formed text; anything else is a bug.
  assert(status == XML_STATUS_OK && depth_ == 1);
  (void)status;
  fed_ = completed_ = replay_header_.size();
}

void StreamParser::install() {
  XML_Parser p = xp(parser_);
  XML_SetUserData(p, this);
  XML_SetReturnNSTriplet(p, 1);
  XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
  XML_SetElementHandler(p, &Handlers::start_element, &Handlers::end_element);
  XML_SetCharacterDataHandler(p, &Handlers::character_data);
  XML_SetCdataSectionHandler(p, &Handlers::start_cdata, &Handlers::end_cdata);
  XML_SetStartNamespaceDeclHandler(p, &Handlers::start_namespace_decl);
  XML_SetXmlDeclHandler(p, &Handlers::xml_decl);
  XML_SetStartDoctypeDeclHandler(p, &Handlers::doctype);
  XML_SetEntityDeclHandler(p, &Handlers::entity_decl);
  XML_SetCommentHandler(p, &Handlers::comment);
  XML_SetProcessingInstructionHandler(p, &Handlers::processing_instruction);
  XML_SetDefaultHandler(p, &Handlers::default_handler);
  // Deferral stays on: turning it off makes a trickled token cost
  // quadratic CPU (hostile-inputs.md "Parser behaviour, measured").
  XML_SetReparseDeferralEnabled(p, XML_TRUE);
}

void StreamParser::reset() {
  assert(!in_expat_);
  if (parser_) {
    XML_ParserReset(xp(parser_), "UTF-8");
  } else {
    parser_ = XML_ParserCreateNS("UTF-8", kSeparator);
    if (!parser_) abort();
  }
  replay_header_.clear();
  install();
  state_ = State::kParsing;
  fed_ = 0;
  completed_ = 0;
  in_cdata_ = false;
  sniffed_ = false;
  head_.clear();
  depth_ = 0;
  stanza_elements_ = 0;
  pending_ns_decls_ = 0;
  content_ns_.clear();
  header_ = StreamHeader{};
  stanza_.reset();
  open_.clear();
  pending_.clear();
  backlog_.clear();
  error_ = StreamCondition::kUndefinedCondition;
  error_detail_.clear();
  error_too_big_ = false;
}

// RFC 6120 §11.6: UTF-8 only. Expat forced to UTF-8 would silently accept
// a UTF-8 byte order mark and report UTF-16 as a token error, so the first
// kSniffBytes of each document are held back and checked before expat sees
// any of them: the verdict then cannot depend on how the bytes were split
// across reads (catalogue B16, C27). Returns false after latching an error.
bool StreamParser::sniff_encoding(bool final) {
  const auto* b = reinterpret_cast<const uint8_t*>(head_.data());
  const size_t n = std::min(head_.size(), kSniffBytes);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] == 0x00) {
      fail(StreamCondition::kUnsupportedEncoding, "UTF-16 or UTF-32 stream");
      return false;
    }
  }
  if (n > 0 && (b[0] == 0xFE || b[0] == 0xFF)) {
    fail(StreamCondition::kUnsupportedEncoding, "UTF-16 byte order mark");
    return false;
  }
  if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
    fail(StreamCondition::kUnsupportedEncoding, "byte order mark");
    return false;
  }
  if (n >= kSniffBytes || final) sniffed_ = true;
  return true;
}

void StreamParser::feed(std::string_view bytes) {
  assert(!in_expat_);
  if (state_ == State::kSuspended || !pending_.empty()) {
    // Events are still waiting to be pulled: expat cannot take more input
    // while suspended, so keep the bytes until next() has drained it.
    backlog_.append(bytes);
    return;
  }
  if (state_ != State::kParsing && state_ != State::kClosed) return;
  parse(bytes);
}

// XML 1.0 §2.1: after the root element only Misc may follow. Comments and
// processing instructions are restricted XML anyway, so whitespace is all
// a stream may carry after its close; anything else is not-well-formed
// (restricted_xml_test "B: junk after the stream close").
void StreamParser::judge_after_close(std::string_view bytes) {
  if (state_ != State::kClosed) return;
  if (!is_xml_whitespace(bytes)) {
    fail(StreamCondition::kNotWellFormed, "junk after the stream close");
  }
}

void StreamParser::parse(std::string_view bytes) {
  if (state_ == State::kClosed) {
    fed_ += bytes.size();
    judge_after_close(bytes);
    return;
  }
  if (!parser_) wake();
  std::string joined;
  if (!sniffed_) {
    fed_ += bytes.size();
    head_.append(bytes);
    if (!sniff_encoding(false) || !sniffed_) return;
    joined = std::move(head_);
    head_.clear();
    fed_ -= joined.size();  // counted again below, once, as expat gets them
    bytes = joined;
  }
  // Expat takes an int length; no sane read is anywhere near that, and
  // the outstanding-bytes limit is far below it.
  if (bytes.size() > (1u << 30)) {
    fail(StreamCondition::kPolicyViolation, "oversized feed", /*too_big=*/true);
    return;
  }
  fed_ += bytes.size();
  in_expat_ = true;
  int status = XML_Parse(xp(parser_), bytes.data(), static_cast<int>(bytes.size()), XML_FALSE);
  in_expat_ = false;
  after_parse(status);
}

void StreamParser::flush() {
  assert(!in_expat_);
  if (state_ != State::kParsing || !pending_.empty() || !parser_) return;
  if (!sniffed_) {
    // Fewer than kSniffBytes arrived and nothing more is coming for now:
    // judge what there is and hand it to expat.
    if (!sniff_encoding(true)) return;
    std::string held = std::move(head_);
    head_.clear();
    fed_ -= held.size();
    parse(held);
    if (state_ != State::kParsing || !pending_.empty()) return;
  }
  XML_Parser p = xp(parser_);
  in_expat_ = true;
  XML_SetReparseDeferralEnabled(p, XML_FALSE);
  int status = XML_Parse(p, "", 0, XML_FALSE);
  XML_SetReparseDeferralEnabled(p, XML_TRUE);
  in_expat_ = false;
  after_parse(status);
}

bool StreamParser::wants_flush() const {
  return state_ == State::kParsing && pending_.empty() && fed_ > completed_;
}

StreamEvent StreamParser::take_pending() {
  StreamEvent ev = std::move(pending_.front());
  pending_.pop_front();
  return ev;
}

std::optional<StreamEvent> StreamParser::next() {
  assert(!in_expat_);
  if (!pending_.empty()) return take_pending();
  if (state_ == State::kSuspended) {
    state_ = State::kParsing;
    in_expat_ = true;
    int status = XML_ResumeParser(xp(parser_));
    in_expat_ = false;
    after_parse(status);
  }
  if (pending_.empty() && (state_ == State::kParsing || state_ == State::kClosed) &&
      !backlog_.empty()) {
    // Input that arrived while expat was suspended. If this parse suspends
    // again, later feed() calls queue behind it as before.
    std::string bytes = std::move(backlog_);
    backlog_.clear();
    parse(bytes);
  }
  if (!pending_.empty()) return take_pending();
  if (state_ == State::kFailed) {
    state_ = State::kErrorReported;
    StreamEvent ev;
    ev.type = StreamEvent::Type::kError;
    ev.error = error_;
    ev.detail = error_detail_;
    ev.too_big = error_too_big_;
    return ev;
  }
  return std::nullopt;
}

void StreamParser::after_parse(int status) {
  XML_Parser p = xp(parser_);
  switch (status) {
    case XML_STATUS_SUSPENDED:
      state_ = State::kSuspended;
      return;
    case XML_STATUS_ERROR:
      // kClosed: the handler of the close stopped expat on purpose.
      if (state_ != State::kFailed && state_ != State::kClosed) {
        XML_Error code = XML_GetErrorCode(p);
        fail(condition_for(code), XML_ErrorString(code));
      }
      return;
    default:
      // Everything fed has been consumed or buffered by expat.
      if (outstanding_bytes() > limits_.max_outstanding_bytes) {
        fail(StreamCondition::kPolicyViolation, "stanza size limit", /*too_big=*/true);
      }
      return;
  }
}

void StreamParser::fail(StreamCondition condition, std::string detail, bool too_big) {
  if (state_ == State::kFailed || state_ == State::kErrorReported) return;
  state_ = State::kFailed;
  error_ = condition;
  error_detail_ = std::move(detail);
  error_too_big_ = too_big;
  // A half-built stanza is never delivered (catalogue B23).
  stanza_.reset();
  open_.clear();
}

void StreamParser::fail_from_handler(StreamCondition condition, std::string detail, bool too_big) {
  fail(condition, std::move(detail), too_big);
  XML_StopParser(xp(parser_), XML_FALSE);
}

bool StreamParser::over_outstanding_limit_in_handler() {
  XML_Parser p = xp(parser_);
  // The end of the current event: a single character-data callback can
  // carry the whole oversize payload.
  auto end = static_cast<uint64_t>(XML_GetCurrentByteIndex(p) + XML_GetCurrentByteCount(p));
  if (end > completed_ && end - completed_ > limits_.max_outstanding_bytes) {
    fail_from_handler(StreamCondition::kPolicyViolation, "stanza size limit", /*too_big=*/true);
    return true;
  }
  return false;
}

}  // namespace xd::protocol
