// Test support for protocol/c2s: a memory C2sHost with deterministic
// randomness, and a scripted client that drives a C2sStream, parses what
// the stream writes back with a StreamParser (restarting it where a real
// client would), and runs SCRAM with ScramClient. Everything is in memory.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/c2s/c2s_config.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/c2s/c2s_stream.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/compact/wire.h"
#include "protocol/jid/jid.h"
#include "protocol/sasl/base64.h"
#include "protocol/sasl/scram.h"
#include "protocol/stanza_error.h"
#include "protocol/stream_error.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol::test {

// Few PBKDF2 iterations keep the many sessions of these tests fast; the
// server's fake credentials use the same count (C2sConfig::scram_iterations).
inline constexpr uint32_t kTestIterations = 64;
inline constexpr std::string_view kSalt = "0123456789abcdef";
inline const std::string kExporter(32, '\x11');
inline const std::string kEndPoint(32, '\x22');

class FakeHost : public C2sHost {
 public:
  void add_user(const std::string& name, std::string_view password) {
    for (ScramHash h : {ScramHash::kSha1, ScramHash::kSha256}) {
      ScramCredentials c;
      REQUIRE(scram_derive_from_password(h, password, kSalt, kTestIterations, c) ==
              PrecisError::kOk);
      credentials_[{name, h}] = c;
    }
  }

  bool find_credentials(std::string_view username, ScramHash hash, ScramCredentials& out) override {
    lookups.emplace_back(username);
    auto it = credentials_.find({std::string(username), hash});
    if (it == credentials_.end()) return false;
    out = it->second;
    return true;
  }

  std::optional<StanzaCondition> register_account(std::string_view username,
                                                  std::string_view password) override {
    registrations.emplace_back(username);
    if (credentials_.count({std::string(username), ScramHash::kSha1})) {
      return StanzaCondition::kConflict;
    }
    add_user(std::string(username), password);
    return std::nullopt;
  }

  std::optional<StanzaCondition> bind_resource(const Jid& full) override {
    bind_requests.push_back(full.str());
    if (bind_refusal) return bind_refusal;
    return std::nullopt;
  }

  void random_bytes(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(counter_++ * 37 + 11);
  }

  bool auth_allowed() override { return allow_auth; }
  void auth_failed(std::string_view mechanism) override { failures.emplace_back(mechanism); }
  void auth_succeeded(const Jid& bare, std::string_view mechanism) override {
    successes.push_back(bare.str() + " " + std::string(mechanism));
  }
  void stanza_error_sent(StanzaCondition condition) override {
    stanza_errors.emplace_back(stanza_condition_name(condition));
  }

  // XEP-0198 §5: |resumable_id| can be resumed once, with |resumption|.
  bool resume_session(std::string_view previd, uint32_t client_h, C2sResumption& out) override {
    resume_requests.emplace_back(std::string(previd), client_h);
    if (!resumption || previd != resumable_id) return false;
    out = std::move(*resumption);
    resumption.reset();
    return true;
  }

  bool allow_auth = true;
  std::optional<StanzaCondition> bind_refusal;
  std::vector<std::string> lookups;
  std::vector<std::string> registrations;
  std::vector<std::string> bind_requests;
  std::vector<std::string> failures;
  std::vector<std::string> successes;
  std::vector<std::string> stanza_errors;  // stanza_error_sent(), by wire name
  std::string resumable_id;
  std::optional<C2sResumption> resumption;
  std::vector<std::pair<std::string, uint32_t>> resume_requests;

 private:
  std::map<std::pair<std::string, ScramHash>, ScramCredentials> credentials_;
  uint32_t counter_ = 0;
};

inline C2sConfig test_config() {
  C2sConfig c;
  c.domain = "example.com";
  c.tls_available = true;
  c.tls_required = true;
  c.allow_registration = true;
  c.server_secret = "test server secret";
  c.scram_iterations = kTestIterations;
  return c;
}

inline const char* kOpen =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

inline std::string open_to(std::string_view to) {
  return "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
         "to='" +
         std::string(to) + "' version='1.0'>";
}

inline std::string b64(std::string_view s) { return base64_encode(s); }

