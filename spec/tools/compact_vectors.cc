// Prints the compact dialect's test vectors (spec/compact.md §14) and its
// compression dictionary (§8), computed by the codec itself so that the
// bytes in the spec are the bytes the code produces. Run by
// scripts/gen_compact_vectors, which writes spec/compact-vectors.txt and
// splices the markdown into spec/compact.md; never part of the server.
//
//   compact_vectors --vectors              the machine-readable file (§14.1)
//   compact_vectors --markdown             the generated part of §14
//   compact_vectors --dictionary-markdown  the generated part of §8
//
// Writes to stdout only. Exits 1 if the codec disagrees with itself (a
// vector that does not decode to its XML, a compressed vector that was not
// compressed): then the vectors would be wrong, and nothing is printed.
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/compact/compact_codec.h"
#include "protocol/compact/compact_dictionary_data.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/compact/compression.h"
#include "protocol/compact/dictionary.h"
#include "protocol/compact/wire.h"
#include "protocol/sasl/base64.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"
#include "protocol/xml/serializer.h"
#include "protocol/xml/stream_parser.h"

using namespace xd::protocol;
using namespace xd::protocol::compact;

namespace {

constexpr std::string_view kStreamsNs = "http://etherx.jabber.org/streams";

enum class Kind { kElement, kOpen, kClose, kKeepalive };

// One vector as written here. |value| marks a vector that exists to show
// one string value: the first attribute of the tree, in document order.
struct VectorSpec {
  const char* name;
  const char* dir;     // "c2s", "s2c" or "any"
  const char* domain;  // the stream domain (§5.8); "" for none
  Kind kind;
  bool compress;
  bool value;
  const char* xml;  // null for CLOSE and KEEPALIVE
  const char* title;
};

// The order is the order of §14. Names are stable: tests and other
// implementations refer to them.
constexpr VectorSpec kVectors[] = {
    // ---- one string value each (§5.4): the first attribute's value
    {"value-00-empty", "any", "example.com", Kind::kElement, false, true, "<message id=''/>",
     "type 0x00: the empty string"},
    {"value-01-primary-token", "any", "example.com", Kind::kElement, false, true,
     "<message type='chat'/>", "types 0x01-0xEB: a primary token (\"chat\" is token 10)"},
    {"value-ec-secondary-token", "any", "example.com", Kind::kElement, false, true,
     "<message><encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmppd:e2e:1'/></message>",
     "type 0xEC: a secondary token (\"urn:xmppd:e2e:1\" is token 236); the element and "
     "attribute names are secondary tokens too"},
    {"value-ed-jid-stream-domain", "any", "example.com", Kind::kElement, false, true,
     "<message to='alice@example.com/phone'/>",
     "type 0xED: a JID whose domain is the stream domain (flag 0x04)"},
    {"value-ed-jid-other-domain", "any", "example.com", Kind::kElement, false, true,
     "<message to='alice@example.org/phone'/>",
     "type 0xED: a JID on another domain, the domain spelled out"},
    {"value-ee-nibble", "any", "example.com", Kind::kElement, false, true,
     "<message id='2026-11-28T06:15:34.123Z'/>", "type 0xEE: packed nibbles (a timestamp)"},
    {"value-ef-hex-lower", "any", "example.com", Kind::kElement, false, true,
     "<message id='8f3a9c1e'/>", "type 0xEF: packed lowercase hex"},
    {"value-f0-raw", "any", "example.com", Kind::kElement, false, true, "<message id='hello'/>",
     "type 0xF0: a raw UTF-8 string"},
    {"value-f0-mixed-case-hex", "any", "example.com", Kind::kElement, false, true,
     "<message id='DeadBeef'/>",
     "type 0xF0: hex digits in mixed case are neither 0xEF nor 0xF3 (§5.5), so raw"},
    {"value-f0-tie", "any", "example.com", Kind::kElement, false, true, "<message id='7'/>",
     "type 0xF0: one digit costs 3 bytes raw and 3 bytes packed; ties go to raw (§5.10)"},
    {"value-f1-binary", "any", "example.com", Kind::kElement, false, true,
     "<message id='q07IKJEyjvHSyhy//CH0CxmKi8w='/>",
     "type 0xF1: canonical base64, sent as its 20 bytes"},
    {"value-f3-hex-upper", "any", "example.com", Kind::kElement, false, true,
     "<message id='DEADBEEF'/>", "type 0xF3: packed uppercase hex"},
    {"value-f4-uuid", "any", "example.com", Kind::kElement, false, true,
     "<message id='5c0b0e1a-3f7e-4d7e-9a2b-0e6f6c7d8e9f'/>", "type 0xF4: a lowercase UUID"},

    // ---- direct mode (§3.2): stream headers and features
    {"open-c2s", "c2s", "", Kind::kOpen, false, false,
     "<stream xmlns='http://etherx.jabber.org/streams' to='example.com' version='1.0' "
     "xml:lang='en'/>",
     "the client's OPEN frame; no stream domain is known yet; xml:lang is a qualified "
     "attribute (0xF5)"},
    {"open-s2c", "s2c", "example.com", Kind::kOpen, false, false,
     "<stream xmlns='http://etherx.jabber.org/streams' from='example.com' id='4f1a0b2c9d' "
     "version='1.0' xml:lang='en'/>",
     "the server's OPEN frame"},
    {"features-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<features xmlns='http://etherx.jabber.org/streams'><mechanisms "
     "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism>"
     "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></features>",
     "stream features as an ELEMENT frame: an explicit namespace, children (0xF2)"},

    // ---- stanzas
    {"iq-bind-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
     "<resource>phone</resource></bind></iq>",
     "resource binding, the first frame after <compacted/> (§3.1)"},
    {"message-chat-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<message to='bob@example.com' type='chat' id='8f3a9c1e'><body>See you at 7?</body>"
     "<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>"
     "<origin-id xmlns='urn:xmpp:sid:0' id='5c0b0e1a-3f7e-4d7e-9a2b-0e6f6c7d8e9f'/></message>",
     "a chat message with body, receipt request, markable and origin-id"},
    {"message-chat-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<message from='alice@example.com/phone' to='bob@example.com/laptop' type='chat' "
     "id='8f3a9c1e'><body>See you at 7?</body><request xmlns='urn:xmpp:receipts'/>"
     "<markable xmlns='urn:xmpp:chat-markers:0'/><origin-id xmlns='urn:xmpp:sid:0' "
     "id='5c0b0e1a-3f7e-4d7e-9a2b-0e6f6c7d8e9f'/><stanza-id xmlns='urn:xmpp:sid:0' id='1042' "
     "by='bob@example.com'/></message>",
     "the same message as delivered, with the server's stanza-id"},
    {"message-compressed-s2c", "s2c", "example.com", Kind::kElement, true, false,
     "<message from='alice@example.com/phone' to='bob@example.com/laptop' type='chat' "
     "id='a1b2c3d4'><body>Thank you so much, I really appreciate it. Let me know when you are "
     "home.</body><request xmlns='urn:xmpp:receipts'/><markable "
     "xmlns='urn:xmpp:chat-markers:0'/></message>",
     "a compressed ELEMENT frame (§4.3): decoded size, then a zstd frame without its magic"},
    {"message-markup-text-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<message to='bob@example.com' type='chat'><body>&lt;/body&gt;&lt;message "
     "to='eve@example.com'&gt; &amp; caf\xC3\xA9 \xE2\x98\x95</body></message>",
     "text that looks like markup is text (§6.4); UTF-8 lengths count bytes"},
    {"message-receipt-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<message to='alice@example.com/phone' id='r1'><received xmlns='urn:xmpp:receipts' "
     "id='8f3a9c1e'/></message>",
     "an XEP-0184 receipt"},
    {"message-displayed-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<message to='alice@example.com' type='chat' id='m1'><displayed "
     "xmlns='urn:xmpp:chat-markers:0' id='8f3a9c1e'/></message>",
     "an XEP-0333 displayed marker"},
    {"message-chat-state-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<message to='bob@example.com' type='chat'><composing "
     "xmlns='http://jabber.org/protocol/chatstates'/></message>",
     "an XEP-0085 chat state"},
    {"message-receipts-batch-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<message to='alice@example.com/phone'><receipts xmlns='urn:xmppd:compact:1'>"
     "<received id='8f3a9c1e'/><received id='8f3a9c1f'/><displayed id='8f3a9c1f'/>"
     "</receipts></message>",
     "batched receipts (§9.2)"},
    {"presence-caps-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<presence><show>away</show><status>Lunch</status><c "
     "xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://conversations.im' "
     "ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>",
     "presence with XEP-0115 caps"},
    {"iq-ping-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<iq type='get' id='ping-7' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>",
     "an XEP-0199 ping"},
    {"iq-result-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<iq type='result' id='ping-7' from='example.com' to='alice@example.com/phone'/>",
     "an empty IQ result"},
    {"iq-roster-get-c2s", "c2s", "example.com", Kind::kElement, false, false,
     "<iq type='get' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>", "a roster request"},
    {"iq-roster-result-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<iq type='result' id='roster-1' to='alice@example.com/phone'><query "
     "xmlns='jabber:iq:roster' ver='7'><item jid='bob@example.com' subscription='both' "
     "name='Bob'><group>Friends</group></item><item jid='carol@example.org' "
     "subscription='to'/></query></iq>",
     "a roster result"},

    // ---- nonzas
    {"sm-r", "any", "example.com", Kind::kElement, false, false, "<r xmlns='urn:xmpp:sm:3'/>",
     "an XEP-0198 ack request"},
    {"sm-a", "any", "example.com", Kind::kElement, false, false,
     "<a xmlns='urn:xmpp:sm:3' h='42'/>", "an XEP-0198 ack"},
    {"compact-ack-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<ack xmlns='urn:xmppd:compact:1' id='8f3a9c1e' stanza-id='1042' "
     "stamp='2026-11-28T06:15:34.123Z'/>",
     "the server ack (§9.1)"},
    {"catchup-start-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<message from='example.com' to='alice@example.com/phone' id='cu-1'><catchup "
     "xmlns='urn:xmppd:catchup:0' state='start' count='3'/></message>",
     "the catch-up start marker (§9.3)"},
    {"catchup-done-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<message from='example.com' to='alice@example.com/phone' id='cu-2'><catchup "
     "xmlns='urn:xmppd:catchup:0' state='done' count='3'/></message>",
     "the catch-up done marker (§9.3)"},
    {"stream-error-s2c", "s2c", "example.com", Kind::kElement, false, false,
     "<error xmlns='http://etherx.jabber.org/streams'><policy-violation "
     "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error>",
     "a stream error, followed by a CLOSE frame (§3.3)"},
    {"close", "any", "", Kind::kClose, false, false, nullptr, "the CLOSE frame"},
    {"keepalive", "any", "", Kind::kKeepalive, false, false, nullptr, "the KEEPALIVE frame"},
};

struct Vector {
  const VectorSpec* spec;
  std::unique_ptr<Element> element;  // null for CLOSE and KEEPALIVE
  std::string xml;                   // the element as XML, as to_xml writes it
  std::string frame;                 // the whole frame
  std::string body;                  // the uncompressed body
  std::string value;                 // the value's encoding, for |spec->value|
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "compact_vectors: %s\n", why.c_str());
  std::exit(1);
}

