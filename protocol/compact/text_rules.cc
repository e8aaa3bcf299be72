#include "protocol/compact/text_rules.h"

#include <expat.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace xd::protocol::compact {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances
// |i|, or returns -1 on any ill-formed sequence (RFC 3629 §4 table).
int32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t n;
  uint32_t cp;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  if (s.size() - i <= n) return -1;
  for (size_t k = 1; k <= n; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  i += n + 1;
  return static_cast<int32_t>(cp);
}

bool is_xml_char(uint32_t c) {
  if (c < 0x20) return c == 0x09 || c == 0x0A || c == 0x0D;
  return c != 0xFFFE && c != 0xFFFF;  // surrogates never decode
}

// XML 1.0 fifth edition, productions [4] and [4a], without ':'.
bool is_name_start(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  return (c >= 0xC0 && c <= 0xD6) || (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) ||
         (c >= 0x370 && c <= 0x37D) || (c >= 0x37F && c <= 0x1FFF) ||
         (c >= 0x200C && c <= 0x200D) || (c >= 0x2070 && c <= 0x218F) ||
         (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) ||
         (c >= 0xF900 && c <= 0xFDCF) || (c >= 0xFDF0 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0xEFFFF);
}

bool is_name_char(uint32_t c) {
  if (is_name_start(c)) return true;
  if (c < 0x80) return c == '-' || c == '.' || (c >= '0' && c <= '9');
  return c == 0xB7 || (c >= 0x300 && c <= 0x36F) || (c >= 0x203F && c <= 0x2040);
}

// Rare (names are nearly always tokens or ASCII), so a parser per call.
bool expat_accepts_name(std::string_view name) {
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p) abort();  // OOM: an environment failure
  std::string doc = "<";
  doc.append(name);
  doc.append("/>");
  const bool ok = XML_Parse(p, doc.data(), static_cast<int>(doc.size()), 1) == XML_STATUS_OK;
  XML_ParserFree(p);
  return ok;
}

}  // namespace

bool valid_xml_text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b >= 0x20 && b < 0x80) {  // the common case
      ++i;
      continue;
    }
    const int32_t cp = next_code_point(s, i);
    if (cp < 0 || !is_xml_char(static_cast<uint32_t>(cp))) return false;
  }
  return true;
}

bool valid_ncname(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  bool first = true;
  bool ascii = true;
  while (i < s.size()) {
    const int32_t cp = next_code_point(s, i);
    if (cp < 0) return false;
    const auto c = static_cast<uint32_t>(cp);
    if (first ? !is_name_start(c) : !is_name_char(c)) return false;
    ascii = ascii && c < 0x80;
    first = false;
  }
  return ascii || expat_accepts_name(s);
}

}  // namespace xd::protocol::compact
