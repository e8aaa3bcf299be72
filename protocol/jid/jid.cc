// RFC 7622 address parsing and enforcement. Localparts and resourceparts go
// through the PRECIS profiles in precis.h; domainparts go through an RFC 5895
// style mapping done here with ICU and are then validated label by label
// with libidn2 (IDNA2008, RFC 5891) or as IP literals by a strict validator
// written here, because protocol/ may not include socket headers.
#include "protocol/jid/jid.h"

#include <idn2.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "protocol/jid/precis.h"
#include "protocol/jid/unicode_support.h"

namespace xd::protocol {
namespace {

// No enforcement step shrinks a string by more than a factor of three (the
// extremes are fullwidth ASCII, 3 octets to 1, and conjoining Hangul L V T,
// 9 octets to one 3-octet syllable), so a raw part longer than this can never
// fit in 1023 octets. Refusing it before any Unicode work bounds the CPU and
// memory a hostile 'to' attribute can cost.
constexpr std::size_t kMaxRawPartBytes = 4 * Jid::kMaxPartBytes;

// RFC 7622 §3.3.1: these ASCII characters are PVALID in the IdentifierClass
// but are forbidden in a localpart, because XMPP addresses, URIs and the
// XEP-0106 escaping scheme give them meaning.
constexpr std::string_view kLocalForbidden = "\"&'/:<>@";

// --- Localpart and resourcepart -------------------------------------------
//
// |fast| selects the PRECIS functions with their ASCII fast path (always, in
// production); without it every part goes through ICU, which only
// Jid::from_parts_icu_for_test asks for.

JidError enforce_local(std::string_view in, std::string& out, bool fast) {
  if (in.size() > kMaxRawPartBytes) return JidError::kLocalTooLong;
  // RFC 7622 §3.3.2: the localpart is enforced with UsernameCaseMapped.
  const PrecisError e =
      fast ? username_case_mapped(in, out) : detail::username_case_mapped_icu(in, out);
  if (e != PrecisError::kOk) return JidError::kInvalidLocal;
  // Checked on the enforced form: width mapping turns U+FF20 FULLWIDTH
  // COMMERCIAL AT into '@', which must not slip through.
  if (out.find_first_of(kLocalForbidden) != std::string::npos) return JidError::kInvalidLocal;
  // RFC 7622 §3.3: at most 1023 octets after enforcement.
  if (out.size() > Jid::kMaxPartBytes) return JidError::kLocalTooLong;
  return JidError::kOk;
}

JidError enforce_resource(std::string_view in, std::string& out, bool fast) {
  if (in.size() > kMaxRawPartBytes) return JidError::kResourceTooLong;
  // RFC 7622 §3.4.2: the resourcepart is enforced with OpaqueString, which
  // keeps case, so resourceparts compare exactly (§3.4.3).
  const PrecisError e = fast ? opaque_string(in, out) : detail::opaque_string_icu(in, out);
  if (e != PrecisError::kOk) return JidError::kInvalidResource;
  // RFC 7622 §3.4: at most 1023 octets after enforcement.
  if (out.size() > Jid::kMaxPartBytes) return JidError::kResourceTooLong;
  return JidError::kOk;
}

// --- IP literals ------------------------------------------------------------

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict dotted-quad IPv4 (RFC 3986 §3.2.2 "dec-octet"): exactly four
// decimal octets of 0..255 with no leading zeros, so "010.0.0.1" (which some
// C libraries read as octal) and "1.2.3" (which inet_aton accepts) are
// refused rather than interpreted.
bool parse_ipv4(std::string_view s, std::array<uint8_t, 4>& out) {
  std::size_t pos = 0;
  for (std::size_t octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (pos >= s.size() || s[pos] != '.') return false;
      ++pos;
    }
    const std::size_t start = pos;
    unsigned value = 0;
    while (pos < s.size() && is_digit(s[pos]) && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[pos] - '0');
      ++pos;
    }
    const std::size_t digits = pos - start;
    if (digits == 0 || value > 255) return false;
    if (digits > 1 && s[start] == '0') return false;
    out[octet] = static_cast<uint8_t>(value);
  }
  return pos == s.size();
}

