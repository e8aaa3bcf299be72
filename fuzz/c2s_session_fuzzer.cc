// Whole-session libFuzzer target for the c2s stream (conventions.md §14):
// bytes in, bytes and events out, no sockets. Byte 0 picks the listener
// (STARTTLS offered but optional, direct TLS, or, for direct TLS with
// 64-byte reads, the direct compact port of spec/compact.md §3.2) and the
// read size; after SASL the input may negotiate <compact/> too. The rest
// is what the client sends, fed in chunks from the front. The owner's
// choices are read from the back of the input, one byte per choice, the way
// FuzzedDataProvider does, so they mutate independently of the XML. When
// the stream asks for TLS the target "completes the handshake" at once, as
// the owner would. The account juliet/pw exists, so PLAIN
// ("AGp1bGlldABwdw==") reaches binding and stanzas.
//
// Routed stanzas are echoed back, as if delivered to the client itself,
// with send_stanza() or send_serialized() and a tag, or dropped. With
// XEP-0198 the target answers <r/> with send_sm_ack(), sometimes acks
// unasked, lets the host resume a session (C2sHost::resume_session) with a
// few unacknowledged stanzas, and sometimes detaches the stream as if the
// connection dropped, then holds stanzas for the resumption. The session
// ends with close(), peer_closed() or detach(), by the input's length.
//
// Beyond "no crash, no leak, no sanitizer report" it checks that everything
// the server writes is well-formed XML or well-formed compact frames (after
// the switch), that nothing follows kClosed, that
// every routed stanza carries the bound JID as 'from', that kSmAcked reports
// exactly the tags of the oldest unacknowledged stanzas in order, and that a
// detached stream neither reads, writes nor queues events.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/c2s/c2s_config.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/c2s/c2s_stream.h"
#include "protocol/c2s/stream_management.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/compact/wire.h"
#include "protocol/sasl/scram.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

namespace {

namespace xp = xd::protocol;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

// The client's bytes from the front of the input, the owner's choices from
// the back. A choice made after the two met reads as 0.
struct Input {
  std::string_view bytes;
  size_t fed = 0;  // bytes [0, fed) went to the stream
  size_t end = 0;  // bytes [end, size) were taken as choices

  uint8_t choice() {
    if (end <= fed) return 0;
    return static_cast<uint8_t>(bytes[--end]);
  }
};

// What the target expects of stream management: the non-zero tags of the
// stanzas sent and not acknowledged yet, oldest first.
using TagModel = std::deque<uint64_t>;

class MemoryHost : public xp::C2sHost {
 public:
  MemoryHost(Input& input, TagModel& tags, uint64_t& next_tag)
      : input_(input), tags_(tags), next_tag_(next_tag) {}

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
  void auth_succeeded(const xp::Jid& bare, std::string_view) override { bare_ = bare; }

  // Succeeds for odd choices with up to 7 unacknowledged stanzas, every
  // other one tagged, and counters placed around |client_h| so that the
  // client's h is in range, one too high, behind, or across the 2^32 wrap.
  bool resume_session(std::string_view previd, uint32_t client_h, xp::C2sResumption& out) override {
    require(!previd.empty() && previd.size() <= 128);
    const uint8_t c = input_.choice();
    if ((c & 1) == 0 || bare_.str().empty()) return false;
    const uint32_t unacked = (c >> 1) & 7;
    const uint8_t where = input_.choice();
    const uint32_t k = where >> 2;
    uint32_t base = 0;
    switch (where & 3) {
      case 0:
        base = client_h - k % (unacked + 2);
        break;  // in range, or one too high
      case 1:
        base = client_h + 1 + k;
        break;  // the client is behind
      case 2:
        base = UINT32_MAX - k;
        break;  // counters wrap
      default:
        base = client_h - unacked;
        break;  // everything acknowledged
    }
    const uint8_t handled = input_.choice();
    xp::StreamManagement sm(base);
    for (uint32_t i = 0; i < unacked; ++i) {
      const uint64_t tag = (i & 1) ? 0 : next_tag_++;
      sm.record(tag, "<message to='" + bare_.str() + "/resumed' id='u" + std::to_string(i) +
                         "'><body>queued</body></message>");
      if (tag) tags_.push_back(tag);
    }
    require(xp::Jid::from_parts(bare_.local(), bare_.domain(), "resumed", out.full) ==
            xp::JidError::kOk);
    out.handled = (handled & 0x80) ? UINT32_MAX - (handled & 0x7f) : handled;
    out.sm = std::move(sm);
    return true;
  }

