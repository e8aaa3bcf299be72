#include "client/session/login_session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "protocol/compact/dictionary.h"
#include "protocol/compact/wire.h"
#include "protocol/jid/precis.h"
#include "protocol/sasl/base64.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"

namespace xd::client {
namespace {

constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kStreamsNs = "http://etherx.jabber.org/streams";
constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr std::string_view kPingNs = "urn:xmpp:ping";
constexpr std::string_view kSaslCbNs = "urn:xmpp:sasl-cb:0";
constexpr std::string_view kSmNs = "urn:xmpp:sm:3";

constexpr std::array<SaslMech, 5> kAllMechs = {SaslMech::kScramSha1, SaslMech::kScramSha256,
                                               SaslMech::kScramSha1Plus, SaslMech::kScramSha256Plus,
                                               SaslMech::kPlain};

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

void cleanse(std::string& secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

net::ConnectionOptions client_options() {
  net::ConnectionOptions options;
  options.read_rate.bytes_per_second = 0;  // we are the load, not the guard
  options.write_queue_cap = 16 << 20;
  return options;
}

}  // namespace

std::string_view sasl_mech_name(SaslMech mech) {
  switch (mech) {
    case SaslMech::kScramSha1:
      return "SCRAM-SHA-1";
    case SaslMech::kScramSha256:
      return "SCRAM-SHA-256";
    case SaslMech::kScramSha1Plus:
      return "SCRAM-SHA-1-PLUS";
    case SaslMech::kScramSha256Plus:
      return "SCRAM-SHA-256-PLUS";
    case SaslMech::kPlain:
      return "PLAIN";
  }
  return "PLAIN";
}

bool sasl_mech_from_name(std::string_view name, SaslMech& out) {
  for (SaslMech mech : kAllMechs) {
    if (ascii_iequal(name, sasl_mech_name(mech))) {
      out = mech;
      return true;
    }
  }
  return false;
}

bool sasl_mech_is_plus(SaslMech mech) {
  return mech == SaslMech::kScramSha1Plus || mech == SaslMech::kScramSha256Plus;
}

LoginSession::LoginSession(net::NetLoop& loop, const SessionConfig& config,
                           SessionObserver& observer, std::size_t tag)
    : loop_(&loop), config_(config), observer_(&observer), tag_(tag) {}

LoginSession::~LoginSession() = default;

bool LoginSession::start(std::string& error) {
  net::NetStatus status;
  conn_ = net::Connection::connect(*loop_, config_.server, *this, client_options(), status);
  if (!conn_) {
    error = status.to_string();
    return false;
  }
  parser_ = std::make_unique<protocol::StreamParser>();
  if (config_.tls && config_.direct_tls) {
    // XEP-0368 §3: TLS from the first byte; the stream header follows the
    // handshake (on_tls_ready).
    status = conn_->start_tls_client(*config_.tls,
                                     config_.tls_host.empty() ? config_.domain : config_.tls_host);
    if (!status) {
      error = "direct tls: " + status.to_string();
      conn_.reset();
      parser_.reset();
      return false;
    }
    state_ = State::kAwaitTls;
    return true;
  }
  send_header();
  state_ = State::kAwaitFeatures;
  return true;
}

void LoginSession::send_header() {
  std::string header =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='";
  protocol::append_escaped_attr(header, config_.domain);
  header += "'>";
  conn_->write(header);
}

void LoginSession::send(std::string_view stanza) {
  if (state_ == State::kBound) write_xml(stanza);
}

void LoginSession::write_xml(std::string_view xml) {
  if (!compact_in_) {
    conn_->write(xml);
    return;
  }
  // spec/compact.md §6: the owner's XML, as frames.
  std::vector<std::unique_ptr<protocol::Element>> elements;
  if (!protocol::parse_fragments(xml, elements)) return;
  std::string frames;
  const protocol::compact::CodecContext context{config_.domain};
  for (const auto& e : elements) {
    protocol::compact::append_element_frame(*e, frames, context, compact_compress_);
  }
  conn_->write(frames);
}

void LoginSession::enable_sm(bool resume) {
  if (state_ != State::kBound || sm_ != Sm::kOff) return;
  sm_ = Sm::kRequested;
  write_xml(resume ? "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
                   : "<enable xmlns='urn:xmpp:sm:3'/>");
}

void LoginSession::request_ack() {
  if (state_ == State::kBound && sm_ == Sm::kEnabled) write_xml("<r xmlns='urn:xmpp:sm:3'/>");
}

void LoginSession::close() {
  if (state_ == State::kClosing || state_ == State::kEnded || !conn_) return;
  state_ = State::kClosing;
  if (compact_in_) {
    std::string close;
    protocol::compact::append_close_frame(close);
    conn_->write(close);
  } else {
    conn_->write("</stream:stream>");
  }
  conn_->close_after_flush();
}

void LoginSession::fail(std::string reason) {
  if (state_ == State::kClosing || state_ == State::kEnded) return;
  failure_ = std::move(reason);
  state_ = State::kClosing;
  conn_->close_now();
}

void LoginSession::on_read(net::Connection& /*connection*/, std::string_view plaintext) {
  if (state_ == State::kClosing || state_ == State::kEnded) return;
  last_read_ms_ = loop_->now_ms();
  if (compact_in_) {
    compact_in_->feed(plaintext);
    while (std::optional<protocol::StreamEvent> event = compact_in_->next()) {
      if (!on_event(*event)) return;
    }
    return;
  }
  current_input_ = plaintext;
  parser_->feed(plaintext);
  for (;;) {
    std::optional<protocol::StreamEvent> event = parser_->next();
    if (!event) {
      // A client has no quadratic-reparse exposure worth a timer: flush at
      // once so a stanza held back by expat's reparse deferral is delivered.
      if (parser_->wants_flush()) {
        parser_->flush();
        event = parser_->next();
        if (!event) break;
      } else {
        break;
      }
    }
    const bool was_xml = compact_in_ == nullptr;
    if (!on_event(*event)) break;
    if (was_xml && compact_in_) {
      // <compacted/> switched the format: the frames that followed it in
      // this read are already in the decoder.
      current_input_ = {};
      while (std::optional<protocol::StreamEvent> ev = compact_in_->next()) {
        if (!on_event(*ev)) return;
      }
      return;
    }
  }
  current_input_ = {};
}

bool LoginSession::on_event(protocol::StreamEvent& event) {
  switch (event.type) {
    case protocol::StreamEvent::Type::kStreamOpen:
      return true;
    case protocol::StreamEvent::Type::kStanza: {
      const State before = state_;
      if (!handle_stanza(*event.stanza)) return false;
      // A stream restart (STARTTLS, SASL success) discarded the rest of
      // the input: stop pulling from the old document.
      return !(state_ != before &&
               (state_ == State::kAwaitTls || state_ == State::kAwaitBindFeatures));
    }
    case protocol::StreamEvent::Type::kStreamClose:
      fail("server closed the stream");
      return false;
    case protocol::StreamEvent::Type::kError:
      fail((compact_in_ ? "compact: " : "xml: ") + event.detail);
      return false;
  }
  return false;
}

bool LoginSession::handle_stanza(const protocol::Element& stanza) {
  if (stanza.is("error", kStreamsNs)) {
    std::string condition = "stream error";
    for (const protocol::Node& node : stanza.children()) {
      if (node.is_element()) {
        condition += ": " + node.element->name();
        break;
      }
    }
    fail(condition);
    return false;
  }
  switch (state_) {
    case State::kAwaitFeatures:
    case State::kAwaitBindFeatures:
      if (!stanza.is("features", kStreamsNs)) {
        fail("expected stream features, got " + stanza.name());
        return false;
      }
      return on_features(stanza);
    case State::kAwaitProceed:
      if (!stanza.is("proceed", kTlsNs)) {
        fail("starttls refused");
        return false;
      }
      {
        net::NetStatus status = conn_->start_tls_client(
            *config_.tls, config_.tls_host.empty() ? config_.domain : config_.tls_host);
        if (!status) {
          fail("starttls: " + status.to_string());
          return false;
        }
      }
      parser_->reset();
      state_ = State::kAwaitTls;
      return true;
    case State::kAwaitRegistered: {
      // XEP-0077 §3.1: an empty result created the account.
      if (!stanza.is("iq", kClientNs) || stanza.attr_or("id") != "reg1") {
        fail("expected the registration result, got " + stanza.name());
        return false;
      }
      if (stanza.attr_or("type") != "result") {
        std::string condition = "registration refused";
        if (const protocol::Element* error = stanza.child("error", kClientNs)) {
          for (const protocol::Node& node : error->children()) {
            if (node.is_element() && node.element->ns() == kStanzasNs) {
              condition += ": " + node.element->name();
              break;
            }
          }
        }
        fail(condition);
        return false;
      }
      std::unique_ptr<protocol::Element> features = std::move(pending_features_);
      return features && start_auth(*features);
    }
    case State::kAwaitSaslResult:
      return on_sasl(stanza);
    case State::kAwaitCompacted:
      // spec/compact.md §3.1: <compacted/> switches both directions; a
      // <failure/> leaves the stream in XML.
      if (stanza.is("compacted", protocol::compact::kCompactNs)) {
        compact_compress_ = stanza.attr_or("compression") == protocol::compact::kCompressionZstd;
        compact_in_ = std::make_unique<protocol::compact::CompactDecoder>(
            protocol::post_auth_parser_limits(), config_.domain, compact_compress_);
        const size_t tail = static_cast<size_t>(
            std::min<std::uint64_t>(parser_->outstanding_bytes(), current_input_.size()));
        if (tail > 0) compact_in_->feed(current_input_.substr(current_input_.size() - tail));
        parser_.reset();
      } else if (!stanza.is("failure", protocol::compact::kCompactNs)) {
        fail("expected <compacted/>, got " + stanza.name());
        return false;
      }
      bind_or_resume();
      return true;
    case State::kAwaitBind: {
      if (!stanza.is("iq", kClientNs) || stanza.attr_or("id") != "bind1") return true;
      if (stanza.attr_or("type") != "result") {
        fail("bind refused");
        return false;
      }
      const protocol::Element* bind = stanza.child("bind", kBindNs);
      const protocol::Element* jid = bind ? bind->child("jid", kBindNs) : nullptr;
      jid_ = jid ? jid->text() : std::string();
      state_ = State::kBound;
      was_bound_ = true;
      observer_->on_bound(*this);
      return state_ == State::kBound;
    }
    case State::kAwaitResumed:
      if (stanza.is("resumed", kSmNs)) {
        // XEP-0198 §5: h is what the server handled of ours.
        std::uint32_t h = 0;
        const std::string_view text = stanza.attr_or("h");
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), h);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
          fail("bad h in <resumed/>");
          return false;
        }
        sm_ = Sm::kEnabled;
        sm_id_ = config_.resume_id;
        sm_inbound_ = config_.resume_h;
        state_ = State::kBound;
        was_bound_ = true;
        observer_->on_resumed(*this, true, h);
        return state_ == State::kBound;
      }
      if (stanza.is("failed", kSmNs)) {
        observer_->on_resumed(*this, false, 0);
        if (state_ != State::kAwaitResumed) return false;
        send_bind();
        return true;
      }
      fail("expected <resumed/>, got " + stanza.name());
      return false;
    case State::kBound:
      if (stanza.ns() == kSmNs) {
        on_sm_element(stanza);
        return state_ == State::kBound;
      }
      // XEP-0198 §4: h counts the stanzas (not nonzas) handled.
      if (sm_ == Sm::kEnabled && stanza.ns() == kClientNs) ++sm_inbound_;
      if (stanza.is("message", kClientNs)) {
        observer_->on_message(*this, stanza);
      } else if (stanza.is("iq", kClientNs)) {
        const std::string_view type = stanza.attr_or("type");
        if ((type == "get" || type == "set") && !observer_->on_iq_request(*this, stanza) &&
            state_ == State::kBound) {
          answer_iq(stanza);
        } else if (type == "result" || type == "error") {
          observer_->on_iq_response(*this, stanza);
        }
      } else if (stanza.is("presence", kClientNs)) {
        observer_->on_presence(*this, stanza);
      }
      return state_ == State::kBound;
    default:
      return true;
  }
}