// Strict IPv6 text form (RFC 4291 §2.2, RFC 3986 §3.2.2 "IPv6address"):
// one to eight groups of one to four hex digits, at most one "::" standing
// for one or more zero groups, and optionally a dotted quad as the last 32
// bits. Zone identifiers and IPvFuture forms are not accepted.
bool parse_ipv6(std::string_view s, std::array<uint16_t, 8>& out) {
  std::array<uint16_t, 8> groups{};
  std::size_t count = 0;  // groups written
  std::size_t gap = 8;    // index in |groups| where "::" sits, 8 if none
  std::size_t pos = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    pos = 2;
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (pos < s.size()) {
    // One piece: hex group, or a trailing dotted quad.
    std::size_t end = pos;
    while (end < s.size() && s[end] != ':') ++end;
    const std::string_view piece = s.substr(pos, end - pos);
    if (piece.find('.') != std::string_view::npos) {
      std::array<uint8_t, 4> v4{};
      if (end != s.size() || count > 6 || !parse_ipv4(piece, v4)) return false;
      groups[count++] = static_cast<uint16_t>(v4[0] << 8 | v4[1]);
      groups[count++] = static_cast<uint16_t>(v4[2] << 8 | v4[3]);
      pos = end;
      break;
    }
    if (piece.empty() || piece.size() > 4 || count >= 8) return false;
    unsigned value = 0;
    for (const char c : piece) {
      const int h = hex_value(c);
      if (h < 0) return false;
      value = value << 4 | static_cast<unsigned>(h);
    }
    groups[count++] = static_cast<uint16_t>(value);
    pos = end;
    if (pos == s.size()) break;
    // |pos| is at a ':'.
    if (pos + 1 < s.size() && s[pos + 1] == ':') {
      if (gap != 8) return false;  // a second "::"
      gap = count;
      pos += 2;
    } else {
      ++pos;
      if (pos == s.size()) return false;  // a trailing single ':'
    }
  }
  if (gap == 8) {
    if (count != 8) return false;
    out = groups;
    return true;
  }
  // "::" must stand for at least one group (RFC 4291 §2.2 item 2).
  if (count > 7) return false;
  out.fill(0);
  const std::size_t tail = count - gap;
  for (std::size_t i = 0; i < gap; ++i) out[i] = groups[i];
  for (std::size_t i = 0; i < tail; ++i) out[8 - tail + i] = groups[gap + i];
  return true;
}

void append_hex(std::string& out, uint16_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned nibble = (value >> shift) & 0xFu;
    if (nibble != 0 || started || shift == 0) {
      out.push_back(kDigits[nibble]);
      started = true;
    }
  }
}

// RFC 5952 §4 canonical text: lower-case hex without leading zeros, the
// longest run of two or more zero groups (the first on a tie) shortened to
// "::", and, per §5, IPv4-mapped addresses in mixed notation. One spelling
// per address means "[::1]" and "[0:0::1]" name the same JID.
std::string format_ipv6(const std::array<uint16_t, 8>& g) {
  std::string out;
  const bool v4_mapped =
      g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0xFFFF;
  if (v4_mapped) {
    out = "::ffff:";
    for (int i = 0; i < 4; ++i) {
      const unsigned octet = i % 2 == 0 ? g[6 + i / 2] >> 8 : g[6 + i / 2] & 0xFFu;
      if (i > 0) out.push_back('.');
      out += std::to_string(octet);
    }
    return out;
  }
  std::size_t best_start = 8;
  std::size_t best_len = 1;  // runs of one group are never shortened
  for (std::size_t i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (i > 0 && !(best_start != 8 && i == best_start + best_len)) out.push_back(':');
    append_hex(out, g[i]);
  }
  return out;
}

// --- Domainpart mapping -----------------------------------------------------

using unicode::map_width;
using unicode::nfc;

