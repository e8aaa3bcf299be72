#include "protocol/c2s/c2s_stream.h"

#include <openssl/crypto.h>

#include <cassert>
#include <utility>

#include "protocol/c2s/c2s_register.h"
#include "protocol/compact/dictionary.h"
#include "protocol/compact/receipts_batch.h"
#include "protocol/compact/wire.h"
#include "protocol/sasl/sasl_error.h"
#include "protocol/stanza_error.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

namespace xd::protocol {
namespace {

constexpr std::string_view kClientNs = "jabber:client";
// XEP-0198 §5: a previd longer than this is not one of ours.
constexpr size_t kMaxPrevidBytes = 128;
// The resumption id: 128 random bits as hex.
constexpr size_t kSmIdBytes = 16;

// RFC 6120 §4.7.3: the stream id must be unpredictable; 128 bits.
constexpr size_t kStreamIdBytes = 16;
// RFC 6120 §7.6.2.1: a server-generated resource; 96 bits as 24 hex digits.
constexpr size_t kResourceBytes = 12;
// An output buffer above this size is returned to the allocator once it has
// been written, so an idle stream keeps no big buffer (conventions.md §2).
constexpr size_t kOutputKeepBytes = 4096;
// Drained event queues above this capacity are released.
constexpr size_t kEventsKeep = 1;

const std::string* header_attr(const StreamHeader& header, std::string_view name) {
  for (const Attribute& a : header.attrs) {
    if (a.ns.empty() && a.name == name) return &a.value;
  }
  return nullptr;
}

// RFC 6120 §4.7.5: "major.minor", two non-negative integers; leading zeros
// are ignored. Returns false for anything else. Values saturate, so a huge
// number still compares as large.
bool parse_version(std::string_view text, uint64_t& major, uint64_t& minor) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return false;
  auto number = [](std::string_view digits, uint64_t& out) {
    if (digits.empty()) return false;
    out = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      if (out < 1000000) out = out * 10 + static_cast<uint64_t>(c - '0');
    }
    return true;
  };
  return number(text.substr(0, dot), major) && number(text.substr(dot + 1), minor);
}

// A normalised domainpart that is an IP literal: "[v6]" or a dotted quad
// (jid.cc treats every all-digit-and-dot name as an IPv4 literal).
bool is_ip_literal(std::string_view domain) {
  if (domain.empty()) return false;
  if (domain.front() == '[') return true;
  for (char c : domain) {
    if (c != '.' && (c < '0' || c > '9')) return false;
  }
  return true;
}

// An iq reply that carries the request's 'id' and no address: before the
// resource is bound the client's own 'from' must not be echoed.
std::unique_ptr<Element> unaddressed_reply(const Element& iq, std::string_view type) {
  auto reply = std::make_unique<Element>(kClientNs, "iq");
  if (const std::string* id = iq.attr("id")) reply->set_attr("id", *id);
  reply->set_attr("type", type);
  return reply;
}

std::unique_ptr<Element> unaddressed_error(const Element& iq, StanzaCondition condition,
                                           std::unique_ptr<Element> app_specific = nullptr) {
  if (iq.attr_or("type") == "error") return nullptr;  // RFC 6120 §8.3.1
  StanzaError error;
  error.condition = condition;
  return make_error_reply(*unaddressed_reply(iq, "get"), error, std::move(app_specific));
}

// An iq addressed to the server itself: no 'to', or our domain in any
// spelling (RFC 6120 §8.1.1.1: no 'to' means the account's server).
bool to_server(const Element& iq, std::string_view domain) {
  const std::string* to = iq.attr("to");
  if (!to || *to == domain) return true;
  Jid jid;
  return Jid::parse(*to, jid) == JidError::kOk && !jid.has_local() && jid.is_bare() &&
         jid.domain() == domain;
}

void cleanse(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
  s.shrink_to_fit();
}

}  // namespace

C2sStream::C2sStream(const C2sConfig& config, C2sHost& host)
    : config_(config),
      host_(host),
      parser_(config.pre_auth),
      sasl_(config, host),
      state_(config.direct_tls ? C2sState::kAwaitTls : C2sState::kAwaitHeader) {
  if (config.compact_direct) {
    // spec/compact.md §3.2: frames from the first byte after the preface;
    // the stream domain is known once the client's OPEN frame named it.
    compact_ = true;
    await_preface_ = true;
    compact_in_ = std::make_unique<compact::CompactDecoder>(config.pre_auth, std::string(), false);
    parser_.release();
  }
}

C2sStream::~C2sStream() { wipe_channel_bindings(); }

// ------------------------------------------------------------------ input

void C2sStream::receive(std::string_view bytes) {
  // While waiting for TLS, bytes cannot be plaintext from the client: after
  // <proceed/> they are TLS records the owner should not pass here, and any
  // plaintext smuggled behind <starttls/> must have no effect (RFC 6120
  // §5.4.3.3, catalogue D32).
  if (state_ == C2sState::kClosed || state_ == C2sState::kAwaitTls) return;
  if (output_.empty() && output_.capacity() > kOutputKeepBytes) output_.shrink_to_fit();
  if (compact_) {
    if (await_preface_ && !receive_preface(bytes)) return;
    compact_in_->feed(bytes);
    drain_compact();
    return;
  }
  if (!document_started_ && !check_document_start(bytes)) return;
  current_input_ = bytes;
  parser_.feed(bytes);
  drain_parser();
  current_input_ = {};
  // <compact/> switched the format: what followed it is frames.
  if (compact_) drain_compact();
}