bool LoginSession::on_features(const protocol::Element& features) {
  if (state_ == State::kAwaitBindFeatures) {
    if (!features.child("bind", kBindNs)) {
      fail("no bind feature");
      return false;
    }
    if (config_.compact && tls_done_ && features.child("compact", protocol::compact::kCompactNs)) {
      std::string request = "<compact xmlns='urn:xmppd:compact:1' dictionary='";
      request += std::to_string(protocol::compact::dictionary_version());
      request += config_.compact_compression ? "' compression='zstd'/>" : "'/>";
      conn_->write(request);
      state_ = State::kAwaitCompacted;
      return true;
    }
    bind_or_resume();
    return true;
  }
  if (config_.tls && !tls_done_) {
    if (!features.child("starttls", kTlsNs)) {
      fail("server offers no starttls");
      return false;
    }
    conn_->write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    state_ = State::kAwaitProceed;
    return true;
  }
  if (config_.register_account) {
    if (!features.child("register", "http://jabber.org/features/iq-register")) {
      fail("server offers no in-band registration");
      return false;
    }
    std::string iq = "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>";
    protocol::append_escaped_text(iq, config_.username);
    iq += "</username><password>";
    protocol::append_escaped_text(iq, config_.password);
    iq += "</password></query></iq>";
    conn_->write(iq);
    OPENSSL_cleanse(iq.data(), iq.size());
    pending_features_ = features.clone();
    state_ = State::kAwaitRegistered;
    return true;
  }
  return start_auth(features);
}

