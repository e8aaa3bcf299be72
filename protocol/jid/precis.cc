// PRECIS (RFC 8264) string classes and the two RFC 8265 profiles that XMPP
// addresses and SASL need. Every Unicode property comes from ICU; the only
// code points written out here are the RFC 5892 §2.6 exceptions, which
// RFC 8264 §9.6 incorporates by reference as a short fixed list.
#include "protocol/jid/precis.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "protocol/jid/unicode_support.h"

namespace xd::protocol {
namespace {

// ICU keeps string lengths in int32_t, and case mapping can triple a string.
// No protocol slot comes near this (JID parts are capped at 1023 octets,
// passwords far lower by the SASL layer), so anything longer is refused
// rather than risking an overflow inside ICU.
constexpr std::size_t kMaxInputBytes = std::size_t{64} << 20;

// The derived property values of RFC 8264 §8. kFreePval is the value the
// RFC writes "ID_DIS or FREE_PVAL": disallowed in IdentifierClass, valid in
// FreeformClass.
enum class Derived {
  kPvalid,
  kFreePval,
  kContextJ,
  kContextO,
  kDisallowed,
  kUnassigned,
};

enum class StringClass {
  kIdentifier,  // RFC 8264 §4.2
  kFreeform,    // RFC 8264 §4.3
};

using unicode::map_width;
using unicode::nfc;
using unicode::nfkc;

// Normalises |s| in place. ICU reports failure only for allocation failure
// or missing data, both environment failures, hence abort.
void normalize_in_place(const icu::Normalizer2& form, icu::UnicodeString& s) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out = form.normalize(s, status);
  if (U_FAILURE(status) || out.isBogus()) std::abort();
  s = std::move(out);
}

// Strict UTF-8 decoding: ICU's U8_NEXT rejects overlong forms, encoded
// surrogates and values above U+10FFFF (RFC 3629 §3), returning a negative
// code point for each. PRECIS is defined over code points, so anything
// ill-formed is refused before any mapping rather than repaired.
bool decode_utf8(std::string_view in, icu::UnicodeString& out) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(in.data());
  const auto length = static_cast<int32_t>(in.size());
  int32_t i = 0;
  out.remove();
  while (i < length) {
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) return false;
    out.append(c);
  }
  return true;
}

std::vector<UChar32> code_points(const icu::UnicodeString& s) {
  std::vector<UChar32> cps;
  cps.reserve(static_cast<std::size_t>(s.length()));
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) cps.push_back(s.char32At(i));
  return cps;
}

// HasCompat (RFC 8264 §9.17): toNFKC(cp) != cp. Computed on the single code
// point, so singletons such as U+212B ANGSTROM SIGN count as well as <compat>
// decompositions.
bool has_compat(UChar32 c) {
  UErrorCode status = U_ZERO_ERROR;
  const bool normalized = nfkc().isNormalized(icu::UnicodeString(c), status);
  if (U_FAILURE(status)) std::abort();
  return !normalized;
}

