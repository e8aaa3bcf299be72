// Tests for protocol/jid/jid.h: the RFC 7622 §3.5 examples, the
// hostile-inputs.md catalogue F cases 44 (malformed addresses) and 45
// (PRECIS), domain mapping, IDNA, IP literals, equality and hashing.
#include "protocol/jid/jid.h"

#include <doctest/doctest.h>

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tests/unit/protocol/jid/ascii_inputs.h"

namespace xd::protocol {
namespace {

// Parses |text| and returns the error name, so failures print readably.
std::string error_of(std::string_view text) {
  Jid jid;
  return std::string(jid_error_name(Jid::parse(text, jid)));
}

// Parses |text| and returns its full normalised form, or "<error-name>".
std::string norm(std::string_view text) {
  Jid jid;
  const JidError e = Jid::parse(text, jid);
  return e == JidError::kOk ? jid.str() : "<" + std::string(jid_error_name(e)) + ">";
}

Jid must_parse(std::string_view text) {
  Jid jid;
  REQUIRE_MESSAGE(Jid::parse(text, jid) == JidError::kOk, text);
  return jid;
}

std::string label_of(std::size_t n, char c = 'a') { return std::string(n, c); }

TEST_SUITE("jid") {
  TEST_CASE("error names are distinct and messages non-empty") {
    const std::vector<JidError> all = {
        JidError::kOk,
        JidError::kEmpty,
        JidError::kEmptyLocal,
        JidError::kEmptyDomain,
        JidError::kEmptyResource,
        JidError::kLocalTooLong,
        JidError::kDomainTooLong,
        JidError::kResourceTooLong,
        JidError::kLabelTooLong,
        JidError::kInvalidLocal,
        JidError::kInvalidDomain,
        JidError::kInvalidResource,
        JidError::kInvalidIpLiteral,
    };
    std::set<std::string_view> names;
    for (const JidError e : all) {
      CHECK(!jid_error_message(e).empty());
      names.insert(jid_error_name(e));
    }
    CHECK(names.size() == all.size());
    CHECK(names.count("unknown") == 0);
    CHECK(jid_error_name(JidError::kOk) == "ok");
    CHECK(static_cast<int>(JidError::kOk) == 0);
    // Failures live in the reserved range [400, 499].
    for (const JidError e : all) {
      if (e == JidError::kOk) continue;
      CHECK(static_cast<int>(e) >= 400);
      CHECK(static_cast<int>(e) <= 499);
    }
    CHECK(jid_error_name(JidError::kLast_) == "unknown");
    CHECK(jid_error_name(static_cast<JidError>(12345)) == "unknown");
  }

  TEST_CASE("RFC 7622 §3.5: valid examples") {
    CHECK(norm("juliet@example.com") == "juliet@example.com");
    CHECK(norm("juliet@example.com/foo") == "juliet@example.com/foo");
    CHECK(norm("juliet@example.com/foo bar") == "juliet@example.com/foo bar");
    CHECK(norm("juliet@example.com/foo@bar") == "juliet@example.com/foo@bar");
    CHECK(norm("foo\\20bar@example.com") == "foo\\20bar@example.com");
    CHECK(norm("fussball@example.com") == "fussball@example.com");
    CHECK(norm("fußball@example.com") == "fußball@example.com");
    CHECK(norm("π@example.com") == "π@example.com");
    CHECK(norm("Σ@example.com/foo") == "σ@example.com/foo");
    CHECK(norm("σ@example.com/foo") == "σ@example.com/foo");
    CHECK(norm("ς@example.com/foo") == "ς@example.com/foo");
    CHECK(norm("king@example.com/♚") == "king@example.com/♚");
    CHECK(norm("example.com") == "example.com");
    CHECK(norm("example.com/foobar") == "example.com/foobar");
    CHECK(norm("a.example.com/b@example.net") == "a.example.com/b@example.net");

    // "a.example.com/b@example.net" is a domain with a resource, not a
    // localpart: the first '/' wins (RFC 7622 §3.1).
    const Jid j = must_parse("a.example.com/b@example.net");
    CHECK(!j.has_local());
    CHECK(j.domain() == "a.example.com");
    CHECK(j.resource() == "b@example.net");
    // Σ and σ are one localpart; ς is a different one.
    CHECK(must_parse("Σ@example.com") == must_parse("σ@example.com"));
    CHECK(must_parse("ς@example.com") != must_parse("σ@example.com"));
  }

  TEST_CASE("RFC 7622 §3.5: invalid examples") {
    CHECK(error_of("\"juliet\"@example.com") == "invalid-local");
    CHECK(error_of("foo bar@example.com") == "invalid-local");
    CHECK(error_of("@example.com") == "empty-local");
    CHECK(error_of("henry\u2163@example.com") == "invalid-local");
    CHECK(error_of("♚@example.com") == "invalid-local");
    CHECK(error_of("juliet@") == "empty-domain");
    CHECK(error_of("/foobar") == "empty-domain");
  }

  TEST_CASE("case 44: malformed addresses are rejected with a specific reason") {
    CHECK(error_of("") == "empty");
    CHECK(error_of("@host") == "empty-local");
    CHECK(error_of("@") == "empty-local");
    CHECK(error_of("a@@host") == "invalid-domain");  // second '@' lands in the domain
    CHECK(error_of("a@host/") == "empty-resource");
    CHECK(error_of("host/") == "empty-resource");
    CHECK(error_of("a@") == "empty-domain");
    CHECK(error_of("a@/r") == "empty-domain");
    CHECK(error_of("a@[::1") == "invalid-ip-literal");
    CHECK(error_of("[::1") == "invalid-ip-literal");
    CHECK(error_of("a@" + label_of(254) + ".com") == "label-too-long");
    CHECK(error_of(label_of(254)) == "label-too-long");
  }

  TEST_CASE("case 44: part length limits are 1023 octets after enforcement") {
    CHECK(norm(label_of(1023) + "@host") == label_of(1023) + "@host");
    CHECK(error_of(label_of(1024) + "@host") == "local-too-long");
    CHECK(error_of(label_of(100000) + "@host") == "local-too-long");
    CHECK(norm("a@host/" + label_of(1023, 'R')) == "a@host/" + label_of(1023, 'R'));
    CHECK(error_of("a@host/" + label_of(1024, 'R')) == "resource-too-long");
    CHECK(error_of("a@host/" + label_of(100000, 'R')) == "resource-too-long");
    // The limit applies to the enforced form: 1023 fullwidth letters are
    // 3069 octets on the wire but 1023 after width mapping.
    std::string wide;
    for (int i = 0; i < 1023; ++i) wide += "ａ";
    CHECK(norm(wide + "@host") == label_of(1023) + "@host");
    CHECK(error_of(wide + "ａ@host") == "local-too-long");
    // And the other way: U+023A (2 octets) lowercases to U+2C65 (3 octets),
    // so 400 of them are 800 octets on the wire but 1200 once enforced.
    std::string grows;
    for (int i = 0; i < 400; ++i) grows += "\u023A";
    CHECK(error_of(grows + "@host") == "local-too-long");
  }

  TEST_CASE("case 44: domain and label length limits") {
    // 16 labels of 63 octets with 15 dots are exactly 1023 octets.
    std::string domain = label_of(63);
    for (int i = 0; i < 15; ++i) domain += "." + label_of(63);
    REQUIRE(domain.size() == 1023);
    CHECK(norm(domain) == domain);
    CHECK(error_of(domain + ".b") == "domain-too-long");
    CHECK(norm(label_of(63) + ".com") == label_of(63) + ".com");
    CHECK(error_of(label_of(64) + ".com") == "label-too-long");
    // An internationalised label is measured as its A-label.
    CHECK(error_of(label_of(60) + "ü.com") == "label-too-long");
    CHECK(norm(label_of(20) + "ü.com") == label_of(20) + "ü.com");
  }

  TEST_CASE("case 44: each forbidden localpart character is rejected (RFC 7622 §3.3.1)") {
    for (const char c : std::string_view("\"&':<>")) {
      CAPTURE(c);
      CHECK(error_of(std::string("a") + c + "b@host") == "invalid-local");
      Jid jid;
      CHECK(Jid::from_parts(std::string("a") + c + "b", "host", "", jid) ==
            JidError::kInvalidLocal);
    }
    // '/' and '@' cannot reach the localpart through parse(), which splits on
    // them; from_parts() gets the part verbatim and must refuse them.
    Jid jid;
    CHECK(Jid::from_parts("a/b", "host", "", jid) == JidError::kInvalidLocal);
    CHECK(Jid::from_parts("a@b", "host", "", jid) == JidError::kInvalidLocal);
    // Parsed per RFC 7622 §3.1 these are different addresses, not errors.
    CHECK(norm("a/b@host") == "a/b@host");  // domain "a", resource "b@host"
    CHECK(must_parse("a/b@host").domain() == "a");
    CHECK(error_of("a@b@host") == "invalid-domain");
    // Width mapping must not smuggle them in: FULLWIDTH COMMERCIAL AT and
    // FULLWIDTH SOLIDUS map to '@' and '/'.
    CHECK(error_of("a\uFF20b@host") == "invalid-local");
    CHECK(error_of("a\uFF0Fb@host") == "invalid-local");
    CHECK(error_of("a\uFF02b@host") == "invalid-local");  // FULLWIDTH QUOTATION MARK
  }

  TEST_CASE("case 45: PRECIS in localparts") {
    CHECK(error_of("ᴮᴵᴳᴮᴵᴿᴰ@host") == "invalid-local");
    const Jid plain = must_parse("bigbird@host");
    CHECK(must_parse("ｂｉｇｂｉｒｄ@host") == plain);
    CHECK(must_parse("BigBird@host") == plain);
    CHECK(must_parse("BIGBIRD@HOST") == plain);
    CHECK(must_parse("BigBird@host").local() == "bigbird");
    std::unordered_set<Jid> keys = {must_parse("ｂｉｇｂｉｒｄ@host"), must_parse("BigBird@host"),
                                    plain};
    CHECK(keys.size() == 1);
  }

  TEST_CASE("case 45: resourceparts keep case and compare exactly") {
    const Jid upper = must_parse("a@host/Balcony");
    const Jid lower = must_parse("a@host/balcony");
    CHECK(upper.resource() == "Balcony");
    CHECK(upper != lower);
    CHECK(upper.bare() == lower.bare());
    CHECK(must_parse("a@host/ｂ").resource() == "ｂ");  // no width mapping either
    CHECK(must_parse("a@host/ｂ") != must_parse("a@host/b"));
    CHECK(must_parse("a@host/x\u00A0y").resource() == "x y");    // OpaqueString space mapping
    CHECK(must_parse("a@host/A\u030A").resource() == "\u00C5");  // NFC
    CHECK(error_of("a@host/a\u0007b") == "invalid-resource");
    CHECK(error_of("a@host/\uE000") == "invalid-resource");
  }

  TEST_CASE("case 45: parsing is a fixed point over a corpus") {
    const std::vector<std::string> corpus = {
        "juliet@example.com",
        "BigBird@Example.COM/Home",
        "ｂｉｇｂｉｒｄ@ｅｘａｍｐｌｅ．ｃｏｍ/Ｒ",
        "Σ@example.com/foo",
        "ΣΑΣ@example.com",
        "İ@example.com",
        "fußball@bücher.de/ß",
        "xn--bcher-kva.example",
        "user@XN--BCHER-KVA.EXAMPLE./x",
        "a@[::1]/r",
        "a@[2001:DB8:0:0:0:0:0:1]",
        "[::ffff:192.0.2.1]",
        "a@192.0.2.1/x",
        "a.example.com/b@example.net",
        "a/b@host",
        "example。com",
        "例え.テスト",
        "\u05D0\u05D1@example.com/\u05D2",
        "user@host/ spaced resource ",
        "x@y/Ω\u2126",
        "\u0627\u0644\u0639\u0631\u0628\u064A\u0629@example.com",
    };
    for (const std::string& text : corpus) {
      CAPTURE(text);
      const Jid first = must_parse(text);
      Jid second;
      REQUIRE(Jid::parse(first.str(), second) == JidError::kOk);
      CHECK(second == first);
      CHECK(second.str() == first.str());
      Jid rebuilt;
      REQUIRE(Jid::from_parts(first.local(), first.domain(), first.resource(), rebuilt) ==
              JidError::kOk);
      CHECK(rebuilt == first);
    }
  }

  TEST_CASE("domain: one trailing dot is stripped, case and width are mapped") {
    CHECK(must_parse("EXAMPLE.com.").domain() == "example.com");
    CHECK(must_parse("a@EXAMPLE.com.") == must_parse("a@example.com"));
    CHECK(must_parse("a@example.com./r") == must_parse("a@example.com/r"));
    CHECK(error_of("example.com..") == "invalid-domain");
    CHECK(error_of(".") == "empty-domain");
    CHECK(error_of("a@.") == "empty-domain");
    CHECK(error_of("a..b") == "invalid-domain");
    CHECK(error_of(".example.com") == "invalid-domain");
    CHECK(must_parse("ｅｘａｍｐｌｅ．ｃｏｍ").domain() == "example.com");
    CHECK(must_parse("example。com").domain() == "example.com");  // U+3002
    CHECK(must_parse("example｡com").domain() == "example.com");   // U+FF61
  }

  TEST_CASE("domain: NR-LDH, A-labels and U-labels") {
    // A-label and U-label spellings are the same domain; the U-label is stored.
    const Jid u = must_parse("juliet@bücher.example");
    CHECK(u.domain() == "bücher.example");
    CHECK(must_parse("juliet@xn--bcher-kva.example") == u);
    CHECK(must_parse("juliet@XN--BCHER-KVA.EXAMPLE") == u);
    CHECK(must_parse("juliet@BÜCHER.example") == u);
    CHECK(std::hash<Jid>{}(must_parse("juliet@xn--bcher-kva.example")) == std::hash<Jid>{}(u));
    CHECK(must_parse("例え.テスト").domain() == "例え.テスト");
    CHECK(must_parse("xn--r8jz45g.xn--zckzah") == must_parse("例え.テスト"));
    // Invalid A-labels: bad Punycode, an ASCII-only decoding, a label whose
    // decoding is not a valid U-label.
    CHECK(error_of("xn--a.example") == "invalid-domain");
    CHECK(error_of("xn--abc-.example") == "invalid-domain");
    CHECK(error_of("xn--.example") == "invalid-domain");
    CHECK(error_of("xn--zca.example") == "ok");  // "ß" is PVALID in IDNA2008
    CHECK(error_of("xn--ss-.example") == "invalid-domain");
    // Found by the fuzzer: an A-label whose U-label holds Cherokee capitals
    // (PVALID) that lowercasing would turn into disallowed small letters.
    // Accepting it would break the parse(str()) fixed point.
    CHECK(error_of("xn--r8xn--r8xj") == "invalid-domain");
    CHECK(error_of("\u13A1r8\u13A2xn-") == "invalid-domain");
    // NR-LDH rules.
    CHECK(error_of("a_b.example") == "invalid-domain");
    CHECK(error_of("-ab.example") == "invalid-domain");
    CHECK(error_of("ab-.example") == "invalid-domain");
    CHECK(error_of("ab--cd.example") == "invalid-domain");  // reserved R-LDH
    CHECK(error_of("a b.example") == "invalid-domain");
    CHECK(error_of("a@b!c") == "invalid-domain");
    CHECK(norm("a-b.example") == "a-b.example");
    CHECK(norm("localhost") == "localhost");
    CHECK(norm("123.example") == "123.example");
    // IDNA2008 rejects what UTS #46 would fold: compatibility characters
    // and symbols are not mapped into a domain name.
    CHECK(error_of("ᴮ.example") == "invalid-domain");
    // A canonical singleton is not a compatibility character: RFC 5895's NFC
    // and lowercasing take OHM SIGN to ω, as for any canonically equal text.
    CHECK(must_parse("\u2126.example").domain() == "ω.example");
    CHECK(error_of("♚.example") == "invalid-domain");
    CHECK(error_of("a\u05D0.example") == "invalid-domain");  // Bidi Rule in a label
    // RFC 5893 §2 across labels: once one label is RTL, every label must
    // satisfy the Bidi Rule, so an LTR label may not start with a digit.
    CHECK(norm("9abc.example") == "9abc.example");
    CHECK(norm("abc.\u05D0\u05D1\u05D2") == "abc.\u05D0\u05D1\u05D2");
    CHECK(norm("xn--4dbcd.example") == "\u05D0\u05D1\u05D2.example");
    CHECK(error_of("9abc.\u05D0\u05D1\u05D2") == "invalid-domain");
    CHECK(error_of("9abc.xn--4dbcd") == "invalid-domain");
    CHECK(error_of(std::string_view("a\0b.example", 11)) == "invalid-domain");
    CHECK(error_of("a@b\xC3") == "invalid-domain");  // truncated UTF-8
  }

  TEST_CASE("domain: IP literals are validated strictly") {
    CHECK(norm("a@[::1]") == "a@[::1]");
    CHECK(norm("[0:0:0:0:0:0:0:1]") == "[::1]");
    CHECK(norm("[0:0::1]") == "[::1]");
    CHECK(norm("[::]") == "[::]");
    CHECK(norm("[2001:DB8::1]") == "[2001:db8::1]");
    CHECK(norm("[2001:0db8:0000:0000:0001:0000:0000:0001]") == "[2001:db8::1:0:0:1]");
    CHECK(norm("[2001:db8:0:1:1:1:1:1]") == "[2001:db8:0:1:1:1:1:1]");  // one zero group
    CHECK(norm("[1:2:3:4:5:6:7::]") == "[1:2:3:4:5:6:7:0]");
    CHECK(norm("[::ffff:192.0.2.1]") == "[::ffff:192.0.2.1]");
    CHECK(norm("[::ffff:c000:0201]") == "[::ffff:192.0.2.1]");
    CHECK(norm("[64:ff9b::192.0.2.1]") == "[64:ff9b::c000:201]");
    CHECK(must_parse("[::1]") == must_parse("[0::1]"));
    for (const char* bad : {"[::1",
                            "[::1]]",
                            "[]",
                            "[:]",
                            "[:::]",
                            "[1::2::3]",
                            "[12345::]",
                            "[1:2:3:4:5:6:7:8:9]",
                            "[1:2:3:4:5:6:7]",
                            "[::1%25eth0]",
                            "[v1.fe]",
                            "[:1::]",
                            "[1:]",
                            "[::g]",
                            "[::1.2.3]",
                            "[::1.2.3.4.5]",
                            "[1.2.3.4::]",
                            "[::256.0.0.1]",
                            "[1:2:3:4:5:6:7:1.2.3.4]",
                            "[ ::1]"}) {
      CAPTURE(bad);
      CHECK(error_of(bad) == "invalid-ip-literal");
    }
    CHECK(norm("192.0.2.1") == "192.0.2.1");
    CHECK(norm("a@0.0.0.0/r") == "a@0.0.0.0/r");
    CHECK(norm("255.255.255.255.") == "255.255.255.255");
    for (const char* bad :
         {"256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "1234.1.1.1", "123"}) {
      CAPTURE(bad);
      CHECK(error_of(bad) == "invalid-ip-literal");
    }
  }

  TEST_CASE("localpart and resource reject ill-formed UTF-8") {
    CHECK(error_of("a\xC0\x80@host") == "invalid-local");
    CHECK(error_of("a@host/\xED\xA0\x80") == "invalid-resource");
  }

  TEST_CASE("accessors, bare(), str() and bare_str()") {
    const Jid full = must_parse("Juliet@Example.com/Balcony");
    CHECK(full.local() == "juliet");
    CHECK(full.domain() == "example.com");
    CHECK(full.resource() == "Balcony");
    CHECK(full.has_local());
    CHECK(!full.is_bare());
    CHECK(full.str() == "juliet@example.com/Balcony");
    CHECK(full.bare_str() == "juliet@example.com");
    const Jid bare = full.bare();
    CHECK(bare.is_bare());
    CHECK(bare.str() == "juliet@example.com");
    CHECK(bare == must_parse("juliet@example.com"));
    CHECK(bare.bare() == bare);

    const Jid domain = must_parse("example.com/x");
    CHECK(!domain.has_local());
    CHECK(domain.str() == "example.com/x");
    CHECK(domain.bare_str() == "example.com");
    CHECK(domain.bare().str() == "example.com");
  }

  TEST_CASE("from_parts enforces like parse") {
    Jid jid;
    REQUIRE(Jid::from_parts("BigBird", "EXAMPLE.com.", "Res", jid) == JidError::kOk);
    CHECK(jid == must_parse("bigbird@example.com/Res"));
    REQUIRE(Jid::from_parts("", "example.com", "", jid) == JidError::kOk);
    CHECK(jid.str() == "example.com");
    CHECK(Jid::from_parts("a", "", "", jid) == JidError::kEmptyDomain);
    CHECK(Jid::from_parts("ᴮ", "host", "", jid) == JidError::kInvalidLocal);
    CHECK(Jid::from_parts("a", "host", "\t", jid) == JidError::kInvalidResource);
  }

  TEST_CASE("parse leaves the output untouched on error") {
    Jid jid = must_parse("keep@example.com/me");
    CHECK(Jid::parse("a@@host", jid) == JidError::kInvalidDomain);
    CHECK(Jid::parse("a@host/\t", jid) == JidError::kInvalidResource);
    CHECK(Jid::from_parts("a", "host", "\t", jid) == JidError::kInvalidResource);
    CHECK(jid.str() == "keep@example.com/me");
  }

  TEST_CASE("hashing is consistent with equality") {
    const std::vector<std::string> spellings = {
        "bigbird@example.com/R",
        "BigBird@EXAMPLE.com./R",
        "ｂｉｇｂｉｒｄ@ｅｘａｍｐｌｅ．ｃｏｍ/R",
    };
    std::unordered_set<Jid> std_set;
    std::unordered_set<Jid, JidHash> functor_set;
    for (const std::string& s : spellings) {
      const Jid j = must_parse(s);
      CHECK(std::hash<Jid>{}(j) == JidHash{}(j));
      CHECK(JidHash{}(j) == JidHash{}(must_parse(spellings.front())));
      std_set.insert(j);
      functor_set.insert(j);
    }
    CHECK(std_set.size() == 1);
    CHECK(functor_set.size() == 1);
    // Different addresses land as different keys; parts do not run together.
    std_set.insert(must_parse("bigbird@example.com/r"));
    std_set.insert(must_parse("bigbird@example.com"));
    std_set.insert(must_parse("example.com/R"));
    CHECK(std_set.size() == 4);
    Jid ab_c;
    Jid a_bc;
    REQUIRE(Jid::from_parts("ab", "c", "", ab_c) == JidError::kOk);
    REQUIRE(Jid::from_parts("a", "bc", "", a_bc) == JidError::kOk);
    CHECK(ab_c != a_bc);
    CHECK(JidHash{}(ab_c) != JidHash{}(a_bc));
  }

  TEST_CASE("ASCII fast paths: every part enforces exactly as through ICU") {
    // Each input of ascii_inputs.h is tried as the localpart, the
    // domainpart and the resourcepart, once with the fast paths and once
    // with ICU (and libidn2) only; error and enforced address must match.
    using FromParts = JidError (*)(std::string_view, std::string_view, std::string_view, Jid&);
    struct Part {
      const char* name;
      // Enforces |in| as this part, through |from_parts|.
      JidError (*enforce)(FromParts from_parts, std::string_view in, Jid& out);
      // Every outcome the part can have, each of which must occur, so that
      // no branch goes untested.
      std::vector<JidError> outcomes;
    };
    const Part parts[] = {
        {"localpart",
         [](FromParts from_parts, std::string_view in, Jid& out) {
           return from_parts(in, "example.com", "", out);
         },
         {JidError::kOk, JidError::kInvalidLocal, JidError::kLocalTooLong}},
        {"domainpart",
         [](FromParts from_parts, std::string_view in, Jid& out) {
           return from_parts("", in, "", out);
         },
         {JidError::kOk, JidError::kEmptyDomain, JidError::kInvalidDomain,
          JidError::kInvalidIpLiteral, JidError::kLabelTooLong, JidError::kDomainTooLong}},
        {"resourcepart",
         [](FromParts from_parts, std::string_view in, Jid& out) {
           return from_parts("", "example.com", in, out);
         },
         {JidError::kOk, JidError::kInvalidResource, JidError::kResourceTooLong}},
    };
    for (const Part& part : parts) {
      std::map<JidError, std::size_t> outcomes;
      std::size_t mismatches = 0;
      std::string first;
      test::for_each_ascii_input([&](std::string_view in) {
        Jid fast_jid;
        Jid icu_jid;
        const JidError fast = part.enforce(Jid::from_parts, in, fast_jid);
        const JidError icu = part.enforce(Jid::from_parts_icu_for_test, in, icu_jid);
        ++outcomes[fast];
        if (fast == icu && fast_jid == icu_jid) return;
        if (mismatches++ == 0) {
          const auto shown = [](JidError e, const Jid& jid) {
            return e == JidError::kOk ? test::escaped(jid.str()) : std::string(jid_error_name(e));
          };
          first = test::escaped(in) + ": fast " + shown(fast, fast_jid) + ", ICU " +
                  shown(icu, icu_jid);
        }
      });
      std::string seen;
      for (const auto& [e, n] : outcomes) {
        seen += " " + std::string(jid_error_name(e)) + "=" + std::to_string(n);
      }
      INFO(std::string(part.name) << ": outcomes" << seen);
      CHECK_MESSAGE(mismatches == 0, mismatches << " mismatches, first " << first);
      for (const JidError e : part.outcomes) {
        CHECK_MESSAGE(outcomes[e] > 0, "never saw " << jid_error_name(e));
      }
    }
  }

  TEST_CASE("ASCII fast paths: A-labels and IP literals take the same turns") {
    // Spot checks of the domain paths that share code after the mapping.
    CHECK(norm("XN--BCHER-KVA.example") == "bücher.example");
    CHECK(norm("a.xn--bcher-kva.") == "a.bücher");
    CHECK(norm("xn--bcher-kv") == "<invalid-domain>");
    // An A-label for Hebrew makes this a Bidi domain name, in which an LTR
    // label may not start with a digit (RFC 5893 §2 rule 1).
    CHECK(norm("xn--4dbc.example") == "\u05D0\u05D1.example");
    CHECK(norm("1a.xn--4dbc") == "<invalid-domain>");
    CHECK(norm("Example.COM.") == "example.com");
    CHECK(norm("1.2.3.4") == "1.2.3.4");
    CHECK(norm("1.2.3") == "<invalid-ip-literal>");
    CHECK(norm("[::FFFF:1.2.3.4]") == "[::ffff:1.2.3.4]");
    CHECK(norm("a_b.example") == "<invalid-domain>");
    CHECK(norm("-a.example") == "<invalid-domain>");
    CHECK(norm("ab--c.example") == "<invalid-domain>");
    CHECK(norm("User@Example.COM/Res Ource") == "user@example.com/Res Ource");
    CHECK(norm("us er@example.com") == "<invalid-local>");
  }
}

}  // namespace
}  // namespace xd::protocol
