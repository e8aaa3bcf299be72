// SASL PLAIN (protocol/sasl/plain.h): RFC 4616 §2 grammar, the authzid rule
// (hostile-inputs.md decision 5, catalogue 38) and verification against
// stored SCRAM keys, including unknown users (catalogue 37).
#include "protocol/sasl/plain.h"

#include <doctest/doctest.h>

#include <string>

#include "protocol/sasl/base64.h"

namespace xd::protocol {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

constexpr std::string_view kDomain = "example.com";

TEST_SUITE("sasl.plain") {
  TEST_CASE("RFC 4616 section 4 examples parse") {
    // "\0tim\0tanstaaftanstaaf": no authzid.
    const std::string m1 = "\0tim\0tanstaaftanstaaf"s;
    auto r1 = plain_parse(m1, kDomain);
    REQUIRE(r1.ok());
    CHECK(r1.value().authzid.empty());
    CHECK(r1.value().authcid == "tim");
    CHECK(r1.value().password == "tanstaaftanstaaf");
    // The views alias the caller's buffer; nothing was copied.
    CHECK(r1.value().password.data() == m1.data() + 5);

    // An authzid equal to the authcid, bare or with our domain, is allowed.
    auto r2 = plain_parse("tim\0tim\0pw"sv, kDomain);
    REQUIRE(r2.ok());
    CHECK(r2.value().authzid == "tim");
    auto r3 = plain_parse("tim@example.com\0tim\0pw"sv, kDomain);
    REQUIRE(r3.ok());
    CHECK(r3.value().authcid == "tim");
  }

  TEST_CASE("UTF-8 fields and the 255-octet bound") {
    CHECK(plain_parse("\0j\xc3\xbcliet\0p\xc3\xa4ss w\xf0\x9f\x98\x80rd"sv, kDomain).ok());
    const std::string max(255, 'a');
    const std::string ok1 = "\0"s + max + "\0"s + max;
    const std::string ok2 = max + "\0"s + max + "\0"s + "pw";
    CHECK(plain_parse(ok1, kDomain).ok());
    CHECK(plain_parse(ok2, kDomain).ok());
    const std::string over(256, 'a');
    const std::string long_authcid = "\0"s + over + "\0pw"s;
    const std::string long_password = "\0user\0"s + over;
    const std::string long_authzid = over + "\0user\0pw"s;
    for (const std::string* m : {&long_authcid, &long_password, &long_authzid}) {
      CHECK(plain_parse(*m, kDomain).condition() == SaslCondition::kMalformedRequest);
    }
  }

  TEST_CASE("malformed PLAIN messages are malformed-request") {
    const std::string bad[] = {
        ""s,
        "userpw"s,                    // no NUL
        "\0userpw"s,                  // one NUL
        "user\0pw"s,                  // one NUL
        "\0user\0pw\0"s,              // three NULs
        "\0user\0pw\0extra"s,         // three NULs
        "\0\0pw"s,                    // empty authcid
        "\0user\0"s,                  // empty password
        "\0\0"s,                      // both empty
        "\0us\xffr\0pw"s,             // invalid UTF-8 authcid
        "\0user\0p\xc0\x80w"s,        // overlong NUL in password
        "\0user\0\xed\xa0\x80"s,      // surrogate in password
        "\0user\0\xf4\x90\x80\x80"s,  // above U+10FFFF
        "\0user\0\xe2\x82"s,          // truncated sequence
        "\xfe\0user\0pw"s,            // invalid UTF-8 authzid
    };
    for (const std::string& m : bad) {
      CAPTURE(m);
      auto r = plain_parse(m, kDomain);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == SaslCondition::kMalformedRequest);
    }
  }

  TEST_CASE("catalogue 38: authzid other than the authcid is invalid-authzid") {
    const std::string bad[] = {
        "victim@example.com\0attacker\0pw"s,  // the catalogue's example
        "victim\0attacker\0pw"s,
        "attacker@evil.example\0attacker\0pw"s,
        "attacker@example.co\0attacker\0pw"s,
        "attacker@\0attacker\0pw"s,
        "Attacker\0attacker\0pw"s,
        "attacker@example.com/res\0attacker\0pw"s,
    };
    for (const std::string& m : bad) {
      CAPTURE(m);
      auto r = plain_parse(m, kDomain);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == SaslCondition::kInvalidAuthzid);
    }
    // Without a configured domain only the bare authcid is accepted.
    CHECK(plain_parse("tim@example.com\0tim\0pw"sv, "").condition() ==
          SaslCondition::kInvalidAuthzid);
  }

  TEST_CASE("plain_verify checks the password against stored SCRAM keys") {
    const std::string salt = "0123456789abcdef";
    for (ScramHash hash : {ScramHash::kSha1, ScramHash::kSha256}) {
      ScramCredentials creds = scram_derive(hash, "tanstaaftanstaaf", salt, 4096);
      CHECK(plain_verify(creds, "tanstaaftanstaaf"));
      CHECK_FALSE(plain_verify(creds, "tanstaaftanstaaF"));
      CHECK_FALSE(plain_verify(creds, "tanstaaftanstaa"));
      CHECK_FALSE(plain_verify(creds, ""));
    }
  }

  TEST_CASE("plain_verify works with the RFC 5802 example credentials") {
    auto salt = base64_decode("QSXCR+Q6sek8bf92");
    REQUIRE(salt.has_value());
    ScramCredentials creds = scram_derive(ScramHash::kSha1, "pencil", *salt, 4096);
    CHECK(plain_verify(creds, "pencil"));
    CHECK_FALSE(plain_verify(creds, "pencil "));
  }

  TEST_CASE("catalogue 37: unknown users fail against fake credentials") {
    ScramCredentials fake = scram_fake_credentials(ScramHash::kSha256, "secret", "nobody", 4096);
    CHECK_FALSE(plain_verify(fake, "pencil"));
    CHECK_FALSE(plain_verify(fake, ""));
  }

  TEST_CASE("unusable credentials never verify") {
    ScramCredentials creds = scram_derive(ScramHash::kSha256, "pw", "salt", 1);
    CHECK(plain_verify(creds, "pw"));
    ScramCredentials no_salt = creds;
    no_salt.salt.clear();
    CHECK_FALSE(plain_verify(no_salt, "pw"));
    ScramCredentials no_iter = creds;
    no_iter.iterations = 0;
    CHECK_FALSE(plain_verify(no_iter, "pw"));
    ScramCredentials wrong_hash = creds;
    wrong_hash.hash = ScramHash::kSha1;  // 32-byte key where 20 are expected
    CHECK_FALSE(plain_verify(wrong_hash, "pw"));
    ScramCredentials short_key = creds;
    short_key.stored_key.resize(8);
    CHECK_FALSE(plain_verify(short_key, "pw"));
  }
}

}  // namespace
}  // namespace xd::protocol