bool LoginSession::start_auth(const protocol::Element& features) {
  const protocol::Element* mechanisms = features.child("mechanisms", kSaslNs);
  auto offers = [mechanisms](std::string_view name) {
    if (!mechanisms) return false;
    for (const protocol::Node& node : mechanisms->children()) {
      if (node.is_element() && node.element->is("mechanism", kSaslNs) &&
          node.element->text() == name) {
        return true;
      }
    }
    return false;
  };
  bool downgrade_guard = false;
  if (config_.auto_mech) {
    // The strongest SCRAM the server offers; channel binding (-PLUS) only
    // over TLS. PLAIN is never chosen on our own.
    static constexpr std::array<SaslMech, 4> kPreference = {
        SaslMech::kScramSha256Plus, SaslMech::kScramSha1Plus, SaslMech::kScramSha256,
        SaslMech::kScramSha1};
    bool chosen = false;
    for (SaslMech mech : kPreference) {
      if (sasl_mech_is_plus(mech) && !tls_done_) continue;
      if (offers(sasl_mech_name(mech))) {
        config_.mech = mech;
        chosen = true;
        break;
      }
    }
    if (!chosen) {
      fail("server offers no SCRAM mechanism");
      return false;
    }
    // RFC 5802 §6: we could bind but the server offered no -PLUS; "y" lets
    // a server that does support it detect that the offer was stripped.
    downgrade_guard = tls_done_ && !sasl_mech_is_plus(config_.mech);
  }
  const std::string_view wanted = sasl_mech_name(config_.mech);
  if (!offers(wanted)) {
    fail("server does not offer " + std::string(wanted));
    return false;
  }
  std::string initial;
  if (config_.mech == SaslMech::kPlain) {
    initial.push_back('\0');
    initial += config_.username;
    initial.push_back('\0');
    initial += config_.password;
  } else {
    protocol::ScramClientConfig scram;
    scram.hash = config_.mech == SaslMech::kScramSha1 || config_.mech == SaslMech::kScramSha1Plus
                     ? protocol::ScramHash::kSha1
                     : protocol::ScramHash::kSha256;
    scram.username = config_.username;
    scram.key_cache = config_.scram_key_cache;
    if (downgrade_guard) scram.cbind_flag = protocol::Gs2CbindFlag::kSupportedNotUsed;
    if (sasl_mech_is_plus(config_.mech) && !set_channel_binding(features, scram)) return false;
    if (protocol::opaque_string(config_.password, scram.password) != protocol::PrecisError::kOk) {
      cleanse(scram.cb_data);
      fail("password refused by OpaqueString");
      return false;
    }
    unsigned char random[18];
    if (RAND_bytes(random, sizeof random) != 1) std::abort();
    scram.client_nonce = protocol::scram_nonce_from_random(
        std::string_view(reinterpret_cast<const char*>(random), sizeof random));
    scram_ = std::make_unique<protocol::ScramClient>(scram);
    // The machine keeps its own copy; ours goes.
    cleanse(scram.password);
    cleanse(scram.cb_data);
    protocol::SaslResult<std::string> first = scram_->client_first();
    if (!first) {
      fail("scram client_first failed");
      return false;
    }
    initial = std::move(first).value();
  }
  std::string auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='";
  auth += wanted;
  auth += "'>";
  auth += protocol::base64_encode(initial);
  auth += "</auth>";
  conn_->write(auth);
  state_ = State::kAwaitSaslResult;
  return true;
}