std::string hex(std::string_view s, std::string_view sep = "") {
  static constexpr char d[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out.append(sep);
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

const Attribute* first_attribute(const Element& e) {
  if (!e.attrs().empty()) return &e.attrs().front();
  for (const Node& n : e.children()) {
    if (n.element) {
      if (const Attribute* a = first_attribute(*n.element)) return a;
    }
  }
  return nullptr;
}

// Decodes |frame| with a fresh decoder (compression allowed) and checks it
// yields exactly what |v| says.
void self_check(const Vector& v) {
  const std::string where = std::string("vector ") + v.spec->name + ": ";
  CompactDecoder d(post_auth_parser_limits(), v.spec->domain, /*compression=*/true);
  d.feed(v.frame);
  std::optional<StreamEvent> ev = d.next();
  switch (v.spec->kind) {
    case Kind::kKeepalive:
      if (ev || d.failed()) die(where + "KEEPALIVE produced an event");
      return;
    case Kind::kClose:
      if (!ev || ev->type != StreamEvent::Type::kStreamClose) die(where + "not a close");
      return;
    case Kind::kOpen: {
      if (!ev || ev->type != StreamEvent::Type::kStreamOpen) die(where + "not an open");
      Element back(ev->header.ns, ev->header.name);
      for (const Attribute& a : ev->header.attrs) back.set_attr(a.name, a.value, a.ns);
      if (!back.equals(*v.element)) die(where + "OPEN does not decode to its XML");
      break;
    }
    case Kind::kElement:
      if (!ev || ev->type != StreamEvent::Type::kStanza) die(where + "not a stanza");
      if (!ev->stanza->equals(*v.element)) die(where + "does not decode to its XML");
      if (to_xml(*ev->stanza, "jabber:client") != v.xml) die(where + "XML differs");
      break;
  }
  if (d.next()) die(where + "more than one event");
  const auto* p = reinterpret_cast<const uint8_t*>(v.frame.data());
  uint32_t length = 0;
  if (read_varint(p, p + v.frame.size(), length) != VarintResult::kOk) die(where + "length");
  const bool compressed = (*p & kFrameCompressed) != 0;
  if (compressed != v.spec->compress) die(where + "compression flag is not as intended");
}

Vector make_vector(const VectorSpec& s) {
  Vector v;
  v.spec = &s;
  const CodecContext ctx{s.domain};
  switch (s.kind) {
    case Kind::kClose:
      append_close_frame(v.frame);
      v.xml = "-";
      return v;
    case Kind::kKeepalive:
      append_keepalive_frame(v.frame);
      v.xml = "-";
      return v;
    case Kind::kOpen:
    case Kind::kElement:
      break;
  }
  v.element = parse_fragment(s.xml);
  if (!v.element) die(std::string("vector ") + s.name + ": XML does not parse");
  v.xml = to_xml(*v.element, "jabber:client");
  if (v.xml.find('\n') != std::string::npos) die(std::string("vector ") + s.name + ": newline");
  const std::string_view parent = s.kind == Kind::kOpen ? kStreamsNs : "jabber:client";
  if (!encode_element(*v.element, v.body, ctx, parent)) {
    die(std::string("vector ") + s.name + ": does not encode");
  }
  if (s.kind == Kind::kOpen) {
    append_open_frame(*v.element, v.frame, ctx);
  } else if (!append_element_frame(*v.element, v.frame, ctx, s.compress)) {
    die(std::string("vector ") + s.name + ": no frame");
  }
  if (s.value) {
    const Attribute* a = first_attribute(*v.element);
    if (!a) die(std::string("vector ") + s.name + ": no attribute");
    encode_value(a->value, v.value, ctx);
  }
  return v;
}

std::vector<Vector> all_vectors() {
  std::vector<Vector> out;
  for (const VectorSpec& s : kVectors) {
    out.push_back(make_vector(s));
    self_check(out.back());
  }
  return out;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kElement:
      return "element";
    case Kind::kOpen:
      return "open";
    case Kind::kClose:
      return "close";
    case Kind::kKeepalive:
      return "keepalive";
  }
  return "?";
}

// ------------------------------------------------------------ annotation

// One line of an annotated dump: |len| octets at |off| of the buffer, what
// they are, and the nesting depth of the description.
struct Line {
  size_t off;
  size_t len;
  int depth;
  std::string text;
};

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      static constexpr char d[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(d[u >> 4]);
      out.push_back(d[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// Walks bytes our encoder wrote and describes each part. The input is
// trusted (it came from the codec, and self_check decoded it), so this is
// a printer, not a second decoder: it stops at the first surprise.
class Annotator {
 public:
  Annotator(std::string_view bytes, std::string_view domain) : b_(bytes), domain_(domain) {}

  std::vector<Line> frame(Kind kind, std::string& inflated) {
    varint("frame length");
    lines_.back().text += " (flags + body)";
    const auto flags = static_cast<uint8_t>(b_[pos_]);
    static constexpr const char* kKinds[] = {"ELEMENT", "OPEN", "CLOSE", "KEEPALIVE"};
    std::string f = std::string("flags: kind ") + kKinds[flags & kFrameKindMask];
    if (flags & kFrameCompressed) f += ", COMPRESSED";
    add(1, f);
    if (flags & kFrameCompressed) {
      const uint32_t size = varint("decoded size");
      const size_t rest = b_.size() - pos_;
      add(rest, "zstd frame without its magic number (" + std::to_string(rest) + " octets)");
      if (!decompress_body(b_.substr(pos_ - rest), size, inflated)) die("annotator: bad zstd");
      return std::move(lines_);
    }
    if (kind == Kind::kOpen || kind == Kind::kElement) {
      element(0);
    }
    return std::move(lines_);
  }

  std::vector<Line> body() {
    element(0);
    return std::move(lines_);
  }

 private:
  void add(size_t len, std::string text) {
    lines_.push_back(Line{pos_, len, depth_, std::move(text)});
    pos_ += len;
  }

  uint32_t peek_varint(size_t& len) const {
    const auto* p = reinterpret_cast<const uint8_t*>(b_.data()) + pos_;
    const auto* q = p;
    uint32_t v = 0;
    if (read_varint(q, reinterpret_cast<const uint8_t*>(b_.data()) + b_.size(), v) !=
        VarintResult::kOk) {
      die("annotator: bad varint");
    }
    len = static_cast<size_t>(q - p);
    return v;
  }

  // The varint after the type byte at the current position.
  uint32_t varint_after_type(size_t& len) {
    ++pos_;
    const uint32_t v = peek_varint(len);
    --pos_;
    return v;
  }

  uint32_t varint(const std::string& what) {
    size_t len = 0;
    const uint32_t v = peek_varint(len);
    add(len, what + " " + std::to_string(v) + (len > 1 ? " (varint)" : ""));
    return v;
  }

  uint8_t at(size_t i) const { return static_cast<uint8_t>(b_[pos_ + i]); }

  // One string value (§5.4); returns its text.
  std::string value(const std::string& label) {
    const uint8_t type = at(0);
    if (type == kTypeEmpty) {
      add(1, label + ": empty string");
      return "";
    }
    if (type <= kTypeTokenLast || type == kTypeToken2) {
      const uint16_t index =
          type == kTypeToken2 ? static_cast<uint16_t>(kPrimaryTokens + 1 + at(1)) : type;
      std::string_view t;
      if (!token(index, t)) die("annotator: bad token");
      add(type == kTypeToken2 ? 2 : 1, label + ": token " + std::to_string(index) + " " + quote(t));
      return std::string(t);
    }
    switch (type) {
      case kTypeJid: {
        const uint8_t flags = at(1);
        std::string fl;
        if (flags & kJidLocal) fl += ", local";
        if (flags & kJidResource) fl += ", resource";
        if (flags & kJidStreamDomain) fl += ", stream domain";
        const size_t start = lines_.size();
        add(2, "");
        ++depth_;
        std::string out;
        if (flags & kJidLocal) out += value("local part") + "@";
        out += (flags & kJidStreamDomain) ? std::string(domain_) : value("domain part");
        if (flags & kJidResource) out += "/" + value("resource part");
        --depth_;
        lines_[start].text = label + ": JID, flags 0x" + hex(b_.substr(lines_[start].off + 1, 1)) +
                             " (" + (fl.empty() ? std::string("none") : fl.substr(2)) +
                             ") = " + quote(out);
        return out;
      }
      case kTypeNibble:
      case kTypeHexLower:
      case kTypeHexUpper: {
        const std::string_view alphabet = type == kTypeNibble     ? kNibbleAlphabet
                                          : type == kTypeHexLower ? "0123456789abcdef"
                                                                  : "0123456789ABCDEF";
        size_t vlen = 0;
        const uint32_t count = varint_after_type(vlen);
        std::string out;
        for (uint32_t i = 0; i < count; ++i) {
          const uint8_t byte = at(1 + vlen + i / 2);
          out.push_back(alphabet[i % 2 == 0 ? byte >> 4 : byte & 15]);
        }
        const char* what = type == kTypeNibble     ? "nibbles"
                           : type == kTypeHexLower ? "lowercase hex"
                                                   : "uppercase hex";
        add(1 + vlen + (count + 1) / 2,
            label + ": " + what + ", " + std::to_string(count) + " characters " + quote(out));
        return out;
      }
      case kTypeRaw: {
        size_t vlen = 0;
        const uint32_t n = varint_after_type(vlen);
        const std::string out(b_.substr(pos_ + 1 + vlen, n));
        add(1 + vlen + n, label + ": raw, " + std::to_string(n) + " octets " + quote(out));
        return out;
      }
      case kTypeBinary: {
        size_t vlen = 0;
        const uint32_t n = varint_after_type(vlen);
        const std::string out = base64_encode(b_.substr(pos_ + 1 + vlen, n));
        add(1 + vlen + n, label + ": binary, " + std::to_string(n) + " octets = " + quote(out));
        return out;
      }
      case kTypeUuid: {
        std::string out;
        for (size_t i = 0; i < 16; ++i) {
          if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
          out += hex(b_.substr(pos_ + 1 + i, 1));
        }
        add(17, label + ": UUID " + quote(out));
        return out;
      }
      default:
        die("annotator: unexpected type byte");
    }
  }

  void element(int depth) {
    depth_ = depth;
    const uint8_t hdr = at(0);
    uint32_t nattrs = hdr & kHdrAttrMask;
    std::string h = "element header: ";
    h += nattrs == kHdrAttrEscape
             ? std::string("attribute count follows")
             : std::to_string(nattrs) + " attribute" + (nattrs == 1 ? "" : "s");
    if (hdr & kHdrNamespace) h += ", namespace";
    if (hdr & kHdrChildren) h += ", children";
    add(1, h);
    if (nattrs == kHdrAttrEscape) nattrs = varint("attribute count");
    ++depth_;
    value("name");
    if (hdr & kHdrNamespace) value("namespace");
    for (uint32_t i = 0; i < nattrs; ++i) {
      if (at(0) == kTypeQualified) {
        add(1, "qualified attribute marker");
        value("attribute namespace");
      }
      value("attribute name");
      value("attribute value");
    }
    if (hdr & kHdrChildren) {
      const uint32_t n = varint("child count");
      for (uint32_t i = 0; i < n; ++i) {
        if (at(0) == kTypeElement) {
          add(1, "child: element marker");
          element(depth + 2);
          depth_ = depth + 1;
        } else {
          value("child: text");
        }
      }
    }
    depth_ = depth;
  }

  std::string_view b_;
  std::string_view domain_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<Line> lines_;
};

// Eight octets of hex per line, the description after them.
std::string render(std::string_view bytes, const std::vector<Line>& lines) {
  constexpr size_t kPerLine = 8;
  constexpr size_t kColumn = kPerLine * 3 + 1;
  std::string out;
  for (const Line& l : lines) {
    for (size_t done = 0; done < l.len || (l.len == 0 && done == 0);) {
      const size_t n = std::min(kPerLine, l.len - done);
      std::string row = hex(bytes.substr(l.off + done, n), " ");
      if (done == 0) {
        row.resize(kColumn, ' ');
        row += std::string(static_cast<size_t>(l.depth) * 2, ' ') + l.text;
      }
      while (!row.empty() && row.back() == ' ') row.pop_back();
      out += row + "\n";
      done += n;
      if (l.len == 0) break;
    }
  }
  return out;
}

std::string dir_text(std::string_view dir) {
  if (dir == "c2s") return "client to server";
  if (dir == "s2c") return "server to client";
  return "either direction";
}

// ------------------------------------------------------------ outputs

void print_vectors(const std::vector<Vector>& vs) {
  std::printf(
      "# spec/compact-vectors.txt: the compact dialect's test vectors (spec/compact.md "
      "\xC2\xA7"
      "14).\n"
      "# Generated by scripts/gen_compact_vectors from spec/tools/compact_vectors.cc.\n"
      "# DO NOT EDIT. Format: spec/compact.md \xC2\xA7"
      "14.1.\n"
      "format 1\n"
      "dictionary-version %u\n",
      static_cast<unsigned>(dictionary_version()));
  for (const Vector& v : vs) {
    std::printf("\nname %s\n", v.spec->name);
    std::printf("dir %s\n", v.spec->dir);
    std::printf("domain %s\n", *v.spec->domain ? v.spec->domain : "-");
    std::printf("kind %s\n", kind_name(v.spec->kind));
    std::printf("xml %s\n", v.xml.c_str());
    if (v.spec->value) std::printf("value %s\n", hex(v.value).c_str());
    if (v.spec->compress) std::printf("body %s\n", hex(v.body).c_str());
    std::printf("frame %s\n", hex(v.frame).c_str());
  }
}

void print_markdown(const std::vector<Vector>& vs) {
  std::printf(
      "Dictionary version %u. %zu vectors. \"XML\" is the size of the element as serialized "
      "in a jabber:client stream (the `xml` line), \"frame\" the size of the whole compact "
      "frame.\n\n",
      static_cast<unsigned>(dictionary_version()), vs.size());
  std::printf("| vector | direction | XML | frame |\n|---|---|---:|---:|\n");
  for (const Vector& v : vs) {
    std::printf("| [`%s`](#v-%s) | %s | %s | %zu |\n", v.spec->name, v.spec->name, v.spec->dir,
                v.spec->xml ? std::to_string(v.xml.size()).c_str() : "-", v.frame.size());
  }
  for (const Vector& v : vs) {
    std::printf("\n#### %s {#v-%s}\n\n", v.spec->name, v.spec->name);
    std::string s = v.spec->title;
    s[0] = static_cast<char>(s[0] >= 'a' && s[0] <= 'z' ? s[0] - 32 : s[0]);
    std::printf("%s. Direction: %s. Stream domain: %s.\n\n", s.c_str(),
                dir_text(v.spec->dir).c_str(),
                *v.spec->domain ? (std::string("`") + v.spec->domain + "`").c_str() : "none");
    if (v.spec->xml) std::printf("~~~ xml\n%s\n~~~\n\n", v.xml.c_str());
    if (v.spec->value) {
      std::printf("The value alone: `%s`.\n\n", hex(v.value, " ").c_str());
    }
    std::string inflated;
    Annotator a(v.frame, v.spec->domain);
    const std::vector<Line> lines = a.frame(v.spec->kind, inflated);
    std::printf("Frame, %zu octets:\n\n~~~\n%s~~~\n", v.frame.size(),
                render(v.frame, lines).c_str());
    if (!inflated.empty()) {
      Annotator b(inflated, v.spec->domain);
      std::printf(
          "\nThe decompressed body, %zu octets (what the frame would carry "
          "uncompressed):\n\n~~~\n%s~~~\n",
          inflated.size(), render(inflated, b.body()).c_str());
    }
  }
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    die("SHA-256 failed");
  }
  return hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

void print_dictionary_markdown() {
  const std::string& dict = compression_dictionary();
  // Rebuild it sample by sample, the way §8 says, and check the codec agrees.
  struct Sample {
    std::string xml;
    size_t off;
    size_t len;
  };
  std::vector<Sample> samples;
  std::string rebuilt;
  std::string_view rest = compact_data::kCompressionSamples;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    std::unique_ptr<Element> e = parse_fragment(line);
    if (!e) die("compression sample does not parse: " + std::string(line));
    const size_t off = rebuilt.size();
    if (!encode_element(*e, rebuilt, CodecContext{})) die("sample does not encode");
    samples.push_back(Sample{std::string(line), off, rebuilt.size() - off});
  }
  if (rebuilt != dict) die("compression_dictionary() is not the samples' concatenation");

  std::printf("Dictionary version %u: %zu samples, %zu octets, SHA-256 `%s`.\n\n",
              static_cast<unsigned>(dictionary_version()), samples.size(), dict.size(),
              sha256_hex(dict).c_str());
  std::printf("| sample | offset | octets |\n|---:|---:|---:|\n");
  for (size_t i = 0; i < samples.size(); ++i) {
    std::printf("| %zu | %zu | %zu |\n", i + 1, samples[i].off, samples[i].len);
  }
  std::printf("\nThe dictionary, 32 octets a line (offset, then hex):\n\n~~~\n");
  for (size_t off = 0; off < dict.size(); off += 32) {
    std::printf(
        "%04zx  %s\n", off,
        hex(std::string_view(dict).substr(off, std::min<size_t>(32, dict.size() - off))).c_str());
  }
  std::printf("~~~\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc == 2 ? argv[1] : "";
  if (mode == "--vectors") {
    print_vectors(all_vectors());
  } else if (mode == "--markdown") {
    print_markdown(all_vectors());
  } else if (mode == "--dictionary-markdown") {
    print_dictionary_markdown();
  } else {
    std::fprintf(stderr, "usage: compact_vectors --vectors | --markdown | --dictionary-markdown\n");
    return 2;
  }
  return std::fflush(stdout) == 0 ? 0 : 1;
}