// The RFC 5895 §2 mapping for a whole domainpart: fullwidth and halfwidth
// code points to their decomposition mappings (step 2; done first, as the
// PRECIS profiles do, so that the lowercasing sees ordinary letters), upper
// case to lower case (step 1), NFC (step 3), and the ideographic full stops
// U+3002, U+FF0E and U+FF61 to '.' (step 4, RFC 7622 §3.2). Compatibility
// characters are deliberately not folded (no NFKC, no UTS #46): a domain
// written with them is invalid, not an alias. Returns false on ill-formed
// UTF-8.
bool map_domain(std::string_view in, std::string& out) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(in.data());
  const auto length = static_cast<int32_t>(in.size());
  icu::UnicodeString decoded;
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) return false;
    decoded.append(c);
  }
  icu::UnicodeString s = map_width(decoded);
  s.toLower(icu::Locale::getRoot());
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString normalized = nfc().normalize(s, status);
  if (U_FAILURE(status) || normalized.isBogus()) std::abort();
  normalized.findAndReplace(icu::UnicodeString(UChar32{0x3002}), icu::UnicodeString(u'.'));
  out.clear();
  normalized.toUTF8String(out);
  return true;
}

bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// map_domain() for ASCII input, without ICU: no ASCII code point has a width
// mapping, lowercasing changes only A-Z, ASCII is already in NFC, and the
// ideographic full stops are not ASCII. Controls and other octets that the
// label rules refuse later are copied as they are, exactly as map_domain()
// does.
void map_ascii_domain(std::string_view in, std::string& out) {
  out.assign(in);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

// True when a label of the mapped domainpart |mapped| starts with "xn--",
// i.e. enforce_label() may turn it into a non-ASCII U-label.
bool has_alabel(std::string_view mapped) {
  return mapped.starts_with("xn--") || mapped.find(".xn--") != std::string_view::npos;
}

// NR-LDH label (RFC 5890 §2.3.1): letters, digits and hyphens, no hyphen at
// either end, and not a reserved "??--" label (those are A-labels or
// reserved for future prefixes). |label| is already lower case.
bool is_nr_ldh(std::string_view label) {
  if (label.empty() || label.front() == '-' || label.back() == '-') return false;
  if (label.size() >= 4 && label[2] == '-' && label[3] == '-') return false;
  for (const char c : label) {
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) return false;
  }
  return true;
}

JidError idn2_error(int rc) {
  if (rc == IDN2_MALLOC) std::abort();  // OOM: conventions.md §4
  // libidn2 encodes into a 63-octet buffer, so an A-label that would be too
  // long surfaces as IDN2_PUNYCODE_BIG_OUTPUT rather than IDN2_TOO_BIG_LABEL.
  if (rc == IDN2_TOO_BIG_LABEL || rc == IDN2_TOO_BIG_DOMAIN || rc == IDN2_PUNYCODE_BIG_OUTPUT) {
    return JidError::kLabelTooLong;
  }
  return JidError::kInvalidDomain;
}

// Validates a non-ASCII label as an IDNA2008 U-label (RFC 5891 §5.4: code
// points PVALID or passing their CONTEXTJ/CONTEXTO rules, hyphen rules, no
// leading combining mark, the Bidi Rule) and returns its A-label in
// |alabel|. IDN2_NO_TR46 keeps UTS #46 mapping off: the RFC 5895 mapping was
// already applied, and UTS #46 would silently fold compatibility characters
// such as U+1D2E MODIFIER LETTER CAPITAL B into 'b'. The A-label is at most
// 63 octets (IDN2_TOO_BIG_LABEL otherwise).
JidError to_alabel(const std::string& ulabel, std::string& alabel) {
  uint8_t* result = nullptr;
  const int rc =
      idn2_lookup_u8(reinterpret_cast<const uint8_t*>(ulabel.c_str()), &result, IDN2_NO_TR46);
  if (rc != IDN2_OK) {
    idn2_free(result);
    return idn2_error(rc);
  }
  alabel.assign(reinterpret_cast<const char*>(result));
  idn2_free(result);
  return JidError::kOk;
}

