#include "protocol/compact/compact_codec.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "protocol/compact/dictionary.h"
#include "protocol/compact/text_rules.h"
#include "protocol/compact/wire.h"
#include "protocol/sasl/base64.h"

namespace xd::protocol::compact {
namespace {

constexpr std::string_view kXmlnsNs = "http://www.w3.org/2000/xmlns/";
constexpr std::string_view kHexDigitsLower = "0123456789abcdef";
constexpr std::string_view kHexDigitsUpper = "0123456789ABCDEF";
// spec §11: the decoder's recursion is bounded whatever the configuration.
constexpr size_t kHardMaxDepth = 256;
// spec §5.7: shorter base64 texts are never worth the binary form's check.
constexpr size_t kMinBinaryText = 4;

// ------------------------------------------------------------ encoding

// The encodings §5.10 chooses among, in its tie-break order.
enum class Kind { kRaw, kNibble, kHexLower, kHexUpper, kUuid, kBinary };

struct Choice {
  Kind kind = Kind::kRaw;
  size_t cost = 0;
};

size_t raw_cost(size_t n) { return 1 + varint_size(static_cast<uint32_t>(n)) + n; }
size_t packed_cost(size_t n) { return 1 + varint_size(static_cast<uint32_t>(n)) + (n + 1) / 2; }

// One table lookup per byte classifies a string for every packed form.
enum : uint8_t { kClsNibble = 1, kClsHexLower = 2, kClsHexUpper = 4, kClsBase64 = 8 };

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  for (char c : kNibbleAlphabet) t[static_cast<uint8_t>(c)] |= kClsNibble;
  for (int c = '0'; c <= '9'; ++c) t[c] |= kClsHexLower | kClsHexUpper | kClsBase64;
  for (int c = 'a'; c <= 'f'; ++c) t[c] |= kClsHexLower;
  for (int c = 'A'; c <= 'F'; ++c) t[c] |= kClsHexUpper;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kClsBase64;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kClsBase64;
  t['+'] |= kClsBase64;
  t['/'] |= kClsBase64;
  t['='] |= kClsBase64;
  return t;
}
constexpr auto kClasses = make_classes();

// Nibble value of a character of the nibble alphabet or of a hex digit
// (either case); only called on characters already classified.
constexpr std::array<uint8_t, 256> make_nibbles(bool hex) {
  std::array<uint8_t, 256> t{};
  if (hex) {
    for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<uint8_t>(c - 'a' + 10);
    for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<uint8_t>(c - 'A' + 10);
  } else {
    for (size_t i = 0; i < kNibbleAlphabet.size(); ++i) {
      t[static_cast<uint8_t>(kNibbleAlphabet[i])] = static_cast<uint8_t>(i);
    }
  }
  return t;
}
constexpr auto kNibbleValues = make_nibbles(false);
constexpr auto kHexValues = make_nibbles(true);

constexpr std::array<uint8_t, 256> make_base64_values() {
  std::array<uint8_t, 256> t{};
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  return t;
}
constexpr auto kBase64Values = make_base64_values();

// spec §5.6: 8-4-4-4-12 lowercase hex digits.
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!(kClasses[c] & kClsHexLower)) {
      return false;
    }
  }
  return true;
}

// spec §5.7: the decoded size of a canonical RFC 4648 base64 text (padded,
// '=' only at the end, discarded bits zero), or SIZE_MAX. |s| holds only
// base64-class characters and its length is a non-zero multiple of 4.
size_t canonical_base64_size(std::string_view s) {
  const size_t n = s.size();
  const size_t pad = s[n - 1] != '=' ? 0 : (s[n - 2] == '=' ? 2 : 1);
  for (size_t i = 0; i < n - pad; ++i) {
    if (s[i] == '=') return SIZE_MAX;
  }
  if (pad == 2 && (kBase64Values[static_cast<uint8_t>(s[n - 3])] & 0x0F)) return SIZE_MAX;
  if (pad == 1 && (kBase64Values[static_cast<uint8_t>(s[n - 2])] & 0x03)) return SIZE_MAX;
  return n / 4 * 3 - pad;
}

size_t token_cost(uint16_t t) { return t <= kPrimaryTokens ? 1 : 2; }

