// Whole-session libFuzzer target for the c2s stream (conventions.md §14):
// bytes in, bytes and events out, no sockets. Byte 0 picks the listener
// (STARTTLS offered but optional, or direct TLS) and the read size; the rest
// is what the client sends, fed in chunks. When the stream asks for TLS the
// target "completes the handshake" at once, as the owner would. The account
// juliet/pw exists, so PLAIN ("AGp1bGlldABwdw==") reaches binding and stanzas.
// Routed stanzas are echoed back with send_stanza(), as if delivered to
// the client itself; the session ends with close() or, for inputs of odd
// length, with peer_closed(). Beyond "no crash, no leak, no sanitizer
// report" it checks that everything the server writes is well-formed XML,
// that nothing follows kClosed, and that every routed stanza carries the
// bound JID as 'from'.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/c2s/c2s_config.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/c2s/c2s_stream.h"
#include "protocol/sasl/scram.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

namespace {

namespace xp = xd::protocol;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

class MemoryHost : public xp::C2sHost {
 public:
  bool find_credentials(std::string_view username, xp::ScramHash hash,
                        xp::ScramCredentials& out) override {
    if (username != "juliet" && !registered_.count(std::string(username))) return false;
    // One PBKDF2 iteration keeps PLAIN cheap; the fake count matches it.
    out = xp::scram_derive(hash, "pw", "0123456789abcdef", 1);
    return true;
  }
  std::optional<xp::StanzaCondition> register_account(std::string_view username,
                                                      std::string_view) override {
    if (username == "juliet" || registered_.size() > 4) return xp::StanzaCondition::kConflict;
    registered_[std::string(username)] = true;
    return std::nullopt;
  }
  std::optional<xp::StanzaCondition> bind_resource(const xp::Jid& full) override {
    if (full.resource() == "taken") return xp::StanzaCondition::kConflict;
    return std::nullopt;
  }
  void random_bytes(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(counter_++ * 131 + 7);
  }
  bool auth_allowed() override { return true; }
  void auth_failed(std::string_view) override {}
  void auth_succeeded(const xp::Jid&, std::string_view) override {}

 private:
  std::map<std::string, bool> registered_;
  uint32_t counter_ = 0;
};

// Parses what the server writes, restarting where a client would.
struct OutputChecker {
  xp::StreamParser parser{xp::post_auth_parser_limits()};
  bool ended = false;

  void feed(std::string_view bytes) {
    if (bytes.empty()) return;
    require(!ended);
    parser.feed(bytes);
    for (int pass = 0; pass < 2; ++pass) {
      while (auto ev = parser.next()) {
        require(ev->type != xp::StreamEvent::Type::kError);
        if (ev->type == xp::StreamEvent::Type::kStreamClose) ended = true;
        if (ev->type == xp::StreamEvent::Type::kStanza &&
            (ev->stanza->is("proceed", "urn:ietf:params:xml:ns:xmpp-tls") ||
             ev->stanza->is("success", xp::kSaslNs))) {
          parser.reset();  // nothing follows these in the same output
          break;
        }
      }
      parser.flush();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  xp::C2sConfig config;
  config.domain = "example.com";
  config.tls_available = true;
  config.tls_required = false;
  config.direct_tls = (mode & 1) != 0;
  config.allow_registration = true;
  config.server_secret = "fuzz secret";
  config.scram_iterations = 1;
  const bool tls13 = (mode & 2) != 0;
  const size_t step = 1 + (mode >> 2);  // 1..64 bytes per read

  MemoryHost host;
  xp::C2sStream stream(config, host);
  OutputChecker checker;
  bool closed = false;
  auto pump = [&] {
    checker.feed(stream.output());
    stream.clear_output();
    while (auto ev = stream.next_event()) {
      require(!closed);  // kClosed is the last event
      switch (ev->type) {
        case xp::C2sEvent::Type::kStartTls:
          stream.tls_established(std::string(32, '\x11'), std::string(32, '\x22'), tls13);
          break;
        case xp::C2sEvent::Type::kStanza:
          require(ev->stanza->attr_or("from") == stream.bound_jid().str());
          require(stream.send_stanza(*ev->stanza));
          break;
        case xp::C2sEvent::Type::kClosed:
          closed = true;
          break;
        default:
          break;
      }
    }
  };
  if (config.direct_tls) stream.tls_established({}, std::string(32, '\x22'), tls13);

  for (size_t pos = 0; pos < in.size() && !closed; pos += step) {
    stream.receive(in.substr(pos, step));
    pump();
    if (stream.wants_parser_flush()) {
      stream.flush_parser();
      pump();
    }
  }
  if (!closed) {
    if (in.size() & 1) {
      stream.peer_closed();
    } else {
      stream.close(xp::StreamCondition::kSystemShutdown);
    }
    pump();
  }
  require(closed && stream.state() == xp::C2sState::kClosed);
  return 0;
}