// The derived property algorithm of RFC 8264 §8, in its order. The order
// matters: ASCII7 is PVALID before anything else is asked, and HasCompat is
// tested before LetterDigits, which is what makes 'ᴮ' (a Lm modifier letter
// whose NFKC form is 'B') ID_DIS rather than PVALID.
Derived derived_property(UChar32 c) {
  // Exceptions (F), RFC 5892 §2.6.
  switch (c) {
    case 0x00DF:  // LATIN SMALL LETTER SHARP S
    case 0x03C2:  // GREEK SMALL LETTER FINAL SIGMA
    case 0x06FD:  // ARABIC SIGN SINDHI AMPERSAND
    case 0x06FE:  // ARABIC SIGN SINDHI POSTPOSITION MEN
    case 0x0F0B:  // TIBETAN MARK INTERSYLLABIC TSHEG
    case 0x3007:  // IDEOGRAPHIC NUMBER ZERO
      return Derived::kPvalid;
    case 0x00B7:  // MIDDLE DOT
    case 0x0375:  // GREEK LOWER NUMERAL SIGN (KERAIA)
    case 0x05F3:  // HEBREW PUNCTUATION GERESH
    case 0x05F4:  // HEBREW PUNCTUATION GERSHAYIM
    case 0x30FB:  // KATAKANA MIDDLE DOT
      return Derived::kContextO;
    case 0x0640:  // ARABIC TATWEEL
    case 0x07FA:  // NKO LAJANYALAN
    case 0x302E:  // HANGUL SINGLE DOT TONE MARK
    case 0x302F:  // HANGUL DOUBLE DOT TONE MARK
    case 0x3031:  // VERTICAL KANA REPEAT MARK ... U+3035
    case 0x3032:
    case 0x3033:
    case 0x3034:
    case 0x3035:
    case 0x303B:  // VERTICAL IDEOGRAPHIC ITERATION MARK
      return Derived::kDisallowed;
    default:
      break;
  }
  // ARABIC-INDIC and EXTENDED ARABIC-INDIC DIGITS are CONTEXTO exceptions.
  if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9)) return Derived::kContextO;

  // BackwardCompatible (G) is empty (RFC 8264 §9.7).

  const auto gc = static_cast<UCharCategory>(u_charType(c));
  // Unassigned (J), RFC 8264 §9.10: Cn but not a noncharacter.
  if (gc == U_UNASSIGNED && !u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT)) {
    return Derived::kUnassigned;
  }
  // ASCII7 (K), RFC 8264 §9.11: U+0021..U+007E.
  if (c >= 0x21 && c <= 0x7E) return Derived::kPvalid;
  // JoinControl (H), RFC 8264 §9.8.
  if (u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return Derived::kContextJ;
  // OldHangulJamo (I), RFC 8264 §9.9: conjoining jamo of type L, V or T.
  const auto hst = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
  if (hst == U_HST_LEADING_JAMO || hst == U_HST_VOWEL_JAMO || hst == U_HST_TRAILING_JAMO) {
    return Derived::kDisallowed;
  }
  // PrecisIgnorableProperties (M), RFC 8264 §9.13.
  if (u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) ||
      u_hasBinaryProperty(c, UCHAR_NONCHARACTER_CODE_POINT)) {
    return Derived::kDisallowed;
  }
  // Controls (L), RFC 8264 §9.12.
  if (gc == U_CONTROL_CHAR) return Derived::kDisallowed;
  // HasCompat (Q), RFC 8264 §9.17.
  if (has_compat(c)) return Derived::kFreePval;
  switch (gc) {
    // LetterDigits (A), RFC 8264 §9.1.
    case U_LOWERCASE_LETTER:
    case U_UPPERCASE_LETTER:
    case U_OTHER_LETTER:
    case U_DECIMAL_DIGIT_NUMBER:
    case U_MODIFIER_LETTER:
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
      return Derived::kPvalid;
    // OtherLetterDigits (R), RFC 8264 §9.18.
    case U_TITLECASE_LETTER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
    case U_ENCLOSING_MARK:
    // Spaces (N), RFC 8264 §9.14.
    case U_SPACE_SEPARATOR:
    // Symbols (O), RFC 8264 §9.15.
    case U_MATH_SYMBOL:
    case U_CURRENCY_SYMBOL:
    case U_MODIFIER_SYMBOL:
    case U_OTHER_SYMBOL:
    // Punctuation (P), RFC 8264 §9.16.
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return Derived::kFreePval;
    default:
      // Surrogates, private use, Zl, Zp and non-ignorable Cf.
      return Derived::kDisallowed;
  }
}

UScriptCode script_of(UChar32 c) {
  UErrorCode status = U_ZERO_ERROR;
  const UScriptCode script = uscript_getScript(c, &status);
  return U_FAILURE(status) ? USCRIPT_INVALID_CODE : script;
}

constexpr uint8_t kViramaCombiningClass = 9;

int32_t joining_type(UChar32 c) { return u_getIntPropertyValue(c, UCHAR_JOINING_TYPE); }