// The cheapest non-JID, non-token encoding of a non-empty string.
Choice choose_plain(std::string_view s) {
  Choice best{Kind::kRaw, raw_cost(s.size())};
  // A UUID has '-' (no hex or base64) and letters (no nibbles): 17 octets
  // beat every other form, so it needs no further look.
  if (is_uuid(s)) return {Kind::kUuid, 17};
  uint8_t cls = kClsNibble | kClsHexLower | kClsHexUpper | kClsBase64;
  for (char c : s) {
    cls &= kClasses[static_cast<uint8_t>(c)];
    if (cls == 0) return best;
  }
  auto consider = [&](Kind k, size_t cost) {
    if (cost < best.cost) best = {k, cost};
  };
  if (cls & kClsNibble) consider(Kind::kNibble, packed_cost(s.size()));
  if (cls & kClsHexLower) consider(Kind::kHexLower, packed_cost(s.size()));
  if (cls & kClsHexUpper) consider(Kind::kHexUpper, packed_cost(s.size()));
  if ((cls & kClsBase64) && s.size() >= kMinBinaryText && s.size() % 4 == 0) {
    const size_t bytes = canonical_base64_size(s);
    if (bytes != SIZE_MAX)
      consider(Kind::kBinary, 1 + varint_size(static_cast<uint32_t>(bytes)) + bytes);
  }
  return best;
}

// A string value without the JID form: empty, token, or the cheapest plain.
struct Plain {
  uint16_t token = 0;
  Choice choice;
  size_t cost = 1;  // the empty string
};

Plain choose_value(std::string_view s) {
  Plain p;
  if (s.empty()) return p;
  if ((p.token = find_token(s)) != 0) {
    p.cost = token_cost(p.token);
    return p;
  }
  p.choice = choose_plain(s);
  p.cost = p.choice.cost;
  return p;
}

struct JidParts {
  bool has_local = false;
  bool has_resource = false;
  std::string_view local, domain, resource;
};

JidParts split_jid(std::string_view s) {
  JidParts p;
  std::string_view bare = s;
  if (size_t slash = s.find('/'); slash != std::string_view::npos) {
    p.has_resource = true;
    p.resource = s.substr(slash + 1);
    bare = s.substr(0, slash);
  }
  if (size_t at = bare.find('@'); at != std::string_view::npos) {
    p.has_local = true;
    p.local = bare.substr(0, at);
    p.domain = bare.substr(at + 1);
  } else {
    p.domain = bare;
  }
  return p;
}

bool stream_domain(std::string_view domain, const CodecContext& c) {
  return !c.domain.empty() && domain == c.domain;
}