bool C2sStream::receive_preface(std::string_view& bytes) {
  // spec/compact.md §3.2.
  const size_t take = std::min(bytes.size(), compact::kPrefaceBytes - preface_.size());
  preface_.append(bytes.substr(0, take));
  bytes.remove_prefix(take);
  compact::Preface p;
  switch (compact::parse_preface(preface_, p)) {
    case compact::PrefaceResult::kNeedMore:
      return false;
    case compact::PrefaceResult::kBad:
      // Not a compact client (an XML client on the wrong port): nothing it
      // could read is written.
      finish("not a compact preface", /*clean=*/false, StreamCondition::kBadFormat);
      return false;
    case compact::PrefaceResult::kOk:
      break;
  }
  await_preface_ = false;
  preface_ = std::string();
  compact::append_preface(output_, config_.compact_compression);
  if (p.protocol_version != compact::kProtocolVersion ||
      p.dictionary_version != compact::dictionary_version()) {
    // The client learns from our preface what we speak (spec §3.2).
    finish("unsupported compact protocol or dictionary version", /*clean=*/false,
           StreamCondition::kUnsupportedVersion);
    return false;
  }
  compact_compress_ = config_.compact_compression && (p.flags & compact::kPrefaceCompression);
  compact_in_->set_compression(compact_compress_);
  return true;
}

bool C2sStream::check_document_start(std::string_view bytes) {
  // Catalogue A1: "GET / HTTP/1.1" or other junk must fail at once, but
  // expat reports a leading name-like token ("hello") only once it ends,
  // which a silent peer never does. Every XML document starts with '<'
  // after optional whitespace (XML 1.0 §2.1, §2.8), so an ASCII byte
  // other than that is refused here. Bytes >= 0x80 and NUL go to the
  // parser, which tells a byte order mark or UTF-16 (unsupported-encoding)
  // from garbage.
  for (char c : bytes) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    document_started_ = true;
    const auto u = static_cast<unsigned char>(c);
    if (c != '<' && u > 0 && u < 0x80) {
      stream_error(StreamCondition::kNotWellFormed, "stream does not start with markup");
      return false;
    }
    return true;
  }
  return true;
}

void C2sStream::flush_parser() {
  if (compact_ || !wants_parser_flush()) return;
  parser_.flush();
  drain_parser();
}

bool C2sStream::wants_parser_flush() const {
  return !compact_ && state_ != C2sState::kClosed && state_ != C2sState::kAwaitTls &&
         parser_.wants_flush();
}

void C2sStream::tls_established(std::string tls_exporter, std::string tls_server_end_point,
                                bool tls13) {
  assert(state_ == C2sState::kAwaitTls);
  if (state_ != C2sState::kAwaitTls) return;
  tls_active_ = true;
  tls13_ = tls13;
  tls_exporter_ = std::move(tls_exporter);
  tls_server_end_point_ = std::move(tls_server_end_point);
  // RFC 6120 §5.4.3.3: the client opens a new stream over TLS. The parser
  // was reset when <proceed/> was written, or is fresh (direct TLS).
  header_sent_ = false;
  state_ = C2sState::kAwaitHeader;
}

void C2sStream::drain_parser() {
  while (state_ != C2sState::kClosed && state_ != C2sState::kAwaitTls && !compact_) {
    std::optional<StreamEvent> ev = parser_.next();
    if (!ev) return;
    on_stream_event(*ev);
  }
}

void C2sStream::drain_compact() {
  while (state_ != C2sState::kClosed && state_ != C2sState::kAwaitTls) {
    std::optional<StreamEvent> ev = compact_in_->next();
    if (!ev) return;
    on_stream_event(*ev);
  }
}

void C2sStream::on_stream_event(StreamEvent& ev) {
  switch (ev.type) {
    case StreamEvent::Type::kStreamOpen:
      // spec/compact.md §3.2: OPEN frames only where XML has a header.
      if (compact_ && state_ != C2sState::kAwaitHeader) {
        stream_error(StreamCondition::kBadFormat, "compact: OPEN frame inside a stream");
        return;
      }
      on_header(ev.header);
      return;
    case StreamEvent::Type::kStanza:
      if (compact_ && state_ == C2sState::kAwaitHeader) {
        stream_error(StreamCondition::kBadFormat, "compact: element frame before OPEN");
        return;
      }
      on_element(std::move(ev.stanza));
      return;
    case StreamEvent::Type::kStreamClose:
      // RFC 6120 §4.4: the peer closed its stream; we close ours and the
      // session ends cleanly (catalogue A10).
      write_stream_close();
      finish("peer closed its stream", /*clean=*/true, std::nullopt);
      return;
    case StreamEvent::Type::kError: {
      // The parser latched a restricted-XML, well-formedness, encoding or
      // limit violation, or the compact decoder a framing one (spec/compact.md
      // §10); its condition is the stream error (RFC 6120 §4.9.3). A size
      // limit (an XML stanza, a frame or a decoded body over the max-bytes we
      // advertise, XEP-0478) also says so with the XEP-0182 application
      // condition <stanza-too-big/> (RFC 6120 §4.9.4), so the client can tell
      // it from the other policy violations (catalogue C25: the stream is
      // closed rather than the stanza refused, as RFC 6120 §13.12 allows).
      std::unique_ptr<Element> app_specific;
      if (ev.too_big) app_specific = std::make_unique<Element>(kXmppErrorsNs, "stanza-too-big");
      stream_error(ev.error, (compact_ ? "compact: " : "parser: ") + ev.detail, {},
                   std::move(app_specific));
      return;
    }
  }
}

// ------------------------------------------------------------ stream header