// The contextual rules of RFC 5892 Appendix A, applied to the whole string
// (where RFC 5892 says "label", PRECIS means the whole string). |i| is the
// position of the CONTEXTJ/CONTEXTO code point in |cps|.
bool context_rule_holds(const std::vector<UChar32>& cps, std::size_t i) {
  const UChar32 c = cps[i];
  const bool has_before = i > 0;
  const bool has_after = i + 1 < cps.size();
  switch (c) {
    case 0x200C: {  // ZERO WIDTH NON-JOINER, RFC 5892 A.1
      if (has_before && u_getCombiningClass(cps[i - 1]) == kViramaCombiningClass) return true;
      // (Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D})
      std::size_t j = i;
      bool left = false;
      while (j > 0) {
        const int32_t jt = joining_type(cps[--j]);
        if (jt == U_JT_TRANSPARENT) continue;
        left = jt == U_JT_LEFT_JOINING || jt == U_JT_DUAL_JOINING;
        break;
      }
      if (!left) return false;
      for (j = i + 1; j < cps.size(); ++j) {
        const int32_t jt = joining_type(cps[j]);
        if (jt == U_JT_TRANSPARENT) continue;
        return jt == U_JT_RIGHT_JOINING || jt == U_JT_DUAL_JOINING;
      }
      return false;
    }
    case 0x200D:  // ZERO WIDTH JOINER, RFC 5892 A.2
      return has_before && u_getCombiningClass(cps[i - 1]) == kViramaCombiningClass;
    case 0x00B7:  // MIDDLE DOT, RFC 5892 A.3: only in "l·l" (Catalan).
      return has_before && has_after && cps[i - 1] == 0x006C && cps[i + 1] == 0x006C;
    case 0x0375:  // GREEK LOWER NUMERAL SIGN, RFC 5892 A.4
      return has_after && script_of(cps[i + 1]) == USCRIPT_GREEK;
    case 0x05F3:  // HEBREW PUNCTUATION GERESH, RFC 5892 A.5
    case 0x05F4:  // HEBREW PUNCTUATION GERSHAYIM, RFC 5892 A.6
      return has_before && script_of(cps[i - 1]) == USCRIPT_HEBREW;
    case 0x30FB:  // KATAKANA MIDDLE DOT, RFC 5892 A.7 (itself excluded, per erratum 3312)
      for (const UChar32 other : cps) {
        if (other == 0x30FB) continue;
        const UScriptCode s = script_of(other);
        if (s == USCRIPT_HIRAGANA || s == USCRIPT_KATAKANA || s == USCRIPT_HAN) return true;
      }
      return false;
    default:
      break;
  }
  if (c >= 0x0660 && c <= 0x0669) {  // RFC 5892 A.8: no Extended Arabic-Indic digits.
    for (const UChar32 other : cps) {
      if (other >= 0x06F0 && other <= 0x06F9) return false;
    }
    return true;
  }
  if (c >= 0x06F0 && c <= 0x06F9) {  // RFC 5892 A.9: no Arabic-Indic digits.
    for (const UChar32 other : cps) {
      if (other >= 0x0660 && other <= 0x0669) return false;
    }
    return true;
  }
  return false;  // A CONTEXTJ/CONTEXTO code point with no rule is not allowed.
}

// True when every code point of |s| is allowed in |string_class|.
bool conforms(const icu::UnicodeString& s, StringClass string_class) {
  const std::vector<UChar32> cps = code_points(s);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    switch (derived_property(cps[i])) {
      case Derived::kPvalid:
        break;
      case Derived::kFreePval:
        if (string_class != StringClass::kFreeform) return false;
        break;
      case Derived::kContextJ:
      case Derived::kContextO:
        if (!context_rule_holds(cps, i)) return false;
        break;
      case Derived::kDisallowed:
      case Derived::kUnassigned:
        return false;
    }
  }
  return true;
}

