// Tests for protocol/jid/precis.h: the RFC 8265 examples, the PRECIS
// derived-property corner cases, and hostile-inputs.md case 45 (compatibility
// look-alikes rejected, width and case variants folded, idempotence).
#include "protocol/jid/precis.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <ios>
#include <string>
#include <string_view>
#include <vector>

#include "tests/unit/protocol/jid/ascii_inputs.h"

namespace xd::protocol {
namespace {

// Enforces |in| and returns the output, or "<error-name>" on failure, so a
// failing CHECK prints both sides readably.
std::string user(std::string_view in) {
  std::string out;
  const PrecisError e = username_case_mapped(in, out);
  return e == PrecisError::kOk ? out : "<" + std::string(precis_error_name(e)) + ">";
}

std::string opaque(std::string_view in) {
  std::string out;
  const PrecisError e = opaque_string(in, out);
  return e == PrecisError::kOk ? out : "<" + std::string(precis_error_name(e)) + ">";
}

PrecisError user_error(std::string_view in) {
  std::string out;
  return username_case_mapped(in, out);
}

PrecisError opaque_error(std::string_view in) {
  std::string out;
  return opaque_string(in, out);
}

// Encodes one code point as UTF-8 (test-side helper; the code under test
// decodes with ICU).
std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (c >> 6)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (c >> 12)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (c >> 18)));
    s.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
  return s;
}

// A corpus of strings for the idempotence checks: the RFC examples, the
// case-45 look-alikes, and strings chosen because one enforcement step
// changes them (case, width, composition, spaces, final sigma, dotted I).
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> strings = {
      "juliet",
      "BigBird",
      "bigbird",
      "ｂｉｇｂｉｒｄ",
      "ＢＩＧＢＩＲＤ",
      "ᴮᴵᴳᴮᴵᴿᴰ",
      "fussball",
      "fußball",
      "FUSSBALL",
      "ẞ",
      "π",
      "Σ",
      "σ",
      "ς",
      "ΣΑΣ",
      "ὈΔΥΣΣΕΎΣ",
      "İstanbul",
      "ΐ",
      "Å",
      "A\u030A",
      "Ω",
      "\u2126",
      "\u212B",
      "\u212A",
      "ǅ",
      "ǆ",
      "ｶﾞ",
      "ｶ\uFF9E",
      "ﾊﾟ",
      "Ⅳ",
      "henry\u2163",
      "♚",
      "foo bar",
      "foo\u00A0bar",
      "foo\u1680bar",
      "foo\u2000bar",
      "\u3000",
      "a\u200Db",
      "क्\u200Dष",
      "l·l",
      "a·b",
      "\u0375α",
      "א\u05F3",
      "ア・イ",
      "\u0628\u0660",
      "\u05D0\u05D1",
      "\u05D01",
      "a\u05D0",
      "\u0627\u0644\u0639\u0631\u0628\u064A\u0629",
      "한국어",
      "\u1100\u1161\u11A8",
      "日本語",
      "Ǆemal",
      "ﬀ",
      "\u0345",
      "Ι\u0345",
      "ᾼ",
      "ᾳ",
      "ǰ",
      "J\u030C",
      "ǈ",
      "Ａ\u0301",
      "correct horse battery staple",
      "Correct Horse Battery Staple",
      "πßå",
      "Jack of ♦s",
      "\u0130",
      "i\u0307",
      "\u1E9B\u0323",
      "\u0041\u0308\u0304",
      "\u01DE",
      "ℌ",
      "ﬁ",
      "\u0958",
      "\u0915\u093C",
      "\uFB2C",
      "\u2ADC",
      "\u1F80",
      "\u1F88",
      "ﾞ",
      "\u3099",
      "x\u0301\u0327",
      "\u00C7",
      "c\u0327",
      "ǅemal",
      "Ŀ",
      "ŀ",
      "ŉ",
      "\u0149x",
  };
  return strings;
}