void C2sStream::on_header(const StreamHeader& header) {
  // Catalogue E40: an <auth/> sent after <success/> without a restart is
  // the first element of the new document, so it shows up as a "header".
  if (authenticated_ && header.ns == kSaslNs) {
    stream_error(StreamCondition::kNotAuthorized, "SASL element after authentication");
    return;
  }
  // RFC 6120 §4.8.1: the root is <stream/> in the stream namespace. Any
  // prefix is accepted: only the namespace counts (§4.8.5).
  if (header.ns != kStreamNs || header.name != "stream") {
    stream_error(StreamCondition::kInvalidNamespace, "root is not a stream element");
    return;
  }
  // RFC 6120 §4.8.2, §4.9.3.10: the content namespace of c2s is jabber:client.
  if (header.content_namespace() != kClientNs) {
    stream_error(StreamCondition::kInvalidNamespace, "content namespace is not jabber:client");
    return;
  }
  // RFC 6120 §4.7.2: 'to' names the service (catalogue A4).
  const std::string* to = header_attr(header, "to");
  if (!to || to->empty()) {
    stream_error(StreamCondition::kImproperAddressing, "stream header without 'to'");
    return;
  }
  // RFC 7622 §3.2: 'EXAMPLE.com.' is example.com; the parse normalises.
  Jid target;
  const bool domain_only = Jid::parse(*to, target) == JidError::kOk && !target.has_local() &&
                           target.is_bare() && !is_ip_literal(target.domain());
  const bool ours = domain_only && target.domain() == config_.domain;
  if (authenticated_ && !ours) {
    // The restart after SASL must address the same service the client
    // authenticated with (catalogue A7, Prosody #1147).
    stream_error(StreamCondition::kNotAuthorized, "'to' changed on the restart after SASL");
    return;
  }
  if (!ours) {
    // RFC 6120 §4.9.3.6; IP literals are never served (catalogue A5).
    stream_error(StreamCondition::kHostUnknown, "stream header for a host not served here");
    return;
  }
  // RFC 6120 §4.7.5: no version means pre-1.0, which we do not implement
  // (catalogue A6); a higher version is answered with ours, 1.0.
  const std::string* version = header_attr(header, "version");
  uint64_t major = 0;
  uint64_t minor = 0;
  if (!version || !parse_version(*version, major, minor) || major < 1) {
    stream_error(StreamCondition::kUnsupportedVersion, "stream version below 1.0");
    return;
  }

  if (compact_in_) compact_in_->set_domain(config_.domain);
  write_header();
  state_ = authenticated_ ? C2sState::kAwaitBind : C2sState::kNegotiating;
  write_features();
}