// The Bidi Rule of RFC 5893 §2, applied to the whole string as one label
// (RFC 8264 §5.2.5 Directionality Rule, as RFC 8265 §3.3 selects it). Called only when
// the string holds an RTL code point.
bool bidi_rule_holds(const std::vector<UChar32>& cps) {
  if (cps.empty()) return true;
  const UCharDirection first = u_charDirection(cps.front());
  bool rtl;
  if (first == U_RIGHT_TO_LEFT || first == U_RIGHT_TO_LEFT_ARABIC) {
    rtl = true;  // Rule 1: an RTL label starts with R or AL.
  } else if (first == U_LEFT_TO_RIGHT) {
    rtl = false;  // Rule 1: an LTR label starts with L.
  } else {
    return false;
  }
  bool has_en = false;
  bool has_an = false;
  for (const UChar32 c : cps) {
    const UCharDirection d = u_charDirection(c);
    has_en = has_en || d == U_EUROPEAN_NUMBER;
    has_an = has_an || d == U_ARABIC_NUMBER;
    bool allowed = false;
    switch (d) {
      case U_EUROPEAN_NUMBER:
      case U_EUROPEAN_NUMBER_SEPARATOR:
      case U_COMMON_NUMBER_SEPARATOR:
      case U_EUROPEAN_NUMBER_TERMINATOR:
      case U_OTHER_NEUTRAL:
      case U_BOUNDARY_NEUTRAL:
      case U_DIR_NON_SPACING_MARK:
        allowed = true;  // Allowed in both directions (rules 2 and 5).
        break;
      case U_RIGHT_TO_LEFT:
      case U_RIGHT_TO_LEFT_ARABIC:
      case U_ARABIC_NUMBER:
        allowed = rtl;  // Rule 2 only.
        break;
      case U_LEFT_TO_RIGHT:
        allowed = !rtl;  // Rule 5 only.
        break;
      default:
        allowed = false;
        break;
    }
    if (!allowed) return false;
  }
  // Rule 4: an RTL label never mixes EN and AN.
  if (rtl && has_en && has_an) return false;
  // Rules 3 and 6: the last code point that is not NSM decides.
  std::size_t end = cps.size();
  while (end > 0 && u_charDirection(cps[end - 1]) == U_DIR_NON_SPACING_MARK) --end;
  if (end == 0) return false;
  const UCharDirection last = u_charDirection(cps[end - 1]);
  if (rtl) {
    return last == U_RIGHT_TO_LEFT || last == U_RIGHT_TO_LEFT_ARABIC || last == U_EUROPEAN_NUMBER ||
           last == U_ARABIC_NUMBER;
  }
  return last == U_LEFT_TO_RIGHT || last == U_EUROPEAN_NUMBER;
}

// RFC 5893 §1.4: a label is RTL when it holds any code point of Bidi class
// R, AL or AN; only such strings are subject to the Bidi Rule.
bool has_rtl(const std::vector<UChar32>& cps) {
  for (const UChar32 c : cps) {
    const UCharDirection d = u_charDirection(c);
    if (d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC || d == U_ARABIC_NUMBER) return true;
  }
  return false;
}

void to_utf8(const icu::UnicodeString& s, std::string& out) {
  out.clear();
  s.toUTF8String(out);
}

// --- ASCII fast path ---------------------------------------------------------
//
// Nearly every username, resourcepart and password on the wire is ASCII,
// and ICU costs far more than the rules themselves for such input (about a
// fifth of the server's CPU per message, docs/performance.md). For ASCII
// the general algorithm above reduces, step by step, to a table-free check:
// no ASCII code point is Unassigned, has a width mapping (Decomposition_Type
// Wide or Narrow) or a compatibility decomposition; derived_property() makes
// U+0021..U+007E PVALID (ASCII7), U+0020 FREE_PVAL (Spaces) and U+0000..U+001F
// and U+007F DISALLOWED (Controls); the only case mapping is A-Z to a-z; an
// ASCII string is already in NFC; and no ASCII code point has Bidi class R,
// AL or AN, so the Bidi Rule never applies. The differential tests in
// tests/unit/protocol/jid/precis_test.cc compare both paths on every string
// of up to three octets over printable ASCII and a few controls, every
// string of up to two ASCII octets, and pseudo-random longer ones.

bool is_ascii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// ASCII7, RFC 8264 §9.11: the ASCII code points that are PVALID.
bool is_ascii7(unsigned char c) { return c >= 0x21 && c <= 0x7E; }

// UsernameCaseMapped for a non-empty |in| of at most kMaxInputBytes ASCII
// octets: IdentifierClass admits ASCII7 only, and case mapping lowercases.
PrecisError username_case_mapped_ascii(std::string_view in, std::string& out) {
  out.assign(in);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (!is_ascii7(u)) return PrecisError::kDisallowed;
    if (u >= 'A' && u <= 'Z') c = static_cast<char>(u - 'A' + 'a');
  }
  return PrecisError::kOk;
}

// OpaqueString for a non-empty |in| of at most kMaxInputBytes ASCII octets:
// FreeformClass admits ASCII7 and U+0020, which the space mapping keeps; the
// string is returned as it is.
PrecisError opaque_string_ascii(std::string_view in, std::string& out) {
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if (!is_ascii7(u) && u != 0x20) return PrecisError::kDisallowed;
  }
  out.assign(in);
  return PrecisError::kOk;
}

}  // namespace

std::string_view precis_error_name(PrecisError error) {
  switch (error) {
    case PrecisError::kOk:
      return "ok";
    case PrecisError::kInvalidUtf8:
      return "invalid-utf8";
    case PrecisError::kEmpty:
      return "empty";
    case PrecisError::kDisallowed:
      return "disallowed";
    case PrecisError::kBidi:
      return "bidi";
  }
  return "unknown";
}