// Enforces one label of a mapped domainpart and appends its stored form to
// |out|. A-labels are stored as their U-labels (RFC 7622 §3.2.1: "each
// A-label MUST be converted to a U-label"), so "xn--bcher-kva" and "bücher"
// give the same Jid.
JidError enforce_label(std::string_view label, std::string& out) {
  if (label.empty()) return JidError::kInvalidDomain;  // "a..b", ".a"
  // A label is a C string for libidn2, and an embedded NUL would truncate it.
  if (label.find('\0') != std::string_view::npos) return JidError::kInvalidDomain;
  if (is_ascii(label)) {
    if (label.size() > Jid::kMaxLabelBytes) return JidError::kLabelTooLong;
    if (label.size() >= 4 && label.substr(0, 4) == "xn--") {
      // Decode, then require that the U-label is valid and encodes back to
      // exactly this A-label (RFC 5891 §5.4, RFC 5890 §2.3.2.1): a
      // syntactically fine but non-canonical A-label is a spoofing vector.
      const std::string alabel(label);
      char* decoded = nullptr;
      const int rc = idn2_to_unicode_8z8z(alabel.c_str(), &decoded, 0);
      if (rc != IDN2_OK) {
        idn2_free(decoded);
        return idn2_error(rc);
      }
      const std::string ulabel(decoded);
      idn2_free(decoded);
      if (is_ascii(ulabel)) return JidError::kInvalidDomain;
      std::string again;
      const JidError e = to_alabel(ulabel, again);
      if (e != JidError::kOk) return e;
      if (again != alabel) return JidError::kInvalidDomain;
      // The stored U-label must survive the RFC 5895 mapping unchanged, or
      // str() would not parse back to this Jid. IDNA2008 and lowercasing
      // disagree for Cherokee: U+13A1 CHEROKEE LETTER E is PVALID, but it
      // lowercases to U+AB71, which IDNA2008 disallows, so an A-label for
      // it has no spelling that this parser keeps; it is refused.
      std::string remapped;
      if (!map_domain(ulabel, remapped) || remapped != ulabel) return JidError::kInvalidDomain;
      out += ulabel;
      return JidError::kOk;
    }
    if (!is_nr_ldh(label)) return JidError::kInvalidDomain;
    out += label;
    return JidError::kOk;
  }
  const std::string ulabel(label);
  std::string alabel;
  const JidError e = to_alabel(ulabel, alabel);
  if (e != JidError::kOk) return e;
  out += ulabel;
  return JidError::kOk;
}

// Code points of a label that enforce_label() accepted (so well-formed).
std::vector<UChar32> code_points(std::string_view label) {
  std::vector<UChar32> cps;
  const auto* bytes = reinterpret_cast<const uint8_t*>(label.data());
  const auto length = static_cast<int32_t>(label.size());
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    cps.push_back(c);
  }
  return cps;
}

// RFC 5893 §1.4: an RTL label holds a code point of Bidi class R, AL or AN.
bool is_rtl_label(const std::vector<UChar32>& cps) {
  for (const UChar32 c : cps) {
    const UCharDirection d = u_charDirection(c);
    if (d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER) return true;
  }
  return false;
}

// The six conditions of the Bidi Rule (RFC 5893 §2) for one label. libidn2
// checks them only inside a label that is itself RTL; RFC 5893 §2 applies
// them to every label of a domain name that has any RTL label, which is
// what rejects "9abc.\u05D0\u05D1" (an LTR label may not start with a digit
// there), so enforce_domain() applies this across labels.
bool satisfies_bidi_rule(const std::vector<UChar32>& cps) {
  if (cps.empty()) return false;
  const UCharDirection first = u_charDirection(cps.front());
  const bool rtl = first == U_RIGHT_TO_LEFT || first == U_RIGHT_TO_LEFT_ARABIC;
  if (!rtl && first != U_LEFT_TO_RIGHT) return false;  // condition 1
  bool has_en = false;
  bool has_an = false;
  for (const UChar32 c : cps) {
    const UCharDirection d = u_charDirection(c);
    has_en = has_en || d == U_EUROPEAN_NUMBER;
    has_an = has_an || d == U_ARABIC_NUMBER;
    switch (d) {
      case U_EUROPEAN_NUMBER:
      case U_EUROPEAN_NUMBER_SEPARATOR:
      case U_COMMON_NUMBER_SEPARATOR:
      case U_EUROPEAN_NUMBER_TERMINATOR:
      case U_OTHER_NEUTRAL:
      case U_BOUNDARY_NEUTRAL:
      case U_DIR_NON_SPACING_MARK:
        break;  // conditions 2 and 5 both allow these
      case U_RIGHT_TO_LEFT:
      case U_RIGHT_TO_LEFT_ARABIC:
      case U_ARABIC_NUMBER:
        if (!rtl) return false;  // condition 5
        break;
      case U_LEFT_TO_RIGHT:
        if (rtl) return false;  // condition 2
        break;
      default:
        return false;
    }
  }
  if (rtl && has_en && has_an) return false;  // condition 4
  std::size_t end = cps.size();
  while (end > 0 && u_charDirection(cps[end - 1]) == U_DIR_NON_SPACING_MARK) --end;
  if (end == 0) return false;
  const UCharDirection last = u_charDirection(cps[end - 1]);
  if (rtl) {  // condition 3
    return last == U_RIGHT_TO_LEFT || last == U_RIGHT_TO_LEFT_ARABIC || last == U_EUROPEAN_NUMBER ||
           last == U_ARABIC_NUMBER;
  }
  return last == U_LEFT_TO_RIGHT || last == U_EUROPEAN_NUMBER;  // condition 6
}