// One client connection to a C2sStream.
class Client {
 public:
  explicit Client(C2sConfig config = test_config())
      : config_(std::move(config)), stream_(std::make_unique<C2sStream>(config_, host)) {
    host.add_user("juliet", "r0m30myr0m30");
  }

  C2sStream& stream() { return *stream_; }
  const C2sConfig& config() const { return config_; }

  // Sends |bytes| to the stream in chunks of |chunk| bytes, then flushes
  // the parser as the owner's timer would, and collects what came back.
  void send(std::string_view bytes, size_t chunk = 0) {
    if (chunk == 0) chunk = bytes.size() ? bytes.size() : 1;
    for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
      stream_->receive(bytes.substr(pos, chunk));
      pump();
    }
    if (stream_->wants_parser_flush()) {
      stream_->flush_parser();
      pump();
    }
  }

  // Sends complete XML elements in the client's wire format: as frames once
  // the stream is compact (spec/compact.md §3).
  void send_xml(std::string_view xml, size_t chunk = 0) {
    if (!compact_) {
      send(xml, chunk);
      return;
    }
    std::vector<std::unique_ptr<Element>> parsed;
    REQUIRE(parse_fragments(xml, parsed));
    std::string frames;
    for (const auto& e : parsed) {
      REQUIRE(compact::append_element_frame(*e, frames, compact::CodecContext{"example.com"},
                                            compression_));
    }
    send(frames, chunk);
  }
  // Direct compact mode (spec §3.2): the server's output starts with its
  // preface, then frames.
  void expect_compact_direct() {
    // The client knows the domain it addresses in its OPEN frame (spec §5.8).
    compact_ =
        std::make_unique<compact::CompactDecoder>(post_auth_parser_limits(), "example.com", true);
    preface_pending_ = true;
  }
  bool client_compact() const { return compact_ != nullptr; }
  std::string server_preface;

  // Collects output and events.
  void pump() {
    std::string out = stream_->output();
    stream_->clear_output();
    wire += out;
    std::string_view rest = out;
    if (preface_pending_ && !rest.empty()) {
      const size_t take = std::min(rest.size(), size_t{5} - server_preface.size());
      server_preface.append(rest.substr(0, take));
      rest.remove_prefix(take);
      preface_pending_ = server_preface.size() < 5;
    }
    if (compact_ && !rest.empty()) {
      compact_->feed(rest);
      drain_compact();
    } else if (!rest.empty() && !parser_failed_) {
      current_ = rest;
      parser_.feed(rest);
      drain_client_parser();
      if (!compact_) {
        parser_.flush();
        drain_client_parser();
      } else {
        drain_compact();
      }
      current_ = {};
    }
    while (auto ev = stream_->next_event()) {
      if (ev->type == C2sEvent::Type::kClosed) {
        CHECK_FALSE(closed.has_value());  // kClosed comes once
        closed = ev->reason;
        closed_clean = ev->clean;
        closed_error = ev->error;
      }
      CHECK_FALSE((closed.has_value() && ev->type != C2sEvent::Type::kClosed));
      events.push_back(std::move(*ev));
    }
  }

  // RFC 6120 §5.4.3.3: what a TLS client does after <proceed/>.
  void handshake(bool with_bindings = true, bool tls13 = true) {
    stream_->tls_established(with_bindings ? kExporter : "", with_bindings ? kEndPoint : "", tls13);
  }

  // Opens the stream and returns the features element.
  const Element* open(std::string_view header = kOpen) {
    size_t before = elements.size();
    send(header);
    if (!header_seen_) return nullptr;
    for (size_t i = before; i < elements.size(); ++i) {
      if (elements[i]->is("features", kStreamNs)) return elements[i].get();
    }
    return nullptr;
  }

  void starttls() {
    send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    REQUIRE(last() != nullptr);
    REQUIRE(last()->is("proceed", "urn:ietf:params:xml:ns:xmpp-tls"));
    REQUIRE(has_event(C2sEvent::Type::kStartTls));
    handshake();
  }

  // STARTTLS up to the features of the TLS-protected stream.
  const Element* secure() {
    REQUIRE(open() != nullptr);
    starttls();
    const Element* f = open();
    REQUIRE(f != nullptr);
    return f;
  }

  // A full SCRAM exchange. Returns the SASL condition name of a failure,
  // or "success" (the server signature is verified).
  std::string scram(ScramHash hash, bool plus, std::string_view password = "r0m30myr0m30",
                    std::string_view username = "juliet", std::string cb_name = "tls-exporter",
                    std::string cb_data = kExporter) {
    ScramClientConfig cc;
    cc.hash = hash;
    cc.username = std::string(username);
    cc.password = std::string(password);
    cc.client_nonce = "clientnonce" + std::to_string(nonce_++);
    cc.min_iterations = 1;
    if (plus) {
      cc.cbind_flag = Gs2CbindFlag::kUsed;
      cc.cb_name = std::move(cb_name);
      cc.cb_data = std::move(cb_data);
    }
    ScramClient client(cc);
    auto first = client.client_first();
    REQUIRE(first.ok());
    size_t since = elements.size();
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" +
         std::string(scram_mechanism_name(hash, plus)) + "'>" + b64(first.value()) + "</auth>");
    const Element* reply = last_sasl(since);
    REQUIRE(reply != nullptr);
    if (reply->is("failure", kSaslNs)) return failure_name(*reply);
    REQUIRE(reply->is("challenge", kSaslNs));
    auto server_first = base64_decode(reply->text());
    REQUIRE(server_first.has_value());
    auto final_msg = client.server_first(*server_first);
    REQUIRE(final_msg.ok());
    since = elements.size();
    send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + b64(final_msg.value()) +
         "</response>");
    reply = last_sasl(since);
    REQUIRE(reply != nullptr);
    if (reply->is("failure", kSaslNs)) return failure_name(*reply);
    REQUIRE(reply->is("success", kSaslNs));
    auto server_final = base64_decode(reply->text());
    REQUIRE(server_final.has_value());
    CHECK(client.server_final(*server_final).ok());
    return "success";
  }

  static std::string plain_auth(std::string_view authzid, std::string_view user,
                                std::string_view password) {
    std::string m(authzid);
    m.push_back('\0');
    m.append(user);
    m.push_back('\0');
    m.append(password);
    return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + b64(m) + "</auth>";
  }

  std::string plain(std::string_view user = "juliet", std::string_view password = "r0m30myr0m30",
                    std::string_view authzid = {}) {
    const size_t since = elements.size();
    send(plain_auth(authzid, user, password));
    const Element* reply = last_sasl(since);
    REQUIRE(reply != nullptr);
    if (reply->is("failure", kSaslNs)) return failure_name(*reply);
    REQUIRE(reply->is("success", kSaslNs));
    return "success";
  }

  // Binds and returns the JID from the result ("" on error).
  std::string bind(std::string_view resource = "balcony") {
    std::string iq = "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>";
    if (!resource.empty()) iq += "<resource>" + std::string(resource) + "</resource>";
    iq += "</bind></iq>";
    send(iq);
    const Element* reply = last();
    if (!reply || !reply->is("iq", "jabber:client") || reply->attr_or("type") != "result") {
      return "";
    }
    const Element* b = reply->child("bind", "urn:ietf:params:xml:ns:xmpp-bind");
    const Element* j = b ? b->child("jid", "urn:ietf:params:xml:ns:xmpp-bind") : nullptr;
    return j ? j->text() : "";
  }

  // TLS, SCRAM-SHA-256-PLUS, restart, bind: a session ready for stanzas.
  std::string login(std::string_view resource = "balcony") {
    secure();
    REQUIRE(scram(ScramHash::kSha256, true) == "success");
    REQUIRE(open() != nullptr);
    return bind(resource);
  }

  // The last element the server sent, or null.
  const Element* last() const { return elements.empty() ? nullptr : elements.back().get(); }
  // The last SASL element among elements[since...] (a <stream:error/> may
  // follow it), or null.
  const Element* last_sasl(size_t since) const {
    for (size_t i = elements.size(); i > since; --i) {
      if (elements[i - 1]->ns() == kSaslNs) return elements[i - 1].get();
    }
    return nullptr;
  }

  bool has_event(C2sEvent::Type type) const {
    for (const auto& e : events) {
      if (e.type == type) return true;
    }
    return false;
  }
  std::vector<const C2sEvent*> events_of(C2sEvent::Type type) const {
    std::vector<const C2sEvent*> out;
    for (const auto& e : events) {
      if (e.type == type) out.push_back(&e);
    }
    return out;
  }

  // The condition of the <stream:error/> the server sent, or "".
  std::string stream_error() const {
    for (const auto& e : elements) {
      if (!e->is("error", kStreamNs)) continue;
      for (const Node& n : e->children()) {
        if (n.element && n.element->ns() == kStreamsErrorNs && n.element->name() != "text") {
          return n.element->name();
        }
      }
    }
    return "";
  }

  static std::string failure_name(const Element& failure) {
    for (const Node& n : failure.children()) {
      if (n.element && n.element->name() != "text") return n.element->name();
    }
    return "";
  }

  // The condition of a stanza error reply, or "".
  static std::string stanza_error(const Element& stanza) {
    const Element* error = stanza.child("error", "jabber:client");
    if (!error) return "";
    for (const Node& n : error->children()) {
      if (n.element && n.element->ns() == kStanzasErrorNs) return n.element->name();
    }
    return "";
  }

  // True when the server closed its stream (</stream:stream> was parsed).
  bool server_closed_stream() const { return server_closed_; }
  size_t headers_seen() const { return headers_; }
  const StreamHeader& last_header() const { return header_; }

  FakeHost host;
  std::vector<std::unique_ptr<Element>> elements;  // every element the server sent, in order
  std::vector<C2sEvent> events;
  std::string wire;  // every byte the server wrote
  std::optional<std::string> closed;
  bool closed_clean = false;
  std::optional<StreamCondition> closed_error;

 private:
  void drain_compact() {
    while (auto ev = compact_->next()) {
      switch (ev->type) {
        case StreamEvent::Type::kStreamOpen:
          header_seen_ = true;
          ++headers_;
          header_ = ev->header;
          break;
        case StreamEvent::Type::kStanza:
          elements.push_back(std::move(ev->stanza));
          break;
        case StreamEvent::Type::kStreamClose:
          server_closed_ = true;
          break;
        case StreamEvent::Type::kError:
          FAIL("the server wrote a malformed frame: " << ev->detail);
          parser_failed_ = true;
          return;
      }
    }
  }

  void drain_client_parser() {
    while (auto ev = parser_.next()) {
      switch (ev->type) {
        case StreamEvent::Type::kStreamOpen:
          header_seen_ = true;
          ++headers_;
          header_ = ev->header;
          break;
        case StreamEvent::Type::kStanza: {
          const bool restart = ev->stanza->is("proceed", "urn:ietf:params:xml:ns:xmpp-tls") ||
                               ev->stanza->is("success", kSaslNs);
          const bool compacted = ev->stanza->is("compacted", compact::kCompactNs);
          if (compacted) {
            // spec/compact.md §3.1: frames from the next byte on.
            compression_ = ev->stanza->attr_or("compression") == "zstd";
            compact_ = std::make_unique<compact::CompactDecoder>(post_auth_parser_limits(),
                                                                 "example.com", compression_);
            const size_t tail = static_cast<size_t>(
                std::min<uint64_t>(parser_.outstanding_bytes(), current_.size()));
            if (tail) compact_->feed(current_.substr(current_.size() - tail));
          }
          elements.push_back(std::move(ev->stanza));
          if (compacted) return;
          if (restart) {
            // The server's next header starts a new document.
            parser_.reset();
            header_seen_ = false;
            return;
          }
          break;
        }
        case StreamEvent::Type::kStreamClose:
          server_closed_ = true;
          break;
        case StreamEvent::Type::kError:
          FAIL("the server wrote malformed XML: " << ev->detail);
          parser_failed_ = true;
          return;
      }
    }
  }

  C2sConfig config_;
  std::unique_ptr<C2sStream> stream_;
  StreamParser parser_{post_auth_parser_limits()};
  std::unique_ptr<compact::CompactDecoder> compact_;
  bool compression_ = false;
  bool preface_pending_ = false;
  std::string_view current_;
  bool parser_failed_ = false;
  bool header_seen_ = false;
  bool server_closed_ = false;
  size_t headers_ = 0;
  StreamHeader header_;
  int nonce_ = 0;
};

}  // namespace xd::protocol::test