TEST_SUITE("precis") {
  TEST_CASE("error names are stable and distinct") {
    CHECK(precis_error_name(PrecisError::kOk) == "ok");
    CHECK(precis_error_name(PrecisError::kInvalidUtf8) == "invalid-utf8");
    CHECK(precis_error_name(PrecisError::kEmpty) == "empty");
    CHECK(precis_error_name(PrecisError::kDisallowed) == "disallowed");
    CHECK(precis_error_name(PrecisError::kBidi) == "bidi");
  }

  TEST_CASE("UsernameCaseMapped: RFC 8265 §3.6 examples") {
    // Valid.
    CHECK(user("juliet@example.com") == "juliet@example.com");
    CHECK(user("fussball") == "fussball");
    CHECK(user("fußball") == "fußball");  // ß is PVALID and toLowerCase keeps it
    CHECK(user("π") == "π");
    CHECK(user("Σ") == "σ");
    CHECK(user("σ") == "σ");
    CHECK(user("ς") == "ς");  // final sigma is its own PVALID code point
    // Invalid.
    CHECK(user_error("foo bar") == PrecisError::kDisallowed);  // space
    CHECK(user_error("") == PrecisError::kEmpty);
    CHECK(user_error("henry\u2163") == PrecisError::kDisallowed);  // ROMAN NUMERAL FOUR
    CHECK(user_error("♚") == PrecisError::kDisallowed);            // symbol
  }

  TEST_CASE("case 45: compatibility look-alikes are rejected, never folded") {
    CHECK(user_error("ᴮᴵᴳᴮᴵᴿᴰ") == PrecisError::kDisallowed);
    CHECK(user_error("ᴮigbird") == PrecisError::kDisallowed);
    CHECK(user_error("\u212Aelvin") == PrecisError::kDisallowed);  // KELVIN SIGN, not 'k'
    CHECK(user_error("\u2126") == PrecisError::kDisallowed);       // OHM SIGN
    CHECK(user_error("\u212B") == PrecisError::kDisallowed);       // ANGSTROM SIGN
    CHECK(user_error("ﬁ") == PrecisError::kDisallowed);            // ligature
    CHECK(user_error("ℌ") == PrecisError::kDisallowed);            // font variant
    CHECK(user_error("²") == PrecisError::kDisallowed);            // superscript
    CHECK(user_error("ǅ") == PrecisError::kDisallowed);            // titlecase digraph
  }

  TEST_CASE("case 45: width and case variants enforce to the same string") {
    CHECK(user("ｂｉｇｂｉｒｄ") == "bigbird");
    CHECK(user("ＢＩＧＢＩＲＤ") == "bigbird");
    CHECK(user("BigBird") == "bigbird");
    CHECK(user("bigbird") == "bigbird");
    // Halfwidth katakana map to their full forms, and NFC then composes the
    // halfwidth voiced sound mark.
    CHECK(user("ｶ") == "カ");
    CHECK(user("ｶﾞ") == "ガ");
    CHECK(user("ガ") == "ガ");
  }

  TEST_CASE("UsernameCaseMapped: case mapping is toLowerCase and NFC follows") {
    CHECK(user("A\u030A") == "å");
    CHECK(user("\u00C5") == "å");
    CHECK(user("c\u0327") == "ç");
    CHECK(user("\u0052\u030C") == "ř");
    CHECK(user("\u0410") == "\u0430");  // Cyrillic stays Cyrillic (no confusable mapping)
    // Language-neutral full lowercasing: U+0130 becomes "i" + COMBINING DOT
    // ABOVE, not a Turkish dotless form.
    CHECK(user("\u0130") == "i\u0307");
    // Final_Sigma context of toLowerCase.
    CHECK(user("ΣΑΣ") == "σας");
    CHECK(user("ẞ") == "ß");
  }

  TEST_CASE("UsernameCaseMapped: derived property categories") {
    CHECK(user("~!") == "~!");                            // ASCII7
    CHECK(user_error("\t") == PrecisError::kDisallowed);  // Controls
    CHECK(user_error(std::string_view("a\0b", 3)) == PrecisError::kDisallowed);
    CHECK(user_error("a\u00ADb") == PrecisError::kDisallowed);    // default ignorable
    CHECK(user_error("a\u200Bb") == PrecisError::kDisallowed);    // ZWSP, default ignorable
    CHECK(user_error("\uFDD0") == PrecisError::kDisallowed);      // noncharacter
    CHECK(user_error("\U0010FFFF") == PrecisError::kDisallowed);  // noncharacter
    CHECK(user_error("\u0378") == PrecisError::kDisallowed);      // unassigned
    CHECK(user_error("\uE000") == PrecisError::kDisallowed);      // private use
    CHECK(user_error("\u1100") == PrecisError::kDisallowed);      // old Hangul jamo
    CHECK(user("한국어") == "한국어");                            // Hangul syllables
    CHECK(user_error("\u16EE") == PrecisError::kDisallowed);      // Nl
    CHECK(user_error("\u0488") == PrecisError::kDisallowed);      // Me
    CHECK(user_error("a\u2028b") == PrecisError::kDisallowed);    // Zl
    CHECK(user_error("!\u2019") == PrecisError::kDisallowed);     // punctuation beyond ASCII
    // RFC 5892 §2.6 exceptions.
    CHECK(user("\u3007") == "\u3007");                              // PVALID exception
    CHECK(user_error("\u0628\u0640") == PrecisError::kDisallowed);  // ARABIC TATWEEL
    CHECK(user_error("\u302E") == PrecisError::kDisallowed);
  }

  TEST_CASE("UsernameCaseMapped: CONTEXTJ and CONTEXTO rules of RFC 5892 appendix A") {
    CHECK(user("l·l") == "l·l");  // A.3, Catalan
    CHECK(user_error("a·b") == PrecisError::kDisallowed);
    CHECK(user_error("·") == PrecisError::kDisallowed);
    CHECK(user("क्\u200Dष") == "क्\u200Dष");  // A.2, after virama
    CHECK(user_error("a\u200Db") == PrecisError::kDisallowed);
    CHECK(user("क्\u200Cष") == "क्\u200Cष");  // A.1, after virama
    CHECK(user_error("a\u200Cb") == PrecisError::kDisallowed);
    CHECK(user("\u0375α") == "\u0375α");  // A.4, before Greek
    CHECK(user_error("\u0375a") == PrecisError::kDisallowed);
    CHECK(user("ア・イ") == "ア・イ");  // A.7
    CHECK(user_error("a・b") == PrecisError::kDisallowed);
    CHECK(user("\u0628\u0660") == "\u0628\u0660");                        // A.8
    CHECK(user_error("\u0628\u0660\u06F0") == PrecisError::kDisallowed);  // A.8/A.9 mix
  }

  TEST_CASE("UsernameCaseMapped: the Bidi Rule applies when an RTL code point is present") {
    CHECK(user("\u05D0\u05D1") == "\u05D0\u05D1");
    CHECK(user("\u05D01") == "\u05D01");  // RTL may end in EN (rule 3)
    CHECK(user("\u0627\u0644\u0639\u0631\u0628\u064A\u0629") ==
          "\u0627\u0644\u0639\u0631\u0628\u064A\u0629");
    CHECK(user_error("a\u05D0") == PrecisError::kBidi);        // L label with R (rule 5)
    CHECK(user_error("\u05D0a") == PrecisError::kBidi);        // R label with L (rule 2)
    CHECK(user_error("1\u05D0") == PrecisError::kBidi);        // starts with EN (rule 1)
    CHECK(user_error("\u06281\u0660") == PrecisError::kBidi);  // EN and AN mixed (rule 4)
    CHECK(user_error("\u05D0!") == PrecisError::kBidi);        // RTL ends in ON (rule 3)
    CHECK(user("abc") == "abc");                               // no RTL: rule not applied
    CHECK(user("a!") == "a!");                                 // LTR rule not applied either
  }

  TEST_CASE("ill-formed UTF-8 is refused by both profiles") {
    for (const std::string_view bad : {
             std::string_view("\xC0\x80", 2),       // overlong NUL
             std::string_view("\xE0\x80\xAF"),      // overlong '/'
             std::string_view("\xED\xA0\x80"),      // encoded surrogate
             std::string_view("\xF4\x90\x80\x80"),  // above U+10FFFF
             std::string_view("a\xE2\x82"),         // truncated
             std::string_view("\x80"),              // lone continuation
             std::string_view("\xFF"),
         }) {
      CHECK(user_error(bad) == PrecisError::kInvalidUtf8);
      CHECK(opaque_error(bad) == PrecisError::kInvalidUtf8);
    }
  }

  TEST_CASE("OpaqueString: RFC 8265 §4.3 examples") {
    CHECK(opaque("correct horse battery staple") == "correct horse battery staple");
    CHECK(opaque("Correct Horse Battery Staple") == "Correct Horse Battery Staple");
    CHECK(opaque("πßå") == "πßå");
    CHECK(opaque("Jack of ♦s") == "Jack of ♦s");
    CHECK(opaque("foo\u1680bar") == "foo bar");  // OGHAM SPACE MARK → SPACE
    CHECK(opaque_error("") == PrecisError::kEmpty);
    CHECK(opaque_error("my cat is a \u0009by") == PrecisError::kDisallowed);
  }

  TEST_CASE("OpaqueString: mappings and class") {
    CHECK(opaque("a\u00A0b\u2000c\u3000d") == "a b c d");  // every Zs becomes U+0020
    CHECK(opaque("ｂｉｇ") == "ｂｉｇ");                   // no width mapping
    CHECK(opaque("ᴮᴵᴳ") == "ᴮᴵᴳ");                         // FREE_PVAL, not folded
    CHECK(opaque("A\u030A") == "\u00C5");                  // NFC, case kept
    CHECK(opaque("\u212B") == "\u00C5");                   // NFC singleton
    CHECK(opaque("a\u05D0") == "a\u05D0");                 // no Bidi Rule for passwords
    CHECK(opaque_error("\uE000") == PrecisError::kDisallowed);
    CHECK(opaque_error("\u0378") == PrecisError::kDisallowed);
    CHECK(opaque_error("a\u200Bb") == PrecisError::kDisallowed);
    CHECK(opaque_error("a\nb") == PrecisError::kDisallowed);
    CHECK(opaque_error("a\u2028b") == PrecisError::kDisallowed);
  }

  TEST_CASE("case 45: enforcement is idempotent over a corpus") {
    std::size_t user_ok = 0;
    std::size_t opaque_ok = 0;
    for (const std::string& s : corpus()) {
      CAPTURE(s);
      std::string once;
      if (username_case_mapped(s, once) == PrecisError::kOk) {
        ++user_ok;
        std::string twice;
        REQUIRE(username_case_mapped(once, twice) == PrecisError::kOk);
        CHECK(twice == once);
      }
      if (opaque_string(s, once) == PrecisError::kOk) {
        ++opaque_ok;
        std::string twice;
        REQUIRE(opaque_string(once, twice) == PrecisError::kOk);
        CHECK(twice == once);
      }
    }
    // The corpus must exercise the accepting path, not just rejections.
    CHECK(user_ok >= 40);
    CHECK(opaque_ok >= 80);
  }

  TEST_CASE("enforcement is idempotent for every code point, alone and in context") {
    // Each code point alone, after "A" (so case mapping and composition see
    // a base), and followed by a combining acute (so NFC may compose). This
    // walks every assigned plane the tables cover, about 1.3 M enforcements.
    std::size_t accepted = 0;
    for (char32_t c = 0; c <= 0x10FFFF; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;   // not encodable in UTF-8
      if (c >= 0x40000 && c < 0xE0000) continue;  // planes 4..13 are unassigned
      const std::string cp = utf8(c);
      for (const std::string& s : {cp, "A" + cp, cp + "\u0301"}) {
        std::string once;
        std::string twice;
        if (username_case_mapped(s, once) == PrecisError::kOk) {
          ++accepted;
          if (username_case_mapped(once, twice) != PrecisError::kOk || twice != once) {
            FAIL_CHECK("UsernameCaseMapped not idempotent for U+" << std::hex
                                                                  << static_cast<uint32_t>(c));
          }
        }
        if (opaque_string(s, once) == PrecisError::kOk) {
          if (opaque_string(once, twice) != PrecisError::kOk || twice != once) {
            FAIL_CHECK("OpaqueString not idempotent for U+" << std::hex
                                                            << static_cast<uint32_t>(c));
          }
        }
      }
    }
    CHECK(accepted > 100000);
  }

  TEST_CASE("UsernameCaseMapped output is lower case where toLowerCase applies") {
    // Every ASCII capital maps to its small letter, and nothing else in
    // ASCII changes.
    for (char c = 0x21; c < 0x7F; ++c) {
      const std::string in(1, c);
      const std::string expect(1, (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      CHECK(user(in) == expect);
    }
  }

  TEST_CASE("ASCII fast path: identical to ICU for every input of ascii_inputs.h") {
    using Profile = PrecisError (*)(std::string_view, std::string&);
    struct Pair {
      const char* name;
      Profile fast;
      Profile icu;
    };
    const Pair pairs[] = {
        {"UsernameCaseMapped", username_case_mapped, detail::username_case_mapped_icu},
        {"OpaqueString", opaque_string, detail::opaque_string_icu},
    };
    for (const Pair& p : pairs) {
      std::size_t inputs = 0;
      std::size_t accepted = 0;
      std::size_t mismatches = 0;
      std::string first;
      std::string fast_out;
      std::string icu_out;
      test::for_each_ascii_input([&](std::string_view in) {
        ++inputs;
        const PrecisError fast = p.fast(in, fast_out);
        const PrecisError icu = p.icu(in, icu_out);
        // |out| is unspecified on error, so only the error is compared then.
        if (fast == icu && (fast != PrecisError::kOk || fast_out == icu_out)) {
          accepted += fast == PrecisError::kOk;
          return;
        }
        if (mismatches++ == 0) {
          const auto shown = [](PrecisError e, const std::string& out) {
            return e == PrecisError::kOk ? test::escaped(out) : std::string(precis_error_name(e));
          };
          first = test::escaped(in) + ": fast " + shown(fast, fast_out) + ", ICU " +
                  shown(icu, icu_out);
        }
      });
      INFO(std::string(p.name) << ": " << inputs << " inputs, " << accepted << " accepted");
      CHECK_MESSAGE(mismatches == 0, mismatches << " mismatches, first " << first);
      // Both outcomes are well represented (not a vacuous comparison).
      CHECK(accepted > 100000);
      CHECK(inputs - accepted > 100000);
    }
  }

  TEST_CASE("ASCII fast path: oversized input, and octets that send it to ICU") {
    std::string out;
    const std::string huge((std::size_t{64} << 20) + 1, 'a');
    CHECK(username_case_mapped(huge, out) == PrecisError::kDisallowed);
    CHECK(opaque_string(huge, out) == PrecisError::kDisallowed);
    CHECK(detail::username_case_mapped_icu(huge, out) == PrecisError::kDisallowed);
    CHECK(detail::opaque_string_icu(huge, out) == PrecisError::kDisallowed);
    // A control before an ill-formed octet: the input is not ASCII, so the
    // decoding error comes first, as on the ICU path.
    CHECK(user_error("\x01\xFF") == PrecisError::kInvalidUtf8);
    CHECK(opaque_error("\x01\xFF") == PrecisError::kInvalidUtf8);
    CHECK(user("A\u00C9") == "a\u00E9");
    CHECK(opaque("A\u3000B") == "A B");
  }
}

}  // namespace
}  // namespace xd::protocol
