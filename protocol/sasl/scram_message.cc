#include "protocol/sasl/scram_message.h"

#include <cassert>
#include <vector>

#include "protocol/sasl/base64.h"

namespace xd::protocol {
namespace {

constexpr SaslCondition kMalformed = SaslCondition::kMalformedRequest;
constexpr SaslCondition kBadBase64 = SaslCondition::kIncorrectEncoding;

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto cont = [&](size_t at, unsigned char lo, unsigned char hi) {
    if (at >= n) return false;
    auto c = static_cast<unsigned char>(s[at]);
    return c >= lo && c <= hi;
  };
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (!cont(i + 1, 0x80, 0xbf)) return false;
      i += 2;
    } else if (c == 0xe0) {
      if (!cont(i + 1, 0xa0, 0xbf) || !cont(i + 2, 0x80, 0xbf)) return false;
      i += 3;
    } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
      if (!cont(i + 1, 0x80, 0xbf) || !cont(i + 2, 0x80, 0xbf)) return false;
      i += 3;
    } else if (c == 0xed) {
      if (!cont(i + 1, 0x80, 0x9f) || !cont(i + 2, 0x80, 0xbf)) return false;
      i += 3;
    } else if (c == 0xf0) {
      if (!cont(i + 1, 0x90, 0xbf) || !cont(i + 2, 0x80, 0xbf) || !cont(i + 3, 0x80, 0xbf))
        return false;
      i += 4;
    } else if (c >= 0xf1 && c <= 0xf3) {
      if (!cont(i + 1, 0x80, 0xbf) || !cont(i + 2, 0x80, 0xbf) || !cont(i + 3, 0x80, 0xbf))
        return false;
      i += 4;
    } else if (c == 0xf4) {
      if (!cont(i + 1, 0x80, 0x8f) || !cont(i + 2, 0x80, 0xbf) || !cont(i + 3, 0x80, 0xbf))
        return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Splits on ','. Empty parts are kept so that ",," and a trailing ',' fail
// the per-attribute checks instead of vanishing.
std::vector<std::string_view> split_attributes(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

// If |part| is "<name>=...", the text after '='; otherwise nullopt.
std::optional<std::string_view> attribute(std::string_view part, char name) {
  if (part.size() < 2 || part[0] != name || part[1] != '=') return std::nullopt;
  return part.substr(2);
}

// RFC 5802 §7 "value" = 1*value-char: UTF-8 without NUL and ','.
bool valid_value(std::string_view v) {
  if (v.empty() || !valid_utf8(v)) return false;
  for (char c : v) {
    if (c == '\0' || c == ',') return false;
  }
  return true;
}

// An optional extension (RFC 5802 §7 attr-val) in its designated place. The
// names RFC 5802 itself defines may not reappear there: a second "r=" or a
// late "m=" is a duplicate or misordered attribute, not an extension.
bool valid_extension(std::string_view part) {
  if (part.size() < 3 || !is_alpha(part[0]) || part[1] != '=') return false;
  constexpr std::string_view kDefined = "acimnprsve";
  if (kDefined.find(part[0]) != std::string_view::npos) return false;
  return valid_value(part.substr(2));
}

// A base64 attribute value: non-empty and canonical.
SaslResult<std::string> decode_b64_value(std::string_view v) {
  if (v.empty()) return kBadBase64;
  auto decoded = base64_decode(v);
  if (!decoded) return kBadBase64;
  return std::move(*decoded);
}

// RFC 5802 §7: posit-number = %x31-39 *DIGIT, bounded to uint32.
bool parse_posit_number(std::string_view v, uint32_t& out) {
  if (v.empty() || v[0] < '1' || v[0] > '9') return false;
  uint64_t n = 0;
  for (char c : v) {
    if (!is_digit(c)) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > UINT32_MAX) return false;
  }
  out = static_cast<uint32_t>(n);
  return true;
}

// RFC 5802 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-").
bool valid_cb_name(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// Parses "gs2-cbind-flag ',' [authzid] ','" from the front of |message| and
// returns the number of header bytes consumed through |consumed|.
SaslResult<Gs2Header> parse_gs2_header(std::string_view message, size_t& consumed) {
  Gs2Header h;
  size_t c1 = message.find(',');
  if (c1 == std::string_view::npos) return kMalformed;
  std::string_view flag = message.substr(0, c1);
  if (flag == "n") {
    h.flag = Gs2CbindFlag::kNotSupported;
  } else if (flag == "y") {
    h.flag = Gs2CbindFlag::kSupportedNotUsed;
  } else if (auto cb = attribute(flag, 'p')) {
    if (!valid_cb_name(*cb)) return kMalformed;
    h.flag = Gs2CbindFlag::kUsed;
    h.cb_name = std::string(*cb);
  } else {
    // Includes RFC 5801's non-standard "F" flag, which SCRAM does not allow.
    return kMalformed;
  }
  size_t c2 = message.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return kMalformed;
  std::string_view authz = message.substr(c1 + 1, c2 - c1 - 1);
  if (!authz.empty()) {
    auto a = attribute(authz, 'a');
    if (!a) return kMalformed;
    auto decoded = scram_unescape_saslname(*a);
    if (!decoded) return decoded.condition();
    h.authzid = std::move(decoded).value();
  }
  consumed = c2 + 1;
  return h;
}

}  // namespace

SaslResult<std::string> scram_unescape_saslname(std::string_view saslname) {
  if (saslname.empty() || !valid_utf8(saslname)) return kMalformed;
  std::string out;
  out.reserve(saslname.size());
  for (size_t i = 0; i < saslname.size(); ++i) {
    char c = saslname[i];
    if (c == '\0' || c == ',') return kMalformed;
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    // RFC 5802 §5.1: '=' not followed by "2C" or "3D" MUST fail.
    std::string_view esc = saslname.substr(i + 1, 2);
    if (esc == "2C") {
      out.push_back(',');
    } else if (esc == "3D") {
      out.push_back('=');
    } else {
      return kMalformed;
    }
    i += 2;
  }
  return out;
}

std::string scram_escape_saslname(std::string_view name) {
  assert(!name.empty() && valid_utf8(name));
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    assert(c != '\0');
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool scram_is_printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (char c : nonce) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

SaslResult<ClientFirstMessage> parse_client_first(std::string_view message) {
  size_t header_len = 0;
  auto gs2 = parse_gs2_header(message, header_len);
  if (!gs2) return gs2.condition();
  ClientFirstMessage m;
  m.gs2 = std::move(gs2).value();
  m.gs2_header = std::string(message.substr(0, header_len));
  std::string_view bare = message.substr(header_len);
  auto parts = split_attributes(bare);
  // [reserved-mext ","] username "," nonce ["," extensions]. We support no
  // mandatory extension, so "m=" anywhere first is a failure (RFC 5802 §5.1).
  if (parts.size() < 2) return kMalformed;
  auto user = attribute(parts[0], 'n');
  if (!user) return kMalformed;
  auto name = scram_unescape_saslname(*user);
  if (!name) return name.condition();
  auto nonce = attribute(parts[1], 'r');
  if (!nonce || !scram_is_printable_nonce(*nonce)) return kMalformed;
  for (size_t i = 2; i < parts.size(); ++i) {
    if (!valid_extension(parts[i])) return kMalformed;
  }
  m.bare = std::string(bare);
  m.username = std::move(name).value();
  m.nonce = std::string(*nonce);
  return m;
}

SaslResult<ServerFirstMessage> parse_server_first(std::string_view message) {
  auto parts = split_attributes(message);
  // [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
  if (parts.size() < 3) return kMalformed;
  auto nonce = attribute(parts[0], 'r');
  if (!nonce || !scram_is_printable_nonce(*nonce)) return kMalformed;
  auto salt = attribute(parts[1], 's');
  if (!salt) return kMalformed;
  auto iter = attribute(parts[2], 'i');
  if (!iter) return kMalformed;
  ServerFirstMessage m;
  if (!parse_posit_number(*iter, m.iterations)) return kMalformed;
  for (size_t i = 3; i < parts.size(); ++i) {
    if (!valid_extension(parts[i])) return kMalformed;
  }
  auto salt_bytes = decode_b64_value(*salt);
  if (!salt_bytes) return salt_bytes.condition();
  m.nonce = std::string(*nonce);
  m.salt = std::move(salt_bytes).value();
  return m;
}

SaslResult<ClientFinalMessage> parse_client_final(std::string_view message) {
  auto parts = split_attributes(message);
  // channel-binding "," nonce ["," extensions] "," proof
  if (parts.size() < 3) return kMalformed;
  auto cb = attribute(parts[0], 'c');
  if (!cb) return kMalformed;
  auto nonce = attribute(parts[1], 'r');
  if (!nonce || !scram_is_printable_nonce(*nonce)) return kMalformed;
  for (size_t i = 2; i + 1 < parts.size(); ++i) {
    if (!valid_extension(parts[i])) return kMalformed;
  }
  auto proof = attribute(parts.back(), 'p');
  if (!proof) return kMalformed;
  auto cb_bytes = decode_b64_value(*cb);
  if (!cb_bytes) return cb_bytes.condition();
  auto proof_bytes = decode_b64_value(*proof);
  if (!proof_bytes) return proof_bytes.condition();
  ClientFinalMessage m;
  // The proof is the last attribute, so the signed prefix ends at the last ','.
  m.without_proof = std::string(message.substr(0, message.size() - parts.back().size() - 1));
  m.channel_binding = std::move(cb_bytes).value();
  m.nonce = std::string(*nonce);
  m.proof = std::move(proof_bytes).value();
  return m;
}

SaslResult<ServerFinalMessage> parse_server_final(std::string_view message) {
  auto parts = split_attributes(message);
  // (server-error / verifier) ["," extensions]
  ServerFinalMessage m;
  if (auto v = attribute(parts[0], 'v')) {
    auto bytes = decode_b64_value(*v);
    if (!bytes) return bytes.condition();
    m.verifier = std::move(bytes).value();
  } else if (auto e = attribute(parts[0], 'e')) {
    if (!valid_value(*e)) return kMalformed;
    m.error = std::string(*e);
  } else {
    return kMalformed;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    if (!valid_extension(parts[i])) return kMalformed;
  }
  return m;
}

std::string build_gs2_header(const Gs2Header& header) {
  std::string out;
  switch (header.flag) {
    case Gs2CbindFlag::kNotSupported:
      out = "n";
      break;
    case Gs2CbindFlag::kSupportedNotUsed:
      out = "y";
      break;
    case Gs2CbindFlag::kUsed:
      assert(valid_cb_name(header.cb_name));
      out = "p=" + header.cb_name;
      break;
  }
  out += ',';
  if (!header.authzid.empty()) out += "a=" + scram_escape_saslname(header.authzid);
  out += ',';
  return out;
}

std::string build_client_first_bare(std::string_view username, std::string_view nonce) {
  assert(scram_is_printable_nonce(nonce));
  std::string out = "n=" + scram_escape_saslname(username);
  out += ",r=";
  out += nonce;
  return out;
}

std::string build_server_first(std::string_view nonce, std::string_view salt, uint32_t iterations) {
  assert(scram_is_printable_nonce(nonce) && !salt.empty() && iterations > 0);
  std::string out = "r=";
  out += nonce;
  out += ",s=" + base64_encode(salt);
  out += ",i=" + std::to_string(iterations);
  return out;
}

std::string build_client_final_without_proof(std::string_view cbind_input, std::string_view nonce) {
  assert(!cbind_input.empty() && scram_is_printable_nonce(nonce));
  std::string out = "c=" + base64_encode(cbind_input);
  out += ",r=";
  out += nonce;
  return out;
}

std::string build_client_final(std::string_view without_proof, std::string_view proof) {
  assert(!proof.empty());
  std::string out(without_proof);
  out += ",p=" + base64_encode(proof);
  return out;
}

std::string build_server_final(std::string_view verifier) {
  assert(!verifier.empty());
  return "v=" + base64_encode(verifier);
}

std::string build_server_error(std::string_view error_value) {
  assert(valid_value(error_value));
  std::string out = "e=";
  out += error_value;
  return out;
}

}  // namespace xd::protocol
