// The constant-time compare of protocol/sasl (secret_equal.h) and the
// verification paths that must use it (hostile-inputs.md catalogue 41).
// Timing is not asserted here (tests carry no timing thresholds): the
// constant time is CRYPTO_memcmp's, and tests/bench/scram_timing_bench.cc
// measures it. What these tests can prove, and do, is that every secret
// comparison of SCRAM and PLAIN goes through secret_equal(): they count its
// calls, so replacing one of them with `==` or memcmp fails here.
#include "protocol/sasl/secret_equal.h"

#include <doctest/doctest.h>

#include <string>

#include "protocol/sasl/base64.h"
#include "protocol/sasl/plain.h"
#include "protocol/sasl/scram.h"

namespace xd::protocol {
namespace {

// RFC 5802 §5 example (the client-final with its proof, and the server's
// signature).
constexpr std::string_view kClientFirst = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
constexpr std::string_view kServerFirst =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
constexpr std::string_view kFinalWithoutProof =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
constexpr std::string_view kProof = "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
constexpr std::string_view kServerFinal = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

const ScramCredentials& pencil() {
  static const ScramCredentials creds =
      scram_derive(ScramHash::kSha1, "pencil", *base64_decode("QSXCR+Q6sek8bf92"), 4096);
  return creds;
}

ScramServerConfig server_config() {
  ScramServerConfig c;
  c.hash = ScramHash::kSha1;
  c.server_nonce = "3rfcNHYJY1ZVvWVs7j";
  c.server_secret = "server secret for fake salts";
  c.domain = "example.com";
  return c;
}

// The example's client-final with byte |at| of the proof flipped (-1: the
// proof as it is).
std::string client_final(int at) {
  std::string proof = *base64_decode(kProof);
  if (at >= 0) proof[static_cast<size_t>(at)] ^= 0x01;
  return std::string(kFinalWithoutProof) + ",p=" + base64_encode(proof);
}

struct Verified {
  bool ok;
  uint64_t compares;  // secret_equal() calls during client_final
};

Verified server_verifies(const std::string& final_message, bool user_exists) {
  ScramServer server(server_config());
  REQUIRE(server.client_first(kClientFirst).ok());
  REQUIRE(server.set_credentials(&pencil(), user_exists).ok());
  const uint64_t before = secret_equal_calls_for_test();
  const bool ok = server.client_final(final_message).ok();
  return {ok, secret_equal_calls_for_test() - before};
}

TEST_SUITE("sasl.secret_equal") {
  TEST_CASE("E41: secret_equal compares every byte and the length") {
    const std::string a(32, '\x5a');
    CHECK(secret_equal(a, a));
    CHECK(secret_equal(a, std::string(a)));
    CHECK(secret_equal("", ""));
    for (size_t at : {size_t{0}, size_t{1}, size_t{16}, size_t{31}}) {
      CAPTURE(at);
      std::string b = a;
      b[at] ^= 0x80;
      CHECK_FALSE(secret_equal(a, b));
      CHECK_FALSE(secret_equal(b, a));
    }
    CHECK_FALSE(secret_equal(a, a.substr(0, 31)));
    CHECK_FALSE(secret_equal(a + '\x5a', a));
    CHECK_FALSE(secret_equal("", std::string(1, '\0')));
    // Embedded NULs are bytes like any other (not C strings).
    CHECK_FALSE(secret_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
    CHECK(secret_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  }

  TEST_CASE("E41: the SCRAM proof goes through secret_equal, right or wrong, known user or not") {
    // Two compares per client-final: the channel-binding data (c=) and
    // H(ClientKey) against StoredKey. The proof's compare is reached with
    // the same work whether the proof is right, wrong in its first or last
    // byte, or the user unknown (fake credentials, catalogue 37).
    const Verified right = server_verifies(client_final(-1), true);
    CHECK(right.ok);
    CHECK(right.compares == 2);
    for (int at : {0, 19}) {
      CAPTURE(at);
      const Verified wrong = server_verifies(client_final(at), true);
      CHECK_FALSE(wrong.ok);
      CHECK(wrong.compares == 2);
    }
    const Verified unknown = server_verifies(client_final(-1), false);
    CHECK_FALSE(unknown.ok);
    CHECK(unknown.compares == 2);
  }

  TEST_CASE("E41: PLAIN's password check goes through secret_equal") {
    for (const char* password : {"pencil", "pencik", "qencil", ""}) {
      CAPTURE(password);
      const uint64_t before = secret_equal_calls_for_test();
      const bool ok = plain_verify(pencil(), password);
      CHECK(ok == (std::string_view(password) == "pencil"));
      CHECK(secret_equal_calls_for_test() - before == 1);
    }
  }

  TEST_CASE("E41: the client checks the server signature with secret_equal") {
    for (bool right : {true, false}) {
      CAPTURE(right);
      ScramClientConfig cc;
      cc.hash = ScramHash::kSha1;
      cc.username = "user";
      cc.password = "pencil";
      cc.client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
      ScramClient client(cc);
      REQUIRE(client.client_first().ok());
      REQUIRE(client.server_first(kServerFirst).ok());
      std::string final_message(kServerFinal);
      if (!right) final_message = "v=" + base64_encode(std::string(20, '\x01'));
      const uint64_t before = secret_equal_calls_for_test();
      CHECK(client.server_final(final_message).ok() == right);
      CHECK(secret_equal_calls_for_test() - before == 1);
    }
  }
}

}  // namespace
}  // namespace xd::protocol