void LoginSession::send_bind() {
  std::string iq = "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>";
  if (!config_.resource.empty()) {
    iq += "<resource>";
    protocol::append_escaped_text(iq, config_.resource);
    iq += "</resource>";
  }
  iq += "</bind></iq>";
  write_xml(iq);
  state_ = State::kAwaitBind;
}

void LoginSession::bind_or_resume() {
  if (config_.resume_id.empty()) {
    send_bind();
    return;
  }
  std::string resume = "<resume xmlns='urn:xmpp:sm:3' h='";
  resume += std::to_string(config_.resume_h);
  resume += "' previd='";
  protocol::append_escaped_attr(resume, config_.resume_id);
  resume += "'/>";
  write_xml(resume);
  state_ = State::kAwaitResumed;
}

bool LoginSession::set_channel_binding(const protocol::Element& features,
                                       protocol::ScramClientConfig& scram) {
  const std::string& type = config_.channel_binding;
  // XEP-0440 §3: a server that lists its channel-binding types must list
  // ours; one that lists none leaves us to try.
  if (const protocol::Element* offered = features.child("sasl-channel-binding", kSaslCbNs)) {
    bool listed = false;
    for (const protocol::Node& node : offered->children()) {
      if (node.is_element() && node.element->is("channel-binding", kSaslCbNs) &&
          node.element->attr_or("type") == type) {
        listed = true;
      }
    }
    if (!listed) {
      fail("server does not offer channel binding " + type);
      return false;
    }
  }
  net::TlsInfo info;
  if (!conn_->tls_info(info)) {
    fail(std::string(sasl_mech_name(config_.mech)) + " needs TLS");
    return false;
  }
  std::string data;
  if (type == protocol::kCbTlsExporter) {
    data = info.exporter;
  } else if (type == protocol::kCbTlsServerEndPoint) {
    data = info.server_end_point;
  }
  cleanse(info.exporter);
  cleanse(info.server_end_point);
  // RFC 9266 §3: no tls-exporter on TLS 1.2 without extended master secret.
  if (data.empty()) {
    fail(type + " data unavailable on this connection (" + info.protocol + ")");
    return false;
  }
  scram.cbind_flag = protocol::Gs2CbindFlag::kUsed;
  scram.cb_name = type;
  scram.cb_data = std::move(data);
  return true;
}