// RFC 7622 §3.2: a domainpart is an IP literal or a fully qualified domain
// name. The stored form is the lower-case, U-label form without a trailing
// dot. With |fast|, ASCII input is mapped without ICU; everything after the
// mapping is the same code on both paths, except the Bidi bookkeeping that
// an all-LDH name cannot need.
JidError enforce_domain(std::string_view in, std::string& out, bool fast) {
  if (in.empty()) return JidError::kEmptyDomain;
  if (in.size() > kMaxRawPartBytes) return JidError::kDomainTooLong;

  // IPv6 literal, RFC 7622 §3.2.1 / RFC 3986 §3.2.2 IP-literal.
  if (in.front() == '[') {
    std::array<uint16_t, 8> addr{};
    if (in.size() < 2 || in.back() != ']' || !parse_ipv6(in.substr(1, in.size() - 2), addr)) {
      return JidError::kInvalidIpLiteral;
    }
    out = "[" + format_ipv6(addr) + "]";
    return JidError::kOk;
  }

  const bool ascii = fast && is_ascii(in);
  std::string mapped;
  if (ascii) {
    map_ascii_domain(in, mapped);
  } else if (!map_domain(in, mapped)) {
    return JidError::kInvalidDomain;
  }
  // RFC 7622 §3.2.1: one trailing label separator is stripped, so
  // "example.com." and "example.com" are the same domain. Only one: the
  // remainder of "example.com.." still has an empty label.
  if (!mapped.empty() && mapped.back() == '.') mapped.pop_back();
  if (mapped.empty()) return JidError::kEmptyDomain;

  // A name made only of digits and dots is an IPv4 literal attempt: no
  // top-level domain is all-numeric (RFC 3696 §2), so "1.2.3" or "256.0.0.1"
  // is a malformed address, not a host name.
  if (mapped.find_first_not_of("0123456789.") == std::string::npos) {
    std::array<uint8_t, 4> v4{};
    if (!parse_ipv4(mapped, v4)) return JidError::kInvalidIpLiteral;
    out = std::move(mapped);
    return JidError::kOk;
  }

  // Without an A-label every label of an ASCII name stays ASCII (or is
  // refused), and no ASCII code point has Bidi class R, AL or AN (RFC 5893
  // §1.4), so the name is never a Bidi domain name and the per-label code
  // points need not be collected.
  const bool ldh_only = ascii && !has_alabel(mapped);
  std::string result;
  std::vector<std::vector<UChar32>> labels;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = mapped.find('.', start);
    const std::string_view label =
        std::string_view(mapped).substr(start, dot == std::string::npos ? dot : dot - start);
    const std::size_t label_start = result.size();
    const JidError e = enforce_label(label, result);
    if (e != JidError::kOk) return e;
    if (!ldh_only) labels.push_back(code_points(std::string_view(result).substr(label_start)));
    if (dot == std::string::npos) break;
    result.push_back('.');
    start = dot + 1;
  }
  // RFC 5893 §2: in a Bidi domain name every label satisfies the Bidi Rule.
  bool bidi_domain = false;
  for (const auto& cps : labels) bidi_domain = bidi_domain || is_rtl_label(cps);
  if (bidi_domain) {
    for (const auto& cps : labels) {
      if (!satisfies_bidi_rule(cps)) return JidError::kInvalidDomain;
    }
  }
  // RFC 7622 §3.2: at most 1023 octets, measured on the stored form.
  if (result.size() > Jid::kMaxPartBytes) return JidError::kDomainTooLong;
  out = std::move(result);
  return JidError::kOk;
}

}  // namespace