void append_packed(std::string& out, uint8_t type, std::string_view s,
                   const std::array<uint8_t, 256>& values) {
  out.push_back(static_cast<char>(type));
  append_varint(out, static_cast<uint32_t>(s.size()));
  for (size_t i = 0; i < s.size(); i += 2) {
    const unsigned hi = values[static_cast<uint8_t>(s[i])];
    const unsigned lo = i + 1 < s.size() ? values[static_cast<uint8_t>(s[i + 1])] : 0;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
}

void append_raw(std::string_view s, std::string& out) {
  out.push_back(static_cast<char>(kTypeRaw));
  append_varint(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

void append_token(uint16_t t, std::string& out) {
  if (t <= kPrimaryTokens) {
    out.push_back(static_cast<char>(t));
  } else {
    out.push_back(static_cast<char>(kTypeToken2));
    out.push_back(static_cast<char>(t - kPrimaryTokens - 1));
  }
}

void emit_plain(std::string_view s, Choice choice, std::string& out) {
  switch (choice.kind) {
    case Kind::kRaw:
      append_raw(s, out);
      return;
    case Kind::kNibble:
      append_packed(out, kTypeNibble, s, kNibbleValues);
      return;
    case Kind::kHexLower:
      append_packed(out, kTypeHexLower, s, kHexValues);
      return;
    case Kind::kHexUpper:
      append_packed(out, kTypeHexUpper, s, kHexValues);
      return;
    case Kind::kUuid:
      out.push_back(static_cast<char>(kTypeUuid));
      for (size_t i = 0; i < 36;) {
        if (s[i] == '-') {
          ++i;
          continue;
        }
        out.push_back(static_cast<char>((kHexValues[static_cast<uint8_t>(s[i])] << 4) |
                                        kHexValues[static_cast<uint8_t>(s[i + 1])]));
        i += 2;
      }
      return;
    case Kind::kBinary: {
      // Canonical (checked in choose_plain): decode four characters at a time.
      const size_t bytes = canonical_base64_size(s);
      out.push_back(static_cast<char>(kTypeBinary));
      append_varint(out, static_cast<uint32_t>(bytes));
      const size_t start = out.size();
      for (size_t i = 0; i < s.size(); i += 4) {
        const uint32_t v = (uint32_t{kBase64Values[static_cast<uint8_t>(s[i])]} << 18) |
                           (uint32_t{kBase64Values[static_cast<uint8_t>(s[i + 1])]} << 12) |
                           (uint32_t{kBase64Values[static_cast<uint8_t>(s[i + 2])]} << 6) |
                           uint32_t{kBase64Values[static_cast<uint8_t>(s[i + 3])]};
        out.push_back(static_cast<char>(v >> 16));
        out.push_back(static_cast<char>((v >> 8) & 0xFF));
        out.push_back(static_cast<char>(v & 0xFF));
      }
      out.resize(start + bytes);  // drop what the padding stood for
      return;
    }
  }
}

void emit_value(std::string_view s, const Plain& p, std::string& out) {
  if (s.empty()) {
    out.push_back(static_cast<char>(kTypeEmpty));
  } else if (p.token) {
    append_token(p.token, out);
  } else {
    emit_plain(s, p.choice, out);
  }
}

void encode_plain_value(std::string_view s, std::string& out) {
  emit_value(s, choose_value(s), out);
}

// Names are tokens or raw (§5.10): nothing else can spell an NCName
// shorter often enough to be worth a rule. False for a name that is not an
// NCName (the XML serializer would refuse it too).
bool encode_name(std::string_view s, std::string& out) {
  if (const uint16_t t = find_token(s)) {
    if (!token_is_ncname(t)) return false;
    append_token(t, out);
    return true;
  }
  if (!valid_ncname(s)) return false;
  append_raw(s, out);
  return true;
}

struct EncodeFrame {
  const Element* element;
  size_t next_child;
};

}  // namespace

DecodeLimits stored_decode_limits() {
  DecodeLimits limits;
  limits.max_decoded_bytes = size_t{1} << 30;
  limits.max_elements = size_t{1} << 20;
  limits.max_attributes = 4096;
  limits.max_depth = kHardMaxDepth;
  return limits;
}

void encode_value(std::string_view s, std::string& out, const CodecContext& context) {
  const Plain plain = choose_value(s);
  // spec §5.10: the JID form is considered for anything with '@' or '/',
  // and for the stream domain itself (a server's 'from').
  if (s.empty() || plain.token != 0 ||
      (s.find('@') == std::string_view::npos && s.find('/') == std::string_view::npos &&
       !stream_domain(s, context))) {
    emit_value(s, plain, out);
    return;
  }
  const JidParts p = split_jid(s);
  const bool own_domain = stream_domain(p.domain, context);
  Plain local, domain, resource;
  size_t cost = 2;
  if (p.has_local) cost += (local = choose_value(p.local)).cost;
  if (!own_domain) cost += (domain = choose_value(p.domain)).cost;
  if (p.has_resource) cost += (resource = choose_value(p.resource)).cost;
  if (cost >= plain.cost) {
    emit_value(s, plain, out);
    return;
  }
  uint8_t flags = 0;
  if (p.has_local) flags |= kJidLocal;
  if (p.has_resource) flags |= kJidResource;
  if (own_domain) flags |= kJidStreamDomain;
  out.push_back(static_cast<char>(kTypeJid));
  out.push_back(static_cast<char>(flags));
  if (p.has_local) emit_value(p.local, local, out);
  if (!own_domain) emit_value(p.domain, domain, out);
  if (p.has_resource) emit_value(p.resource, resource, out);
}

bool encode_element(const Element& root, std::string& out, const CodecContext& context,
                    std::string_view parent_ns) {
  const size_t rollback = out.size();
  auto fail = [&] {
    out.resize(rollback);
    return false;
  };
  // Writes the header, name, namespace and attributes of |e| (§5.1, §5.2).
  auto open = [&](const Element& e, std::string_view inherited) -> bool {
    const size_t nattrs = e.attrs().size();
    uint8_t hdr = nattrs < kHdrAttrEscape ? static_cast<uint8_t>(nattrs) : kHdrAttrEscape;
    if (e.ns() != inherited) hdr |= kHdrNamespace;
    if (!e.children().empty()) hdr |= kHdrChildren;
    out.push_back(static_cast<char>(hdr));
    if (nattrs >= kHdrAttrEscape) append_varint(out, static_cast<uint32_t>(nattrs));
    if (!encode_name(e.name(), out)) return false;
    if (hdr & kHdrNamespace) {
      if (!valid_xml_text(e.ns())) return false;
      encode_plain_value(e.ns(), out);
    }
    for (const Attribute& a : e.attrs()) {
      if (!valid_xml_text(a.value)) return false;
      if (!a.ns.empty()) {
        if (!valid_xml_text(a.ns)) return false;
        out.push_back(static_cast<char>(kTypeQualified));
        encode_plain_value(a.ns, out);
      }
      if (!encode_name(a.name, out)) return false;
      encode_value(a.value, out, context);
    }
    if (!e.children().empty()) append_varint(out, static_cast<uint32_t>(e.children().size()));
    return true;
  };

  if (!open(root, parent_ns)) return fail();
  if (root.children().empty()) return true;
  // Reused across calls: a stanza's encoding allocates nothing of its own.
  thread_local std::vector<EncodeFrame> stack;
  stack.clear();
  stack.push_back({&root, 0});
  while (!stack.empty()) {
    EncodeFrame& f = stack.back();
    const auto& children = f.element->children();
    if (f.next_child == children.size()) {
      stack.pop_back();
      continue;
    }
    const Node& node = children[f.next_child++];
    if (node.element) {
      const Element* parent = f.element;  // |f| may dangle after the push
      out.push_back(static_cast<char>(kTypeElement));
      if (!open(*node.element, parent->ns())) return fail();
      if (!node.element->children().empty()) stack.push_back({node.element.get(), 0});
    } else {
      if (!valid_xml_text(node.text)) return fail();
      encode_value(node.text, out, context);
    }
  }
  return true;
}

// ------------------------------------------------------------ decoding

namespace {

class Decoder {
 public:
  Decoder(std::string_view body, const CodecContext& context, const DecodeLimits& limits,
          DecodeError& error)
      : p_(reinterpret_cast<const uint8_t*>(body.data())),
        end_(p_ + body.size()),
        context_(context),
        limits_(limits),
        error_(error) {}

  std::unique_ptr<Element> run(std::string_view parent_ns) {
    auto root = element(parent_ns, 1);
    if (!root) return nullptr;
    if (p_ != end_) return fail(StreamCondition::kBadFormat, "bytes after the element");
    return root;
  }

 private:
  std::nullptr_t fail(StreamCondition condition, std::string detail, bool too_big = false) {
    if (!failed_) {
      failed_ = true;
      error_.condition = condition;
      error_.detail = std::move(detail);
      error_.too_big = too_big;
    }
    return nullptr;
  }
  bool failb(StreamCondition condition, std::string detail, bool too_big = false) {
    fail(condition, std::move(detail), too_big);
    return false;
  }

  size_t left() const { return static_cast<size_t>(end_ - p_); }

  bool byte(uint8_t& b) {
    if (p_ == end_) return failb(StreamCondition::kBadFormat, "element ends early");
    b = *p_++;
    return true;
  }

  bool varint(uint32_t& v) {
    switch (read_varint(p_, end_, v)) {
      case VarintResult::kOk:
        return true;
      case VarintResult::kNeedMore:
        return failb(StreamCondition::kBadFormat, "varint ends early");
      case VarintResult::kBad:
        return failb(StreamCondition::kBadFormat, "malformed varint");
    }
    return false;
  }

  // spec §11: decoded bytes are charged before they are produced.
  bool charge(size_t n) {
    if (n > limits_.max_decoded_bytes - decoded_) {
      return failb(StreamCondition::kPolicyViolation, "decoded size over the limit",
                   /*too_big=*/true);
    }
    decoded_ += n;
    return true;
  }

  bool packed(std::string& out, std::string_view alphabet) {
    uint32_t count = 0;
    if (!varint(count)) return false;
    const size_t bytes = (static_cast<size_t>(count) + 1) / 2;
    if (bytes > left()) return failb(StreamCondition::kBadFormat, "packed string past the end");
    if (!charge(count)) return false;
    out.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const uint8_t b = p_[i / 2];
      out[i] = alphabet[(i % 2 == 0) ? (b >> 4) : (b & 0x0F)];
    }
    if (count % 2 == 1 && (p_[bytes - 1] & 0x0F) != 0) {
      return failb(StreamCondition::kBadFormat, "packed string padding is not zero");
    }
    p_ += bytes;
    return true;
  }

  // One string value (§5.4). |in_jid|: a JID part, which cannot be a JID.
  bool string(std::string& out, bool in_jid = false) {
    uint8_t type = 0;
    if (!byte(type)) return false;
    out.clear();
    if (type == kTypeEmpty) return true;
    if (type <= kTypeTokenLast || type == kTypeToken2) {
      uint16_t index = type;
      if (type == kTypeToken2) {
        uint8_t b = 0;
        if (!byte(b)) return false;
        index = static_cast<uint16_t>(kPrimaryTokens + 1 + b);
      }
      std::string_view t;
      if (!token(index, t)) return failb(StreamCondition::kBadFormat, "token index out of range");
      if (!charge(t.size())) return false;
      out.assign(t);
      last_token_ = index;
      return true;
    }
    switch (type) {
      case kTypeJid: {
        if (in_jid) return failb(StreamCondition::kBadFormat, "JID inside a JID");
        const bool ok = jid(out);
        // The parts may be tokens; the whole is not one (found by the
        // compact_decoder fuzzer: a JID of tokens passed as a name).
        last_token_ = 0;
        return ok;
      }
      case kTypeNibble:
        return packed(out, kNibbleAlphabet);
      case kTypeHexLower:
        return packed(out, kHexDigitsLower);
      case kTypeHexUpper:
        return packed(out, kHexDigitsUpper);
      case kTypeRaw: {
        uint32_t n = 0;
        if (!varint(n)) return false;
        if (n > left()) return failb(StreamCondition::kBadFormat, "string length past the end");
        if (!charge(n)) return false;
        out.assign(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        if (!valid_xml_text(out)) {
          return failb(StreamCondition::kNotWellFormed, "string is not UTF-8 XML text");
        }
        return true;
      }
      case kTypeBinary: {
        uint32_t n = 0;
        if (!varint(n)) return false;
        if (n > left()) return failb(StreamCondition::kBadFormat, "binary length past the end");
        if (!charge((static_cast<size_t>(n) + 2) / 3 * 4)) return false;
        out = base64_encode(std::string_view(reinterpret_cast<const char*>(p_), n));
        p_ += n;
        return true;
      }
      case kTypeUuid: {
        if (left() < 16) return failb(StreamCondition::kBadFormat, "UUID past the end");
        if (!charge(36)) return false;
        out.reserve(36);
        for (size_t i = 0; i < 16; ++i) {
          if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
          out.push_back(kHexDigitsLower[p_[i] >> 4]);
          out.push_back(kHexDigitsLower[p_[i] & 0x0F]);
        }
        p_ += 16;
        return true;
      }
      default:
        return failb(StreamCondition::kBadFormat, "not a string type byte");
    }
  }

  bool jid(std::string& out) {
    uint8_t flags = 0;
    if (!byte(flags)) return false;
    if (flags & kJidReserved) return failb(StreamCondition::kBadFormat, "reserved JID flag");
    std::string part;
    if (flags & kJidLocal) {
      if (!string(part, true)) return false;
      out.append(part);
      if (!charge(1)) return false;
      out.push_back('@');
    }
    if (flags & kJidStreamDomain) {
      if (context_.domain.empty()) {
        return failb(StreamCondition::kBadFormat, "stream domain flag without a stream domain");
      }
      if (!charge(context_.domain.size())) return false;
      out.append(context_.domain);
    } else {
      if (!string(part, true)) return false;
      out.append(part);
    }
    if (flags & kJidResource) {
      if (!string(part, true)) return false;
      if (!charge(1)) return false;
      out.push_back('/');
      out.append(part);
    }
    return true;
  }

  bool name(std::string& out, const char* what) {
    last_token_ = 0;
    if (!string(out)) return false;
    // A token's NCName-ness is known; anything else is checked.
    if (last_token_ ? !token_is_ncname(last_token_) : !valid_ncname(out)) {
      return failb(StreamCondition::kNotWellFormed, std::string("invalid ") + what + " name");
    }
    return true;
  }

  std::unique_ptr<Element> element(std::string_view parent_ns, size_t depth) {
    if (depth > limits_.max_depth) return fail(StreamCondition::kPolicyViolation, "too deep");
    if (depth > kHardMaxDepth) return fail(StreamCondition::kPolicyViolation, "too deep");
    if (++elements_ > limits_.max_elements) {
      return fail(StreamCondition::kPolicyViolation, "too many elements");
    }
    uint8_t hdr = 0;
    if (!byte(hdr)) return nullptr;
    if (hdr & kHdrReserved) return fail(StreamCondition::kBadFormat, "reserved header bits");
    uint32_t nattrs = hdr & kHdrAttrMask;
    if (nattrs == kHdrAttrEscape && !varint(nattrs)) return nullptr;
    if (nattrs > limits_.max_attributes) {
      return fail(StreamCondition::kPolicyViolation, "too many attributes");
    }
    if (nattrs > left() / 2) return fail(StreamCondition::kBadFormat, "attributes past the end");
    std::string local;
    if (!name(local, "element")) return nullptr;
    if (!charge(local.size() + 5)) return nullptr;  // the end tag and brackets
    std::string ns;
    if (hdr & kHdrNamespace) {
      if (!string(ns)) return nullptr;
      if (ns == kXmlnsNs) {
        return fail(StreamCondition::kBadFormat, "reserved namespace on an element");
      }
      if (!charge(9)) return nullptr;  // " xmlns=''"
    } else {
      ns.assign(parent_ns);
    }
    auto e = std::make_unique<Element>(ns, local);
    e->reserve_attrs(nattrs);
    for (uint32_t i = 0; i < nattrs; ++i) {
      std::string ans;
      if (p_ != end_ && *p_ == kTypeQualified) {
        ++p_;
        if (!string(ans)) return nullptr;
        if (ans.empty() || ans == kXmlnsNs) {
          return fail(StreamCondition::kBadFormat, "bad attribute namespace");
        }
        if (!charge(8)) return nullptr;  // a prefix and its declaration, roughly
      }
      std::string aname;
      if (!name(aname, "attribute")) return nullptr;
      if (ans.empty() && aname == "xmlns") {
        return fail(StreamCondition::kBadFormat, "namespace declaration as an attribute");
      }
      std::string value;
      if (!string(value)) return nullptr;
      if (!charge(4)) return nullptr;  // " ='' "
      if (e->attr(aname, ans)) return fail(StreamCondition::kBadFormat, "duplicate attribute");
      e->append_attr_unchecked(std::move(ans), std::move(aname), std::move(value));
    }
    if (!(hdr & kHdrChildren)) return e;
    uint32_t nchildren = 0;
    if (!varint(nchildren)) return nullptr;
    if (nchildren > left()) return fail(StreamCondition::kBadFormat, "children past the end");
    bool last_text = false;
    std::string text;
    for (uint32_t i = 0; i < nchildren; ++i) {
      if (p_ != end_ && *p_ == kTypeElement) {
        ++p_;
        auto child = element(e->ns(), depth + 1);
        if (!child) return nullptr;
        e->add_child(std::move(child));
        last_text = false;
        continue;
      }
      if (!string(text)) return nullptr;
      if (text.empty() || last_text) {
        return fail(StreamCondition::kBadFormat, "empty or adjacent text node");
      }
      e->add_text(text);
      last_text = true;
    }
    return e;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const CodecContext& context_;
  const DecodeLimits& limits_;
  DecodeError& error_;
  bool failed_ = false;
  uint16_t last_token_ = 0;  // the token the last string() decoded, or 0
  size_t decoded_ = 0;
  size_t elements_ = 0;
};

}  // namespace

std::unique_ptr<Element> decode_element(std::string_view body, const CodecContext& context,
                                        const DecodeLimits& limits, DecodeError& error,
                                        std::string_view parent_ns) {
  Decoder d(body, context, limits, error);
  return d.run(parent_ns);
}

}  // namespace xd::protocol::compact