bool LoginSession::on_sasl(const protocol::Element& stanza) {
  if (stanza.is("challenge", kSaslNs) && scram_ &&
      scram_->state() == protocol::ScramClient::State::kAwaitServerFirst) {
    std::optional<std::string> server_first = protocol::base64_decode(stanza.text());
    if (!server_first) {
      fail("challenge is not base64");
      return false;
    }
    protocol::SaslResult<std::string> final_message = scram_->server_first(*server_first);
    if (!final_message) {
      fail("scram server-first: " +
           std::string(protocol::sasl_condition_name(final_message.condition())));
      return false;
    }
    std::string response = "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>";
    response += protocol::base64_encode(final_message.value());
    response += "</response>";
    conn_->write(response);
    return true;
  }
  if (stanza.is("success", kSaslNs)) {
    if (scram_) {
      std::optional<std::string> server_final = protocol::base64_decode(stanza.text());
      if (!server_final || !scram_->server_final(*server_final)) {
        fail("server signature did not verify");
        return false;
      }
      scram_.reset();
    }
    // RFC 6120 §6.4.6: restart the stream over the same connection.
    parser_->reset();
    parser_->set_limits(protocol::post_auth_parser_limits());
    send_header();
    state_ = State::kAwaitBindFeatures;
    return true;
  }
  if (stanza.is("failure", kSaslNs)) {
    std::string condition = "sasl failure";
    for (const protocol::Node& node : stanza.children()) {
      if (node.is_element()) {
        condition += ": " + node.element->name();
        break;
      }
    }
    fail(condition);
    return false;
  }
  fail("unexpected " + stanza.name() + " during sasl");
  return false;
}