void C2sStream::write_header() {
  // RFC 6120 §4.7: a new id for every stream, restarts included (§4.7.3).
  if (compact_) {
    // spec/compact.md §3.2: the header as an OPEN frame.
    Element header(kStreamNs, "stream");
    header.set_attr("id", random_hex(kStreamIdBytes));
    header.set_attr("from", config_.domain);
    header.set_attr("version", "1.0");
    header.set_attr("lang", "en", kXmlNs);
    compact::append_open_frame(header, output_, codec_context());
    header_sent_ = true;
    return;
  }
  output_.append(
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' id='");
  output_.append(random_hex(kStreamIdBytes));
  output_.append("' from='");
  append_escaped_attr(output_, config_.domain);
  output_.append("' version='1.0' xml:lang='en'>");
  header_sent_ = true;
}

C2sSaslOffer C2sStream::sasl_offer() const {
  C2sSaslOffer offer;
  // RFC 6120 §5.3.1: with TLS mandatory-to-negotiate, nothing but STARTTLS
  // is offered before it (catalogue D31).
  if (config_.tls_required && !tls_active_) return offer;
  offer.scram = true;
  // hostile-inputs.md decision 5: no PLAIN before TLS. Only a listener that
  // has no TLS at all (and does not require it) offers PLAIN in plaintext.
  offer.plain = tls_active_ || !config_.tls_available;
  if (tls_active_) {
    offer.tls_exporter = tls13_ && !tls_exporter_.empty();
    offer.tls_server_end_point = !tls_server_end_point_.empty();
  }
  return offer;
}

C2sFeatures C2sStream::current_features() const {
  C2sFeatures f;
  // XEP-0478 §3: the limits in force on this stream from now on: the
  // stanza size limit the parser (or compact decoder, spec/compact.md §11)
  // applies at this stage, tighter before authentication (conventions.md §2).
  f.max_bytes = authenticated_ ? config_.post_auth.max_outstanding_bytes
                               : config_.pre_auth.max_outstanding_bytes;
  if (authenticated_) {
    f.idle_seconds = config_.idle_seconds;
    f.bind = true;  // RFC 6120 §7.4
    f.sm = config_.stream_management;
    f.csi = true;
    // spec/compact.md §3.1: only under TLS, and only once.
    f.compact = config_.compact_available && tls_active_ && !compact_;
    f.compact_compression = f.compact && config_.compact_compression;
    return f;
  }
  f.starttls = config_.tls_available && !tls_active_;
  f.starttls_required = f.starttls && config_.tls_required;
  f.sasl = sasl_offer();
  f.registration = config_.allow_registration && (tls_active_ || !config_.tls_required);
  return f;
}

void C2sStream::write_features() {
  if (!compact_) {
    append_c2s_features(current_features(), output_);
    return;
  }
  std::string xml;
  append_c2s_features(current_features(), xml);
  out_xml(xml);
}

// ----------------------------------------------------------------- elements

void C2sStream::on_element(std::unique_ptr<Element> element) {
  switch (state_) {
    case C2sState::kNegotiating:
      on_negotiating(std::move(element));
      return;
    case C2sState::kAwaitBind:
      on_await_bind(std::move(element));
      return;
    case C2sState::kBound:
      on_bound(std::move(element));
      return;
    case C2sState::kAwaitTls:
    case C2sState::kAwaitHeader:
    case C2sState::kClosed:
      // The parser reports a header before any element of a document.
      assert(false);
      return;
  }
}

bool C2sStream::on_stream_level(const Element& element) {
  if (element.is("error", kStreamNs)) {
    // RFC 6120 §4.9.1.1: the peer's stream error ends its stream; we close
    // ours without answering (no error loop, catalogue A10).
    write_stream_close();
    finish("peer sent a stream error", /*clean=*/true, std::nullopt);
    return true;
  }
  return false;
}

void C2sStream::on_negotiating(std::unique_ptr<Element> element) {
  if (on_stream_level(*element)) return;
  const std::string& ns = element->ns();
  const std::string& name = element->name();
  if (ns == kTlsNs && name == "starttls") {
    if (config_.tls_available && !tls_active_) {
      start_tls();
    } else {
      refuse_tls();  // catalogue D33: never a second TLS layer
    }
    return;
  }
  if (ns == kSaslNs && (name == "auth" || name == "response" || name == "abort")) {
    on_sasl(*element);
    return;
  }
  if (element->is("iq", kClientNs) && current_features().registration &&
      element->child("query", kRegisterNs)) {
    on_register(*element);
    return;
  }
  // RFC 6120 §4.9.3.12: data before the stream is authenticated
  // (catalogue A8). Nothing of it is processed or routed.
  stream_error(StreamCondition::kNotAuthorized, "element before authentication");
}

void C2sStream::on_await_bind(std::unique_ptr<Element> element) {
  if (on_stream_level(*element)) return;
  if (element->ns() == kClientNs) {
    const std::string& name = element->name();
    if (name == "iq") {
      const bool bind = element->child("bind", kBindNs) != nullptr;
      const bool session = !bind && element->child("session", kSessionNs) != nullptr;
      if ((bind || session) && to_server(*element, config_.domain)) {
        if (bind) {
          on_bind(*element);
        } else {
          on_session(*element);
        }
        return;
      }
    }
    if (name == "iq" || name == "message" || name == "presence") {
      // RFC 6120 §7.1: no stanza before a resource is bound (catalogue A8).
      stream_error(StreamCondition::kNotAuthorized, "stanza before resource binding");
      return;
    }
  }
  on_non_stanza_after_auth(*element);
}

void C2sStream::on_bound(std::unique_ptr<Element> element) {
  if (on_stream_level(*element)) return;
  if (element->ns() == kClientNs) {
    const std::string& name = element->name();
    if (name == "iq" || name == "message" || name == "presence") {
      const bool session = name == "iq" && element->child("session", kSessionNs);
      const bool bind = name == "iq" && !session && element->child("bind", kBindNs);
      if ((session || bind) && to_server(*element, config_.domain)) {
        if (sm_) sm_->count_inbound();
        if (session) {
          on_session(*element);
        } else if (auto reply = unaddressed_error(*element, StanzaCondition::kNotAllowed)) {
          // This server binds one resource per stream; a second <bind/>
          // is refused and the first binding stays.
          write_reply(*reply);
        }
        return;
      }
      // XEP-0198 §4: every stanza counts, also those answered right here.
      const uint32_t seq = sm_ ? sm_->count_inbound() : 0;
      std::unique_ptr<Element> reply;
      switch (filter_->filter(*element, reply)) {
        case C2sStanzaFilter::Verdict::kRoute: {
          C2sEvent ev;
          ev.type = C2sEvent::Type::kStanza;
          ev.seq = seq;
          ev.sm_counted = sm_ != nullptr;
          ev.stanza = std::move(element);
          push(std::move(ev));
          return;
        }
        case C2sStanzaFilter::Verdict::kReply:
          write_reply(*reply);
          return;
        case C2sStanzaFilter::Verdict::kDrop:
          return;
      }
      return;
    }
  }
  on_non_stanza_after_auth(*element);
}

// A top-level element that is not a stanza, after authentication (both
// before and after binding).
void C2sStream::on_non_stanza_after_auth(const Element& element) {
  if (element.ns() == kSmNs) {
    on_stream_management(element);
    return;
  }
  if (element.ns() == compact::kCompactNs && element.name() == "compact") {
    on_compact(element);
    return;
  }
  if (element.ns() == kCsiNs && state_ == C2sState::kBound &&
      (element.name() == "active" || element.name() == "inactive")) {
    // XEP-0352 §3: a nonza, not counted by stream management.
    C2sEvent ev;
    ev.type = C2sEvent::Type::kClientState;
    ev.active = element.name() == "active";
    push(std::move(ev));
    return;
  }
  if (element.ns() == kTlsNs && element.name() == "starttls") {
    refuse_tls();
    return;
  }
  if (element.ns() == kSaslNs) {
    // Catalogue E40: <auth/> after success.
    stream_error(StreamCondition::kNotAuthorized, "SASL element after authentication");
    return;
  }
  // RFC 6120 §4.9.3.24 (catalogue A9).
  stream_error(StreamCondition::kUnsupportedStanzaType, "unknown top-level element");
}

void C2sStream::on_stream_management(const Element& element) {
  const std::string& name = element.name();
  if (name == "enable") {
    if (state_ != C2sState::kBound || !config_.stream_management) {
      // XEP-0198 §3: only after binding (catalogue H52).
      out_xml(
          "<failed xmlns='urn:xmpp:sm:3'><unexpected-request "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
      return;
    }
    if (sm_) {
      // Catalogue H52: a second <enable/> is a protocol violation.
      stream_error(StreamCondition::kUnsupportedStanzaType, "second <enable/>",
                   "stream management is already enabled");
      return;
    }
    sm_ = std::make_unique<StreamManagement>();
    const std::string_view resume = element.attr_or("resume");
    C2sEvent ev;
    ev.type = C2sEvent::Type::kSmEnabled;
    if ((resume == "true" || resume == "1") && config_.sm_resume_seconds > 0) {
      sm_->set_id(random_hex(kSmIdBytes));
      ev.sm_id = sm_->id();
      out_xml("<enabled xmlns='urn:xmpp:sm:3' id='" + sm_->id() + "' resume='true' max='" +
              std::to_string(config_.sm_resume_seconds) + "'/>");
    } else {
      out_xml("<enabled xmlns='urn:xmpp:sm:3'/>");
    }
    push(std::move(ev));
    return;
  }
  if (name == "resume") {
    if (state_ == C2sState::kAwaitBind && config_.stream_management) {
      on_resume(element);
    } else {
      out_xml(
          "<failed xmlns='urn:xmpp:sm:3'><unexpected-request "
          "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
    }
    return;
  }
  if ((name == "r" || name == "a") && sm_ && state_ == C2sState::kBound) {
    if (name == "r") {
      C2sEvent ev;
      ev.type = C2sEvent::Type::kSmRequest;
      push(std::move(ev));
      return;
    }
    uint32_t h = 0;
    if (!parse_sm_counter(element.attr_or("h"), h)) {
      stream_error(StreamCondition::kBadFormat, "bad h in <a/>");
      return;
    }
    apply_ack(h);
    return;
  }
  // <r/> and <a/> without enabled stream management, or anything else in
  // the namespace (RFC 6120 §4.9.3.24).
  stream_error(StreamCondition::kUnsupportedStanzaType, "unexpected stream management element");
}

bool C2sStream::apply_ack(uint32_t h) {
  C2sEvent ev;
  ev.type = C2sEvent::Type::kSmAcked;
  switch (sm_->ack(h, ev.tags)) {
    case StreamManagement::AckResult::kOk:
      if (!ev.tags.empty()) push(std::move(ev));
      return true;
    case StreamManagement::AckResult::kTooHigh: {
      // XEP-0198 §4 (catalogue H53).
      auto app = std::make_unique<Element>(kSmNs, "handled-count-too-high");
      app->set_attr("h", std::to_string(h));
      app->set_attr("send-count", std::to_string(sm_->sent()));
      stream_error(StreamCondition::kUndefinedCondition, "acknowledged more than was sent", {},
                   std::move(app));
      return false;
    }
    case StreamManagement::AckResult::kBehind:
      stream_error(StreamCondition::kUndefinedCondition, "acknowledgement counter went back");
      return false;
  }
  return false;
}

void C2sStream::on_resume(const Element& element) {
  const std::string previd(element.attr_or("previd"));
  uint32_t h = 0;
  C2sResumption r;
  if (previd.empty() || previd.size() > kMaxPrevidBytes ||
      !parse_sm_counter(element.attr_or("h"), h) || !host_.resume_session(previd, h, r)) {
    // XEP-0198 §5 (catalogue H54): unknown, expired, foreign or garbage.
    out_xml(
        "<failed xmlns='urn:xmpp:sm:3'><item-not-found "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
    return;
  }
  jid_ = r.full;
  filter_ = std::make_unique<C2sStanzaFilter>(jid_, config_.domain);
  sm_ = std::make_unique<StreamManagement>(std::move(r.sm));
  sm_->set_id(previd);
  sm_->set_inbound(r.handled);
  state_ = C2sState::kBound;
  C2sEvent resumed;
  resumed.type = C2sEvent::Type::kResumed;
  resumed.jid = jid_;
  resumed.sm_id = previd;
  push(std::move(resumed));
  if (!apply_ack(h)) return;
  out_xml("<resumed xmlns='urn:xmpp:sm:3' previd='" + previd + "' h='" + std::to_string(r.handled) +
          "'/>");
  // XEP-0198 §5: everything the client has not acknowledged, again, under
  // the numbers it had.
  for (const StreamManagement::Sent& s : sm_->unacked()) resend(s);
}

void C2sStream::send_sm_ack(uint32_t h) {
  if (state_ != C2sState::kBound || !sm_) return;
  if (compact_) {
    Element a(kSmNs, "a");
    a.set_attr("h", std::to_string(h));
    out_element(a);
    return;
  }
  output_.append("<a xmlns='urn:xmpp:sm:3' h='");
  output_.append(std::to_string(h));
  output_.append("'/>");
}

bool C2sStream::send_nonza(const Element& element) {
  if (state_ != C2sState::kBound) return false;
  return out_element(element);
}

void C2sStream::send_sm_request() {
  if (state_ != C2sState::kBound || !sm_) return;
  out_xml("<r xmlns='urn:xmpp:sm:3'/>");
}

void C2sStream::count_sent(size_t from, uint64_t tag) {
  if (!sm_ || state_ != C2sState::kBound) return;
  sm_->record(tag, output_.substr(from), compact_);
  if (sm_->unacked_count() > config_.sm_max_unacked) {
    // Catalogue H55: a client that never acknowledges.
    stream_error(StreamCondition::kPolicyViolation, "too many unacknowledged stanzas",
                 "too many unacknowledged stanzas");
  }
}

void C2sStream::detach() {
  if (state_ == C2sState::kClosed) return;
  state_ = C2sState::kClosed;
  wipe_channel_bindings();
  drop_parser();
  output_.clear();
  output_.shrink_to_fit();
}

bool C2sStream::hold_serialized(std::string xml, uint64_t tag) {
  if (state_ != C2sState::kClosed || !sm_ || sm_->id().empty()) return false;
  if (sm_->unacked_count() >= config_.sm_max_unacked) return false;
  sm_->record(tag, std::move(xml));
  return true;
}

// -------------------------------------------------------------- STARTTLS

void C2sStream::start_tls() {
  // RFC 6120 §5.4.2.3: <proceed/>, then the TLS handshake on the raw
  // transport (the owner's job, announced by kStartTls).
  output_.append("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  C2sEvent ev;
  ev.type = C2sEvent::Type::kStartTls;
  push(std::move(ev));
  // Catalogue D32 (the nostarttls class): every byte the client sent after
  // </starttls> in plaintext is discarded with the parser state, so nothing
  // injected before the handshake can reach the TLS-protected stream.
  parser_.reset();
  document_started_ = false;
  header_sent_ = false;
  state_ = C2sState::kAwaitTls;
}

void C2sStream::refuse_tls() {
  // RFC 6120 §5.4.2.2: <failure/>, then close the stream and the connection.
  out_xml("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  write_stream_close();
  finish("STARTTLS refused", /*clean=*/false, std::nullopt);
}

// ------------------------------------------------------------------- SASL

void C2sStream::on_sasl(const Element& element) {
  C2sSaslContext context;
  context.offer = sasl_offer();
  context.encryption_required = config_.tls_required && !tls_active_;
  context.tls_exporter = tls_exporter_;
  context.tls_server_end_point = tls_server_end_point_;
  // Direct compact mode negotiates SASL in frames (spec/compact.md §3.2).
  std::string xml;
  C2sSaslResult result = sasl_.handle(element, context, compact_ ? xml : output_);
  if (compact_) out_xml(xml);
  switch (result.kind) {
    case C2sSaslResult::Kind::kContinue:
      return;
    case C2sSaslResult::Kind::kFailure:
      // RFC 6120 §6.4.5: a few retries are allowed, then the stream is
      // closed (catalogue E37: after 3).
      if (result.counted && ++auth_failures_ >= config_.max_auth_failures) {
        stream_error(StreamCondition::kNotAuthorized, "too many failed authentication attempts",
                     "Too many failed authentication attempts");
      }
      return;
    case C2sSaslResult::Kind::kSuccess: {
      authenticated_ = true;
      jid_ = result.jid;
      C2sEvent ev;
      ev.type = C2sEvent::Type::kAuthenticated;
      ev.jid = std::move(result.jid);
      ev.mechanism = std::string(result.mechanism);
      push(std::move(ev));
      restart_after_sasl();
      return;
    }
  }
}

void C2sStream::restart_after_sasl() {
  // RFC 6120 §6.4.6: after <success/> both sides start a new stream with no
  // further data in between, so the parser is reset (with every buffered
  // byte) and the looser post-authentication limits apply from now on.
  if (compact_) {
    compact_in_->set_limits(config_.post_auth);
  } else {
    parser_.reset();
    parser_.set_limits(config_.post_auth);
  }
  document_started_ = false;
  header_sent_ = false;
  state_ = C2sState::kAwaitHeader;
  // Channel bindings were only needed for SCRAM -PLUS.
  wipe_channel_bindings();
}

// ------------------------------------------------------------ registration

void C2sStream::on_register(const Element& iq) {
  if (auto reply = c2s_register_reply(iq, config_, host_)) write_reply(*reply);
}

// ---------------------------------------------------------------- binding

void C2sStream::on_bind(const Element& iq) {
  // RFC 6120 §7.6: <iq type='set'><bind><resource/>?</bind></iq>.
  if (!c2s_iq_well_formed(iq) || iq.attr_or("type") != "set") {
    if (auto reply = unaddressed_error(iq, StanzaCondition::kBadRequest)) write_reply(*reply);
    if (++bind_failures_ > config_.max_bind_failures) {
      stream_error(StreamCondition::kPolicyViolation, "too many failed resource bindings");
    }
    return;
  }
  // RFC 7622 §3.4: the requested resource is enforced with OpaqueString.
  // When there is none (RFC 6120 §7.6), or it fails enforcement, the server
  // generates one rather than refusing, so a client with an odd resource
  // name still gets a session.
  Jid full;
  bool have = false;
  if (const Element* bind = iq.child("bind", kBindNs)) {
    if (const Element* resource = bind->child("resource", kBindNs)) {
      const std::string requested = resource->text();
      have = !requested.empty() &&
             Jid::from_parts(jid_.local(), jid_.domain(), requested, full) == JidError::kOk;
    }
  }
  if (!have) {
    [[maybe_unused]] JidError e =
        Jid::from_parts(jid_.local(), jid_.domain(), random_hex(kResourceBytes), full);
    assert(e == JidError::kOk);
  }

  if (std::optional<StanzaCondition> refused = host_.bind_resource(full)) {
    // Catalogue F46: a client looping on failing binds is cut off.
    if (++bind_failures_ > config_.max_bind_failures) {
      stream_error(StreamCondition::kPolicyViolation, "too many failed resource bindings");
      return;
    }
    // RFC 6120 §7.6.2.1: <resource-constraint/> from binding means the
    // account already has as many sessions as it may (C2sHost::bind_resource;
    // the server's only source of it is its per-account session cap), so it
    // gets the XEP-0205 application condition <resource-limit-exceeded/> in
    // the XEP-0182 namespace (RFC 6120 §8.3.4; catalogue F47). Nothing else
    // the host refuses a bind with carries one.
    std::unique_ptr<Element> app_specific;
    if (*refused == StanzaCondition::kResourceConstraint) {
      app_specific = std::make_unique<Element>(kXmppErrorsNs, "resource-limit-exceeded");
    }
    if (auto reply = unaddressed_error(iq, *refused, std::move(app_specific))) {
      write_reply(*reply);
    }
    return;
  }

  // RFC 6120 §7.6.1: the result carries the full JID.
  auto reply = unaddressed_reply(iq, "result");
  reply->add_child(kBindNs, "bind").add_child(kBindNs, "jid").add_text(full.str());
  write_element(*reply);
  jid_ = full;
  filter_ = std::make_unique<C2sStanzaFilter>(full, config_.domain);
  state_ = C2sState::kBound;
  C2sEvent ev;
  ev.type = C2sEvent::Type::kBound;
  ev.jid = std::move(full);
  push(std::move(ev));
}

void C2sStream::on_session(const Element& iq) {
  // RFC 3921 §3: session establishment is a no-op kept for old clients.
  std::unique_ptr<Element> reply;
  if (c2s_iq_well_formed(iq) && iq.attr_or("type") == "set") {
    reply = unaddressed_reply(iq, "result");
  } else {
    reply = unaddressed_error(iq, StanzaCondition::kBadRequest);
  }
  if (reply) write_reply(*reply);
}

// ----------------------------------------------------------------- output

bool C2sStream::send_stanza(const Element& stanza, uint64_t tag) {
  if (state_ != C2sState::kBound) return false;
  if (!compact_ && compact::is_receipts_batch(stanza) && send_expanded(stanza, tag)) return true;
  const size_t from = output_.size();
  if (!out_element(stanza)) return false;
  count_sent(from, tag);
  return true;
}

bool C2sStream::send_serialized(std::string_view xml, uint64_t tag) {
  if (state_ != C2sState::kBound) return false;
  const size_t from = output_.size();
  if (compact_) {
    // spec/compact.md §6: the server translates; a stored stanza is XML.
    std::unique_ptr<Element> e = parse_fragment(xml);
    if (!e || !out_element(*e)) return false;
  } else if (xml.find(compact::kCompactNs) != std::string_view::npos) {
    // Perhaps a batch of receipts from a compact client (spec §9.2).
    std::unique_ptr<Element> e = parse_fragment(xml);
    if (e && compact::is_receipts_batch(*e) && send_expanded(*e, tag)) return true;
    output_.append(xml);
  } else {
    output_.append(xml);
  }
  count_sent(from, tag);
  return true;
}

bool C2sStream::send_compact_body(std::string_view body, uint64_t tag) {
  if (state_ != C2sState::kBound) return false;
  if (!compact_) {
    compact::DecodeError error;
    std::unique_ptr<Element> e = compact::decode_element(
        body, compact::CodecContext{config_.domain}, compact::stored_decode_limits(), error);
    return e && send_stanza(*e, tag);
  }
  const size_t from = output_.size();
  compact::append_body_frame(body, output_, compact_compress_);
  count_sent(from, tag);
  return true;
}

bool C2sStream::send_expanded(const Element& batch, uint64_t tag) {
  // spec/compact.md §9.2: one standard message per receipt. Stream
  // management counts each; the batch's tag goes with the last, so the
  // stored batch is deleted only once the client has them all.
  std::vector<std::unique_ptr<Element>> parts;
  if (compact::expand_receipts_batch(batch, parts) == 0) return false;
  for (size_t i = 0; i < parts.size() && state_ == C2sState::kBound; ++i) {
    const size_t from = output_.size();
    if (!out_element(*parts[i])) return false;
    count_sent(from, i + 1 == parts.size() ? tag : 0);
  }
  return true;
}

bool C2sStream::out_element(const Element& element) {
  if (compact_) {
    return compact::append_element_frame(element, output_, codec_context(), compact_compress_);
  }
  return serialize(element, output_, kClientNs);
}

void C2sStream::out_xml(std::string_view xml) {
  if (!compact_) {
    output_.append(xml);
    return;
  }
  std::vector<std::unique_ptr<Element>> elements;
  [[maybe_unused]] bool ok = parse_fragments(xml, elements);
  assert(ok);  // our own output
  for (const auto& e : elements) out_element(*e);
}

void C2sStream::write_stream_close() {
  if (compact_) {
    compact::append_close_frame(output_);
  } else {
    output_.append("</stream:stream>");
  }
}

compact::CodecContext C2sStream::codec_context() const {
  return compact::CodecContext{compact_in_ ? std::string_view(compact_in_->domain())
                                           : std::string_view(config_.domain)};
}

void C2sStream::drop_parser() {
  if (compact_) {
    compact_in_->reset();
  } else {
    parser_.reset();
  }
}

void C2sStream::resend(const StreamManagement::Sent& s) {
  if (s.compact == compact_) {
    output_.append(s.xml);
    return;
  }
  // The resumed stream speaks the other format (spec/compact.md §6).
  std::unique_ptr<Element> e;
  if (s.compact) {
    compact::CompactDecoder d(config_.post_auth, config_.domain, true);
    d.feed(s.xml);
    if (std::optional<StreamEvent> ev = d.next(); ev && ev->type == StreamEvent::Type::kStanza) {
      e = std::move(ev->stanza);
    }
  } else {
    e = parse_fragment(s.xml);
  }
  if (e) out_element(*e);
}

void C2sStream::on_compact(const Element& element) {
  // spec/compact.md §3.1.
  auto failure = [&](std::string_view condition) {
    out_xml("<failure xmlns='urn:xmppd:compact:1'><" + std::string(condition) + "/></failure>");
  };
  if (state_ != C2sState::kAwaitBind || !current_features().compact) {
    failure("unexpected-request");
    return;
  }
  if (element.attr_or("dictionary") != std::to_string(compact::dictionary_version())) {
    failure("unsupported-dictionary");
    return;
  }
  const std::string_view compression = element.attr_or("compression");
  if (!compression.empty() &&
      (compression != compact::kCompressionZstd || !config_.compact_compression)) {
    failure("unsupported-compression");
    return;
  }
  output_.append(compression.empty()
                     ? "<compacted xmlns='urn:xmppd:compact:1'/>"
                     : "<compacted xmlns='urn:xmppd:compact:1' compression='zstd'/>");
  switch_to_compact(!compression.empty());
}

void C2sStream::switch_to_compact(bool compression) {
  compact_ = true;
  compact_compress_ = compression;
  compact_in_ =
      std::make_unique<compact::CompactDecoder>(config_.post_auth, config_.domain, compression);
  // Bytes after <compact/> in the same read are the first frames (the
  // parser was suspended right after the element).
  const size_t tail =
      static_cast<size_t>(std::min<uint64_t>(parser_.outstanding_bytes(), current_input_.size()));
  if (tail > 0) compact_in_->feed(current_input_.substr(current_input_.size() - tail));
  parser_.release();
  C2sEvent ev;
  ev.type = C2sEvent::Type::kCompact;
  push(std::move(ev));
}

void C2sStream::write_element(const Element& element) {
  // Our own trees always encode; a failure would leave |output_| as it was.
  const size_t from = output_.size();
  [[maybe_unused]] bool ok = out_element(element);
  assert(ok);
  // Stanzas the stream answers itself count for XEP-0198 too.
  if (sm_ && state_ == C2sState::kBound && element.ns() == kClientNs) count_sent(from, 0);
}

void C2sStream::write_reply(const Element& reply) {
  write_element(reply);
  // Error replies of the stream's own are the server's too (metrics).
  if (std::optional<StanzaCondition> c = stanza_error_condition(reply)) {
    host_.stanza_error_sent(*c);
  }
}

void C2sStream::clear_output() {
  output_.clear();
  if (output_.capacity() > kOutputKeepBytes) output_.shrink_to_fit();
}

std::optional<C2sEvent> C2sStream::next_event() {
  if (event_head_ == events_.size()) return std::nullopt;
  C2sEvent ev = std::move(events_[event_head_++]);
  if (event_head_ == events_.size()) {
    events_.clear();
    event_head_ = 0;
    if (events_.capacity() > kEventsKeep) events_.shrink_to_fit();
  }
  return ev;
}

void C2sStream::push(C2sEvent event) { events_.push_back(std::move(event)); }

// ---------------------------------------------------------------- closing

void C2sStream::close(StreamCondition condition, std::string_view text) {
  if (state_ == C2sState::kClosed) return;
  stream_error(condition, "closed by the server: " + std::string(stream_condition_name(condition)),
               text);
}

void C2sStream::peer_closed() {
  if (state_ == C2sState::kClosed) return;
  finish("transport closed", /*clean=*/false, std::nullopt);
}

void C2sStream::stream_error(StreamCondition condition, std::string reason, std::string_view text,
                             std::unique_ptr<Element> app_specific) {
  if (state_ == C2sState::kClosed) return;
  // During the TLS handshake no plaintext may be written; the owner just
  // closes the connection.
  if (state_ != C2sState::kAwaitTls) {
    // RFC 6120 §4.9.1.2: an error before our header follows a header.
    if (!header_sent_ && !await_preface_) write_header();
    std::unique_ptr<Element> error = make_stream_error(condition, text, std::move(app_specific));
    if (compact_) {
      // spec/compact.md §3: the error element, then CLOSE. Before the
      // preface nothing can be written that the client could read.
      if (!await_preface_) {
        compact::append_element_frame(*error, output_, codec_context(), false);
        compact::append_close_frame(output_);
      }
      finish(std::move(reason), /*clean=*/false, condition);
      return;
    }
    // Written with the stream prefix our header declared (RFC 6120 §4.9.2).
    output_.append("<stream:error>");
    for (const Node& child : error->children()) {
      if (child.element) write_element(*child.element);
    }
    output_.append("</stream:error></stream:stream>");
  }
  finish(std::move(reason), /*clean=*/false, condition);
}

void C2sStream::finish(std::string reason, bool clean, std::optional<StreamCondition> error) {
  state_ = C2sState::kClosed;
  wipe_channel_bindings();
  // Drop the parser's buffers and any half-read stanza now rather than at
  // destruction: a closed stream may linger until its output is flushed.
  drop_parser();
  C2sEvent ev;
  ev.type = C2sEvent::Type::kClosed;
  ev.reason = std::move(reason);
  ev.clean = clean;
  ev.error = error;
  push(std::move(ev));
}

void C2sStream::wipe_channel_bindings() {
  // tls-exporter output is derived from the TLS secrets.
  cleanse(tls_exporter_);
  cleanse(tls_server_end_point_);
}

std::string C2sStream::random_hex(size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  uint8_t buf[32];
  assert(bytes <= sizeof buf);
  host_.random_bytes(buf, bytes);
  std::string out;
  out.reserve(bytes * 2);
  for (size_t i = 0; i < bytes; ++i) {
    out.push_back(kDigits[buf[i] >> 4]);
    out.push_back(kDigits[buf[i] & 0x0F]);
  }
  return out;
}

}  // namespace xd::protocol
