// SCRAM message grammar (protocol/sasl/scram_message.h): the RFC 5802 §5
// example messages, every escape and ordering rule of the §7 ABNF, and the
// exact condition for each malformation (hostile-inputs.md catalogue 39).
#include "protocol/sasl/scram_message.h"

#include <doctest/doctest.h>

#include <string>

namespace xd::protocol {
namespace {

constexpr SaslCondition kMalformed = SaslCondition::kMalformedRequest;
constexpr SaslCondition kEncoding = SaslCondition::kIncorrectEncoding;

template <typename T>
SaslCondition condition_of(const SaslResult<T>& r) {
  REQUIRE_FALSE(r.ok());
  return r.condition();
}

TEST_SUITE("sasl.scram_message") {
  TEST_CASE("RFC 5802 section 5 client-first-message parses") {
    auto r = parse_client_first("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    REQUIRE(r.ok());
    const ClientFirstMessage& m = r.value();
    CHECK(m.gs2.flag == Gs2CbindFlag::kNotSupported);
    CHECK(m.gs2.cb_name.empty());
    CHECK(m.gs2.authzid.empty());
    CHECK(m.gs2_header == "n,,");
    CHECK(m.bare == "n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    CHECK(m.username == "user");
    CHECK(m.nonce == "fyko+d2lbbFgONRv9qkxdawL");
  }

  TEST_CASE("gs2 header variants") {
    auto y = parse_client_first("y,,n=u,r=x");
    REQUIRE(y.ok());
    CHECK(y.value().gs2.flag == Gs2CbindFlag::kSupportedNotUsed);

    auto p = parse_client_first("p=tls-exporter,a=juliet@example.com,n=juliet,r=abc");
    REQUIRE(p.ok());
    CHECK(p.value().gs2.flag == Gs2CbindFlag::kUsed);
    CHECK(p.value().gs2.cb_name == "tls-exporter");
    CHECK(p.value().gs2.authzid == "juliet@example.com");
    CHECK(p.value().gs2_header == "p=tls-exporter,a=juliet@example.com,");

    auto e = parse_client_first("p=tls-server-end-point,,n=u,r=x");
    REQUIRE(e.ok());
    CHECK(e.value().gs2.cb_name == "tls-server-end-point");
  }

  TEST_CASE("saslname escapes decode only =2C and =3D") {
    auto r = parse_client_first("n,a=a=3Db=2Cc,n=a=3Db=2Cc,r=x");
    REQUIRE(r.ok());
    CHECK(r.value().username == "a=b,c");
    CHECK(r.value().gs2.authzid == "a=b,c");
    CHECK(scram_unescape_saslname("=2C=3D").value() == ",=");
    CHECK(scram_escape_saslname("a,b=c") == "a=2Cb=3Dc");
    CHECK(scram_escape_saslname("j\xc3\xbcliet") == "j\xc3\xbcliet");
    CHECK(parse_client_first("n,,n=j\xc3\xbcliet,r=x").value().username == "j\xc3\xbcliet");
  }

  TEST_CASE("catalogue 39: malformed client-first-message, exact conditions") {
    const char* bad[] = {
        "",                            // empty
        "n=user,r=abc",                // gs2 flag missing
        ",,n=user,r=abc",              // gs2 flag empty
        "x,,n=user,r=abc",             // unknown gs2 flag
        "N,,n=user,r=abc",             // flags are case-sensitive
        "F,n,,n=user,r=abc",           // RFC 5801 non-standard flag, not SCRAM
        "p,,n=user,r=abc",             // p without a cb-name
        "p=,,n=user,r=abc",            // empty cb-name
        "p=tls_unique,,n=user,r=abc",  // '_' is not a cb-name character
        "n,n=user,r=abc",              // authzid field missing
        "n,b=x,n=user,r=abc",          // authzid field not a=
        "n,a=,n=user,r=abc",           // empty authzid
        "n,a=x=2,n=user,r=abc",        // bad escape in authzid
        "n,,",                         // no bare message
        "n,,n=user",                   // nonce missing
        "n,,r=abc,n=user",             // misordered
        "n,,n=,r=abc",                 // empty username
        "n,,n=us=er,r=abc",            // '=' not followed by 2C/3D
        "n,,n=us=2Xer,r=abc",          // unknown escape
        "n,,n=us=2cer,r=abc",          // lower-case escape
        "n,,n=us=3,r=abc",             // truncated escape
        "n,,n=user=,r=abc",            // trailing '='
        ("n,,n=us\xff"
         "er,r=abc"),               // invalid UTF-8
        "n,,n=us\xc0\xafr,r=abc",   // overlong UTF-8
        "n,,n=\xed\xa0\x80,r=abc",  // UTF-8 surrogate
        "n,,m=ext,n=user,r=abc",    // mandatory extension
        "n,,n=user,r=",             // empty nonce
        "n,,n=user,r=a b",          // space in nonce
        "n,,n=user,r=ab\x7f",       // DEL in nonce
        "n,,n=user,r=\xc3\xa9",     // non-ASCII nonce
        "n,,n=user,r=abc,",         // trailing comma
        "n,,n=user,r=abc,r=def",    // duplicate nonce
        "n,,n=user,r=abc,n=other",  // duplicate username
        "n,,n=user,r=abc,m=x",      // mandatory extension, misordered
        "n,,n=user,r=abc,x",        // extension without '='
        "n,,n=user,r=abc,x=",       // extension with empty value
        "n,,n=user,r=abc,1=x",      // extension name not ALPHA
        "n,,n=user,,r=abc",         // empty attribute
        "n,,N=user,r=abc",          // attribute names are case-sensitive
    };
    for (const char* msg : bad) {
      CAPTURE(msg);
      CHECK(condition_of(parse_client_first(msg)) == kMalformed);
    }
    CHECK(condition_of(parse_client_first(std::string("n,,n=us\0er,r=abc", 16))) == kMalformed);
    CHECK(condition_of(parse_client_first(std::string("n,,n=user,r=ab\0c", 16))) == kMalformed);
  }

  TEST_CASE("optional extensions are ignored, as RFC 5802 section 5.1 requires") {
    auto r = parse_client_first("n,,n=user,r=abc,x=foo,y=b\xc3\xa4r");
    REQUIRE(r.ok());
    CHECK(r.value().bare == "n=user,r=abc,x=foo,y=b\xc3\xa4r");
    CHECK(r.value().nonce == "abc");
  }

  TEST_CASE("RFC 5802 section 5 server-first-message parses") {
    auto r = parse_server_first(
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    REQUIRE(r.ok());
    CHECK(r.value().nonce == "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j");
    CHECK(r.value().salt.size() == 12);
    CHECK(r.value().iterations == 4096);
    CHECK(parse_server_first("r=a,s=QQ==,i=4294967295").value().iterations == 4294967295u);
    CHECK(parse_server_first("r=a,s=QQ==,i=1,x=y").ok());
  }

  TEST_CASE("server-first-message malformations") {
    const std::pair<const char*, SaslCondition> bad[] = {
        {"r=a,s=QQ==", kMalformed},               // iteration count missing
        {"r=a,s=QQ==,i=0", kMalformed},           // not positive
        {"r=a,s=QQ==,i=04096", kMalformed},       // leading zero
        {"r=a,s=QQ==,i=-1", kMalformed},          // sign
        {"r=a,s=QQ==,i=+1", kMalformed},          // sign
        {"r=a,s=QQ==,i=4096 ", kMalformed},       // trailing space
        {"r=a,s=QQ==,i=1e3", kMalformed},         // not decimal digits
        {"r=a,s=QQ==,i=4294967296", kMalformed},  // exceeds 32 bits
        {"r=a,s=QQ==,i=99999999999999999999", kMalformed},
        {"r=a,s=QQ==,i=", kMalformed},
        {"m=x,r=a,s=QQ==,i=1", kMalformed},     // mandatory extension
        {"s=QQ==,r=a,i=1", kMalformed},         // misordered
        {"r=a,i=1,s=QQ==", kMalformed},         // misordered
        {"r=a,s=QQ==,i=1,i=2", kMalformed},     // duplicate
        {"r=a,s=QQ==,i=1,s=QQ==", kMalformed},  // duplicate
        {"r=a b,s=QQ==,i=1", kMalformed},       // nonce not printable
        {"r=a,s=,i=1", kEncoding},              // empty salt
        {"r=a,s=QQ,i=1", kEncoding},            // unpadded
        {"r=a,s=QR==,i=1", kEncoding},          // non-canonical
        {"r=a,s=Q!==,i=1", kEncoding},          // not base64
    };
    for (const auto& entry : bad) {
      const auto& msg = entry.first;
      const auto& cond = entry.second;
      CAPTURE(msg);
      CHECK(condition_of(parse_server_first(msg)) == cond);
    }
  }

  TEST_CASE("RFC 5802 section 5 client-final-message parses") {
    auto r = parse_client_final(
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    REQUIRE(r.ok());
    CHECK(r.value().channel_binding == "n,,");
    CHECK(r.value().nonce == "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j");
    CHECK(r.value().without_proof == "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j");
    CHECK(r.value().proof.size() == 20);
    auto ext = parse_client_final("c=biws,r=abc,x=1,z=2,p=AAAA");
    REQUIRE(ext.ok());
    CHECK(ext.value().without_proof == "c=biws,r=abc,x=1,z=2");
  }

  TEST_CASE("catalogue 39: malformed client-final-message, exact conditions") {
    const std::pair<const char*, SaslCondition> bad[] = {
        {"", kMalformed},
        {"c=biws,r=abc", kMalformed},                // proof missing
        {"r=abc,c=biws,p=AAAA", kMalformed},         // misordered
        {"c=biws,p=AAAA,r=abc", kMalformed},         // misordered
        {"c=biws,r=abc,p=AAAA,x=1", kMalformed},     // proof not last
        {"c=biws,r=abc,r=abc,p=AAAA", kMalformed},   // duplicate nonce
        {"c=biws,r=abc,p=AAAA,p=AAAA", kMalformed},  // duplicate proof
        {"c=biws,r=abc,c=biws,p=AAAA", kMalformed},  // duplicate binding
        {"c=biws,r=abc,m=x,p=AAAA", kMalformed},     // mandatory extension
        {"m=x,c=biws,r=abc,p=AAAA", kMalformed},     // mandatory extension first
        {"c=biws,r=a c,p=AAAA", kMalformed},         // nonce not printable
        {"c=biws,r=,p=AAAA", kMalformed},            // empty nonce
        {"c=biws,r=abc,,p=AAAA", kMalformed},        // empty attribute
        {"c=biws,r=abc,p=AAAA,", kMalformed},        // trailing comma
        {"c=bi!s,r=abc,p=AAAA", kEncoding},          // non-base64 binding
        {"c=biw,r=abc,p=AAAA", kEncoding},           // unpadded binding
        {"c=,r=abc,p=AAAA", kEncoding},              // empty binding
        {"c=biws,r=abc,p=", kEncoding},              // empty proof
        {"c=biws,r=abc,p=###=", kEncoding},          // non-base64 proof
        {"c=biws,r=abc,p=AAB=", kEncoding},          // non-canonical proof
        {"c=biws,r=abc,p=AA AA", kEncoding},         // whitespace in proof
    };
    for (const auto& entry : bad) {
      const auto& msg = entry.first;
      const auto& cond = entry.second;
      CAPTURE(msg);
      CHECK(condition_of(parse_client_final(msg)) == cond);
    }
  }

  TEST_CASE("server-final-message parses verifier or error") {
    auto v = parse_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    REQUIRE(v.ok());
    CHECK(v.value().verifier.size() == 20);
    CHECK(v.value().error.empty());
    auto e = parse_server_final("e=invalid-proof");
    REQUIRE(e.ok());
    CHECK(e.value().error == "invalid-proof");
    CHECK(e.value().verifier.empty());
    CHECK(parse_server_final("v=AAAA,x=y").ok());
    CHECK(condition_of(parse_server_final("")) == kMalformed);
    CHECK(condition_of(parse_server_final("x=AAAA")) == kMalformed);
    CHECK(condition_of(parse_server_final("v=AAAA,v=AAAA")) == kMalformed);
    CHECK(condition_of(parse_server_final("v=AAAA,e=x")) == kMalformed);
    CHECK(condition_of(parse_server_final("e=")) == kMalformed);
    CHECK(condition_of(parse_server_final("v=AAA")) == kEncoding);
    CHECK(condition_of(parse_server_final("v=")) == kEncoding);
  }

  TEST_CASE("builders produce what the parsers accept") {
    Gs2Header h;
    CHECK(build_gs2_header(h) == "n,,");
    h.flag = Gs2CbindFlag::kSupportedNotUsed;
    h.authzid = "a,b";
    CHECK(build_gs2_header(h) == "y,a=a=2Cb,");
    h.flag = Gs2CbindFlag::kUsed;
    h.cb_name = "tls-exporter";
    h.authzid.clear();
    CHECK(build_gs2_header(h) == "p=tls-exporter,,");

    CHECK(build_client_first_bare("user", "fyko+d2lbbFgONRv9qkxdawL") ==
          "n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    std::string sf = build_server_first("abc", std::string("\x01\x02", 2), 4096);
    CHECK(sf == "r=abc,s=AQI=,i=4096");
    CHECK(parse_server_first(sf).ok());
    std::string cf = build_client_final(build_client_final_without_proof("n,,", "abc"), "\x01");
    CHECK(cf == "c=biws,r=abc,p=AQ==");
    CHECK(parse_client_final(cf).ok());
    CHECK(build_server_final("\xff") == "v=/w==");
    CHECK(build_server_error("invalid-proof") == "e=invalid-proof");
  }

  TEST_CASE("printable nonce rule") {
    CHECK(scram_is_printable_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"));
    CHECK(scram_is_printable_nonce("!~+-"));
    CHECK_FALSE(scram_is_printable_nonce(""));
    CHECK_FALSE(scram_is_printable_nonce("a,b"));
    CHECK_FALSE(scram_is_printable_nonce("a b"));
    CHECK_FALSE(scram_is_printable_nonce("\x7f"));
    CHECK_FALSE(scram_is_printable_nonce("\x80"));
  }
}

}  // namespace
}  // namespace xd::protocol