// The empty and size checks come first on both paths, in the same order,
// so an oversized string is kDisallowed whatever it holds.
PrecisError username_case_mapped(std::string_view in, std::string& out) {
  if (!is_ascii(in)) return detail::username_case_mapped_icu(in, out);
  if (in.empty()) return PrecisError::kEmpty;
  if (in.size() > kMaxInputBytes) return PrecisError::kDisallowed;
  return username_case_mapped_ascii(in, out);
}

PrecisError opaque_string(std::string_view in, std::string& out) {
  if (!is_ascii(in)) return detail::opaque_string_icu(in, out);
  if (in.empty()) return PrecisError::kEmpty;
  if (in.size() > kMaxInputBytes) return PrecisError::kDisallowed;
  return opaque_string_ascii(in, out);
}

namespace detail {

// RFC 8265 §3.3: enforcement is preparation (width mapping, then the
// IdentifierClass check) followed by the rules in the order of RFC 8264 §7:
// width, additional mapping (none), case mapping, normalisation,
// directionality, and finally the non-empty check.
PrecisError username_case_mapped_icu(std::string_view in, std::string& out) {
  if (in.empty()) return PrecisError::kEmpty;
  if (in.size() > kMaxInputBytes) return PrecisError::kDisallowed;
  icu::UnicodeString s;
  if (!decode_utf8(in, s)) return PrecisError::kInvalidUtf8;

  s = map_width(s);
  // Preparation (RFC 8265 §3.3): only IdentifierClass code points, checked
  // before case mapping so that, e.g., U+212A KELVIN SIGN (HasCompat) is
  // rejected rather than lowercased into an ASCII 'k'.
  if (!conforms(s, StringClass::kIdentifier)) return PrecisError::kDisallowed;

  // Case Mapping Rule (RFC 8264 §5.2.3, RFC 8265 §3.3): Unicode toLowerCase, the
  // language-neutral full mapping (root locale, so no Turkish dotless i).
  s.toLower(icu::Locale::getRoot());
  if (s.isBogus()) std::abort();
  // Normalization Rule: NFC.
  normalize_in_place(nfc(), s);
  // Lowercasing can emit sequences (U+0130 → "i" U+0307) and NFC can compose
  // them; checking the final string as well keeps the output inside the
  // class, which is what makes enforcement idempotent.
  if (!conforms(s, StringClass::kIdentifier)) return PrecisError::kDisallowed;

  // Directionality Rule: the Bidi Rule applies when any RTL code point is
  // present.
  const std::vector<UChar32> cps = code_points(s);
  if (has_rtl(cps) && !bidi_rule_holds(cps)) return PrecisError::kBidi;

  if (s.isEmpty()) return PrecisError::kEmpty;
  to_utf8(s, out);
  return PrecisError::kOk;
}

// RFC 8265 §4.2: preparation (FreeformClass check), then
// width mapping (none: fullwidth code points are kept), additional mapping
// (non-ASCII spaces to U+0020), case mapping (none), NFC, directionality
// (none), and the non-empty check.
PrecisError opaque_string_icu(std::string_view in, std::string& out) {
  if (in.empty()) return PrecisError::kEmpty;
  if (in.size() > kMaxInputBytes) return PrecisError::kDisallowed;
  icu::UnicodeString s;
  if (!decode_utf8(in, s)) return PrecisError::kInvalidUtf8;
  if (!conforms(s, StringClass::kFreeform)) return PrecisError::kDisallowed;

  // Additional Mapping Rule (RFC 8265 §4.2): any code point of General
  // Category Zs other than U+0020 becomes U+0020. Done before NFC because
  // some spaces (U+2000 EN QUAD) have canonical singleton decompositions.
  icu::UnicodeString mapped;
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) {
    const UChar32 c = s.char32At(i);
    mapped.append(u_charType(c) == U_SPACE_SEPARATOR ? UChar32{0x20} : c);
  }
  normalize_in_place(nfc(), mapped);
  if (!conforms(mapped, StringClass::kFreeform)) return PrecisError::kDisallowed;

  if (mapped.isEmpty()) return PrecisError::kEmpty;
  to_utf8(mapped, out);
  return PrecisError::kOk;
}

}  // namespace detail
}  // namespace xd::protocol