std::string_view jid_error_name(JidError error) {
  switch (error) {
    case JidError::kOk:
      return "ok";
#define XD_X(e, n, m) \
  case JidError::e:   \
    return n;
      XD_JID_ERRORS(XD_X)
#undef XD_X
    case JidError::kFirst_:
    case JidError::kLast_:
      break;
  }
  return "unknown";
}

std::string_view jid_error_message(JidError error) {
  switch (error) {
    case JidError::kOk:
      return "parsed and enforced";
#define XD_X(e, n, m) \
  case JidError::e:   \
    return m;
      XD_JID_ERRORS(XD_X)
#undef XD_X
    case JidError::kFirst_:
    case JidError::kLast_:
      break;
  }
  return "unknown error";
}

JidError Jid::from_parts(std::string_view local, std::string_view domain, std::string_view resource,
                         Jid& out) {
  return enforce_parts(local, domain, resource, /*ascii_fast_path=*/true, out);
}

JidError Jid::from_parts_icu_for_test(std::string_view local, std::string_view domain,
                                      std::string_view resource, Jid& out) {
  return enforce_parts(local, domain, resource, /*ascii_fast_path=*/false, out);
}

JidError Jid::enforce_parts(std::string_view local, std::string_view domain,
                            std::string_view resource, bool ascii_fast_path, Jid& out) {
  // Built in a temporary so that |out| is untouched on error.
  Jid jid;
  if (!local.empty()) {
    const JidError e = enforce_local(local, jid.local_, ascii_fast_path);
    if (e != JidError::kOk) return e;
  }
  const JidError e = enforce_domain(domain, jid.domain_, ascii_fast_path);
  if (e != JidError::kOk) return e;
  if (!resource.empty()) {
    const JidError r = enforce_resource(resource, jid.resource_, ascii_fast_path);
    if (r != JidError::kOk) return r;
  }
  out = std::move(jid);
  return JidError::kOk;
}

JidError Jid::parse(std::string_view text, Jid& out) {
  if (text.empty()) return JidError::kEmpty;
  // RFC 7622 §3.1: the resourcepart is everything after the first '/'. It
  // may itself contain '/' and '@' ("a.example.com/b@example.net" has
  // domainpart "a.example.com").
  std::string_view rest = text;
  std::string_view resource;
  bool has_resource = false;
  if (const std::size_t slash = text.find('/'); slash != std::string_view::npos) {
    resource = text.substr(slash + 1);
    rest = text.substr(0, slash);
    has_resource = true;
  }
  // Then the localpart is everything before the first '@' of what is left;
  // a second '@' ("a@@host") lands in the domainpart and fails there.
  std::string_view local;
  bool has_local = false;
  if (const std::size_t at = rest.find('@'); at != std::string_view::npos) {
    local = rest.substr(0, at);
    rest = rest.substr(at + 1);
    has_local = true;
  }
  // RFC 7622 §3.3 and §3.4: a separator present means the part is present,
  // and a present part must not be empty.
  if (has_local && local.empty()) return JidError::kEmptyLocal;
  if (rest.empty()) return JidError::kEmptyDomain;
  if (has_resource && resource.empty()) return JidError::kEmptyResource;
  return from_parts(local, rest, resource, out);
}

Jid Jid::bare() const {
  Jid jid;
  jid.local_ = local_;
  jid.domain_ = domain_;
  return jid;
}

std::string Jid::bare_str() const {
  std::string out;
  out.reserve(local_.size() + 1 + domain_.size());
  if (!local_.empty()) {
    out += local_;
    out.push_back('@');
  }
  out += domain_;
  return out;
}

std::string Jid::str() const {
  std::string out = bare_str();
  if (!resource_.empty()) {
    out.push_back('/');
    out += resource_;
  }
  return out;
}

std::size_t JidHash::operator()(const Jid& jid) const noexcept {
  // Hash each part and mix, so ("ab", "c") and ("a", "bc") differ; the
  // parts are the enforced ones that operator== compares, so equal Jids
  // hash equally.
  const std::hash<std::string> h;
  std::size_t seed = h(jid.local());
  for (const std::string* part : {&jid.domain(), &jid.resource()}) {
    seed ^= h(*part) + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
  }
  return seed;
}

}  // namespace xd::protocol