void LoginSession::on_sm_element(const protocol::Element& element) {
  const std::string& name = element.name();
  if (name == "enabled" || name == "failed") {
    if (sm_ != Sm::kRequested) return;
    sm_ = name == "enabled" ? Sm::kEnabled : Sm::kFailed;
    sm_inbound_ = 0;
    const std::string_view resume = element.attr_or("resume");
    if (name == "enabled" && (resume == "true" || resume == "1")) {
      sm_id_ = std::string(element.attr_or("id"));
    }
    observer_->on_sm_enabled(*this, sm_ == Sm::kEnabled);
    return;
  }
  if (sm_ != Sm::kEnabled) return;
  if (name == "r") {
    char ack[64];
    const int n = std::snprintf(ack, sizeof ack, "<a xmlns='urn:xmpp:sm:3' h='%u'/>",
                                static_cast<unsigned>(sm_inbound_));
    write_xml(std::string_view(ack, static_cast<std::size_t>(n)));
  } else if (name == "a") {
    // XEP-0198 §4: h is an unsigned 32-bit decimal counter.
    const std::string_view text = element.attr_or("h");
    std::uint32_t h = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), h);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      fail("bad h in <a/>");
      return;
    }
    observer_->on_sm_ack(*this, h);
  }
}

void LoginSession::answer_iq(const protocol::Element& iq) {
  // RFC 6120 §8.2.3: every get/set gets a reply. XEP-0199 pings get a
  // result; anything else service-unavailable.
  protocol::Element reply(kClientNs, "iq");
  if (const std::string* id = iq.attr("id")) reply.set_attr("id", *id);
  if (const std::string* from = iq.attr("from")) reply.set_attr("to", *from);
  if (iq.child("ping", kPingNs)) {
    reply.set_attr("type", "result");
  } else {
    reply.set_attr("type", "error");
    protocol::Element& error = reply.add_child(kClientNs, "error");
    error.set_attr("type", "cancel");
    error.add_child(kStanzasNs, "service-unavailable");
  }
  write_xml(protocol::to_xml(reply, kClientNs));
}

void LoginSession::on_tls_ready(net::Connection& /*connection*/) {
  if (state_ != State::kAwaitTls) return;
  tls_done_ = true;
  net::TlsInfo info;
  if (conn_->tls_info(info)) {
    tls_version_ = info.protocol;
    cleanse(info.exporter);
    cleanse(info.server_end_point);
  }
  send_header();
  state_ = State::kAwaitFeatures;
}

void LoginSession::on_closed(net::Connection& /*connection*/, std::string_view reason) {
  const bool was_failure = !failure_.empty();
  const std::string why = was_failure ? failure_ : std::string(reason);
  state_ = State::kEnded;
  // Releasing here is allowed (connection.h) and keeps finished sessions
  // small: only this object and its strings remain.
  conn_.reset();
  parser_.reset();
  scram_.reset();
  observer_->on_ended(*this, why);
}

}  // namespace xd::client