 private:
  Input& input_;
  TagModel& tags_;
  uint64_t& next_tag_;
  xp::Jid bare_;
  std::map<std::string, bool> registered_;
  uint32_t counter_ = 0;
};

// Parses what the server writes, restarting where a client would, and
// switching to frames where the stream does (spec/compact.md §3).
struct OutputChecker {
  xp::StreamParser parser{xp::post_auth_parser_limits()};
  std::unique_ptr<xp::compact::CompactDecoder> frames;
  size_t preface_left = 0;
  bool ended = false;

  void expect_compact_direct() {
    frames = std::make_unique<xp::compact::CompactDecoder>(xp::post_auth_parser_limits(),
                                                           "example.com", true);
    preface_left = xp::compact::kPrefaceBytes;
  }

  void drain_frames() {
    while (auto ev = frames->next()) {
      require(ev->type != xp::StreamEvent::Type::kError);
      if (ev->type == xp::StreamEvent::Type::kStreamClose) ended = true;
    }
  }

  void feed(std::string_view bytes) {
    if (bytes.empty()) return;
    require(!ended);
    if (preface_left) {
      const size_t n = std::min(preface_left, bytes.size());
      preface_left -= n;
      bytes.remove_prefix(n);
    }
    if (frames) {
      frames->feed(bytes);
      drain_frames();
      return;
    }
    parser.feed(bytes);
    for (int pass = 0; pass < 2; ++pass) {
      while (auto ev = parser.next()) {
        require(ev->type != xp::StreamEvent::Type::kError);
        if (ev->type == xp::StreamEvent::Type::kStreamClose) ended = true;
        if (ev->type == xp::StreamEvent::Type::kStanza &&
            ev->stanza->is("compacted", xp::compact::kCompactNs)) {
          // What follows in this output is frames.
          frames = std::make_unique<xp::compact::CompactDecoder>(
              xp::post_auth_parser_limits(), "example.com",
              ev->stanza->attr_or("compression") == "zstd");
          const size_t tail =
              static_cast<size_t>(std::min<uint64_t>(parser.outstanding_bytes(), bytes.size()));
          frames->feed(bytes.substr(bytes.size() - tail));
          drain_frames();
          return;
        }
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
  Input input;
  input.bytes = std::string_view(reinterpret_cast<const char*>(data + 1), size - 1);
  input.end = input.bytes.size();

  xp::C2sConfig config;
  config.domain = "example.com";
  config.tls_available = true;
  config.tls_required = false;
  config.direct_tls = (mode & 1) != 0;
  config.allow_registration = true;
  config.server_secret = "fuzz secret";
  config.scram_iterations = 1;
  // Small enough that the cap (catalogue H55) and a full hold are reached.
  config.sm_max_unacked = 8;
  const bool tls13 = (mode & 2) != 0;
  const size_t step = 1 + (mode >> 2);  // 1..64 bytes per read
  config.compact_direct = config.direct_tls && step == 64;

  TagModel tags;
  uint64_t next_tag = 1;
  MemoryHost host(input, tags, next_tag);
  xp::C2sStream stream(config, host);
  OutputChecker checker;
  if (config.compact_direct) checker.expect_compact_direct();
  bool closed = false;
  bool detach = false;  // the owner decided the connection dropped

  // The non-zero tags the stream holds must be the ones the model expects.
  auto check_tags = [&] {
    const xp::StreamManagement* sm = stream.sm();
    if (!sm) return;
    TagModel held;
    for (const auto& s : sm->unacked()) {
      if (s.tag) held.push_back(s.tag);
    }
    require(held == tags);
  };
  auto sent = [&](bool ok, uint64_t tag) {
    if (ok && tag && stream.sm()) tags.push_back(tag);
  };
  auto pump = [&] {
    checker.feed(stream.output());
    stream.clear_output();
    while (auto ev = stream.next_event()) {
      require(!closed);  // kClosed is the last event
      switch (ev->type) {
        case xp::C2sEvent::Type::kStartTls:
          stream.tls_established(std::string(32, '\x11'), std::string(32, '\x22'), tls13);
          break;
        case xp::C2sEvent::Type::kStanza: {
          require(ev->stanza->attr_or("from") == stream.bound_jid().str());
          const bool bound = stream.state() == xp::C2sState::kBound;
          const uint8_t c = input.choice();
          const uint64_t tag = (c & 4) ? next_tag++ : 0;
          switch (c & 3) {
            case 0: {
              const bool ok = stream.send_stanza(*ev->stanza, tag);
              require(ok == bound);
              sent(ok, tag);
              break;
            }
            case 1: {
              std::string xml;
              require(xp::serialize(*ev->stanza, xml, "jabber:client"));
              const bool ok = stream.send_serialized(xml, tag);
              require(ok == bound);
              sent(ok, tag);
              break;
            }
            case 2:
              break;  // not for this client
            default: {
              const bool ok = stream.send_stanza(*ev->stanza, tag);
              require(ok == bound);
              sent(ok, tag);
              // An unsolicited <a/> for everything up to this stanza.
              if (ev->sm_counted) stream.send_sm_ack(ev->seq);
              break;
            }
          }
          if (c >= 0xf8) detach = true;
          break;
        }
        case xp::C2sEvent::Type::kSmEnabled:
          require(stream.sm() != nullptr && stream.sm()->id() == ev->sm_id);
          break;
        case xp::C2sEvent::Type::kSmRequest:
          require(stream.sm() != nullptr);
          stream.send_sm_ack(stream.sm()->inbound());
          break;
        case xp::C2sEvent::Type::kSmAcked:
          require(!ev->tags.empty());
          for (uint64_t t : ev->tags) {
            require(!tags.empty() && tags.front() == t);
            tags.pop_front();
          }
          break;
        case xp::C2sEvent::Type::kResumed:
          require(!ev->sm_id.empty() && ev->jid == stream.bound_jid());
          require(stream.sm() != nullptr && stream.sm()->id() == ev->sm_id);
          break;
        case xp::C2sEvent::Type::kClosed:
          closed = true;
          break;
        default:
          break;
      }
    }
    checker.feed(stream.output());
    stream.clear_output();
    check_tags();
  };
  if (config.direct_tls) stream.tls_established({}, std::string(32, '\x22'), tls13);

  for (size_t pos = 0; pos < input.end && !closed && !detach;) {
    const std::string_view chunk = input.bytes.substr(pos, std::min(step, input.end - pos));
    pos += chunk.size();
    input.fed = pos;
    stream.receive(chunk);
    pump();
    if (stream.wants_parser_flush()) {
      stream.flush_parser();
      pump();
    }
  }
  // The input's length picks the end: odd, the transport failed; 2 mod 4,
  // the connection dropped and the session hibernates; else a server close.
  const size_t n = input.bytes.size();
  if (!closed && (detach || n % 4 == 2)) {
    const xp::StreamManagement* sm = stream.sm();
    const bool resumable = sm && !sm->id().empty();
    stream.detach();
    require(stream.state() == xp::C2sState::kClosed && stream.output().empty());
    // A detached stream reads nothing, writes nothing and says nothing.
    stream.receive(input.bytes.substr(0, input.fed));
    stream.close(xp::StreamCondition::kSystemShutdown);
    stream.peer_closed();
    require(stream.output().empty() && !stream.next_event());
    // What the server would have delivered meanwhile is held for resumption.
    const uint8_t holds = input.choice() & 15;
    for (uint8_t i = 0; i < holds; ++i) {
      const size_t before = sm ? sm->unacked_count() : 0;
      const uint64_t tag = (i & 1) ? 0 : next_tag++;
      const bool ok = stream.hold_serialized("<message id='h" + std::to_string(i) + "'/>", tag);
      require(ok == (resumable && before < config.sm_max_unacked));
      sent(ok, tag);
    }
    check_tags();
    // A resumption takes the state over.
    const bool had = stream.sm() != nullptr;
    require((stream.take_sm() != nullptr) == had && stream.sm() == nullptr);
    closed = true;
  } else if (!closed) {
    if (n & 1) {
      stream.peer_closed();
    } else {
      stream.close(xp::StreamCondition::kSystemShutdown);
    }
    pump();
  }
  require(closed && stream.state() == xp::C2sState::kClosed);
  return 0;
}
