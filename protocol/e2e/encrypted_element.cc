#include "protocol/e2e/encrypted_element.h"

#include <algorithm>
#include <optional>

#include "protocol/name_table.h"
#include "protocol/sasl/base64.h"

namespace xd::protocol::e2e {
namespace {

struct Entry {
  std::string_view name;
  std::string_view message;
};

constexpr Entry kEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_ENCRYPTED_ERRORS(XD_X)
#undef XD_X
};

static_assert(static_cast<int>(EncryptedError::kFirst_) + 1 == 840 &&
                  static_cast<int>(EncryptedError::kLast_) <= 860,
              "encrypted-element errors own [840, 859]");

std::string_view as_chars(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// A device id as spec/e2e.md §8.1 spells it: decimal without sign or
// leading zeros, 1 .. 2^31 - 1.
std::optional<std::uint32_t> parse_device_id(std::string_view s) {
  if (s.empty() || s.size() > 10 || s[0] == '0') return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > kMaxDeviceId) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// The base64 text of |e| decoded, if its encoding is at most the length
// that |max| octets need (checked before decoding, so an oversized text is
// never decoded). |too_large| tells the two failures apart.
std::optional<std::string> decode_bounded(const protocol::Element& e, std::size_t max,
                                          bool& too_large) {
  const std::string text = e.text();
  const std::string_view t = trim(text);
  too_large = t.size() > (max + 2) / 3 * 4;
  if (too_large) return std::nullopt;
  std::optional<std::string> bytes = base64_decode(t);
  if (bytes && bytes->size() > max) {
    too_large = true;
    return std::nullopt;
  }
  return bytes;
}

}  // namespace

std::string_view encrypted_error_name(EncryptedError error) {
  const Entry* e = name_table_entry(kEntries, error);
  return e ? e->name : "unknown";
}

// spec/e2e.md §8.1.
void add_encrypted(protocol::Element& message, const EncryptedMessage& encrypted) {
  protocol::Element& enc = message.add_child(kE2eNs, "encrypted");
  protocol::Element& header = enc.add_child(kE2eNs, "header");
  header.set_attr("sid", std::to_string(encrypted.sid));
  for (const EncryptedKey& k : encrypted.keys) {
    protocol::Element& key = header.add_child(kE2eNs, "key");
    key.set_attr("rid", std::to_string(k.rid));
    key.add_text(base64_encode(k.envelope));
  }
  header.add_child(kE2eNs, "iv")
      .add_text(base64_encode(as_chars(encrypted.iv.data(), encrypted.iv.size())));
  enc.add_child(kE2eNs, "payload").add_text(base64_encode(encrypted.payload));
}

// spec/e2e.md §8.1, §8.3.
EncryptedError parse_encrypted(const protocol::Element& message, EncryptedMessage& out) {
  const protocol::Element* enc = message.child("encrypted", kE2eNs);
  if (enc == nullptr) return EncryptedError::kMissing;
  const protocol::Element* header = enc->child("header", kE2eNs);
  const protocol::Element* payload = enc->child("payload", kE2eNs);
  if (header == nullptr || payload == nullptr) return EncryptedError::kMalformed;
  const std::optional<std::uint32_t> sid = parse_device_id(header->attr_or("sid"));
  if (!sid) return EncryptedError::kMalformed;

  out = EncryptedMessage{};
  out.sid = *sid;
  const protocol::Element* iv = nullptr;
  for (const protocol::Node& node : header->children()) {
    if (!node.is_element()) continue;
    const protocol::Element& child = *node.element;
    if (child.is("key", kE2eNs)) {
      if (out.keys.size() == kMaxEncryptedKeys) return EncryptedError::kTooLarge;
      const std::optional<std::uint32_t> rid = parse_device_id(child.attr_or("rid"));
      if (!rid) return EncryptedError::kMalformed;
      bool too_large = false;
      std::optional<std::string> envelope = decode_bounded(child, kMaxKeyEnvelope, too_large);
      if (too_large) return EncryptedError::kTooLarge;
      if (!envelope || envelope->empty()) return EncryptedError::kMalformed;
      out.keys.push_back(EncryptedKey{*rid, std::move(*envelope)});
    } else if (child.is("iv", kE2eNs)) {
      if (iv != nullptr) return EncryptedError::kMalformed;  // exactly one
      iv = &child;
    }
    // Other children are ignored: room for later versions (§8.1).
  }
  if (out.keys.empty() || iv == nullptr) return EncryptedError::kMalformed;
  bool too_large = false;
  std::optional<std::string> iv_bytes = decode_bounded(*iv, out.iv.size(), too_large);
  if (!iv_bytes || iv_bytes->size() != out.iv.size()) return EncryptedError::kMalformed;
  std::copy(iv_bytes->begin(), iv_bytes->end(), out.iv.begin());
  std::optional<std::string> payload_bytes =
      decode_bounded(*payload, kMaxEncryptedPayload, too_large);
  if (too_large) return EncryptedError::kTooLarge;
  if (!payload_bytes || payload_bytes->size() < 16) return EncryptedError::kMalformed;
  out.payload = std::move(*payload_bytes);
  return EncryptedError::kOk;
}

// spec/e2e.md §8.4.
void add_retry(protocol::Element& message, std::string_view origin_id, std::uint32_t sid) {
  protocol::Element& retry = message.add_child(kE2eNs, "retry");
  retry.set_attr("id", origin_id);
  retry.set_attr("sid", std::to_string(sid));
}

bool parse_retry(const protocol::Element& message, std::string& origin_id, std::uint32_t& sid) {
  const protocol::Element* retry = message.child("retry", kE2eNs);
  if (retry == nullptr) return false;
  const std::string_view id = retry->attr_or("id");
  const std::optional<std::uint32_t> device = parse_device_id(retry->attr_or("sid"));
  if (id.empty() || !device) return false;
  origin_id = std::string(id);
  sid = *device;
  return true;
}

}  // namespace xd::protocol::e2e
