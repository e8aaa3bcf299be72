// SCRAM key derivation and the server and client machines
// (protocol/sasl/scram.h): the RFC 5802 §5 and RFC 7677 §3 examples
// end to end, channel binding (RFC 5802 §6, RFC 9266), downgrade, authzid,
// unknown users and terminal failure (hostile-inputs.md catalogue 37-40).
#include "protocol/sasl/scram.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>
#include <optional>
#include <string>

#include "protocol/sasl/base64.h"
#include "protocol/sasl/sasl_error.h"

namespace xd::protocol {
namespace {

constexpr SaslCondition kMalformed = SaslCondition::kMalformedRequest;
constexpr SaslCondition kNotAuthorized = SaslCondition::kNotAuthorized;

std::string b64d(std::string_view text) {
  auto d = base64_decode(text);
  REQUIRE(d.has_value());
  return *d;
}

// RFC 5802 §5 example.
constexpr std::string_view kSha1ClientFirst = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
constexpr std::string_view kSha1ServerFirst =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
constexpr std::string_view kSha1ClientFinal =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
constexpr std::string_view kSha1ServerFinal = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

// RFC 7677 §3 example.
constexpr std::string_view kSha256ClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kSha256ServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kSha256ClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kSha256ServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

const std::string kExporter(32, '\x11');
const std::string kEndPoint(32, '\x22');
const std::string kSalt16 = "0123456789abcdef";

// Credentials for "user"/"pencil" on our own 16-byte salt, derived once.
const ScramCredentials& pencil(ScramHash hash) {
  static const ScramCredentials sha1 =
      scram_derive(ScramHash::kSha1, "pencil", kSalt16, kScramDefaultIterations);
  static const ScramCredentials sha256 =
      scram_derive(ScramHash::kSha256, "pencil", kSalt16, kScramDefaultIterations);
  return hash == ScramHash::kSha1 ? sha1 : sha256;
}

ScramServerConfig server_config(ScramHash hash, bool plus, bool plus_advertised) {
  ScramServerConfig c;
  c.hash = hash;
  c.plus = plus;
  c.plus_advertised = plus_advertised;
  if (plus_advertised) {
    c.channel_bindings.emplace(std::string(kCbTlsExporter), kExporter);
    c.channel_bindings.emplace(std::string(kCbTlsServerEndPoint), kEndPoint);
  }
  c.server_nonce = "3rfcNHYJY1ZVvWVs7j";
  c.server_secret = "server secret for fake salts";
  c.domain = "example.com";
  return c;
}

ScramClientConfig client_config(ScramHash hash, std::string password = "pencil") {
  ScramClientConfig c;
  c.hash = hash;
  c.username = "user";
  c.password = std::move(password);
  c.client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  return c;
}

// An independent ClientProof computation (RFC 5802 §3) straight from
// libcrypto, used to sign messages the client machine would never produce.
std::string client_proof(const EVP_MD* md, std::string_view password, std::string_view salt,
                         uint32_t iterations, std::string_view auth_message) {
  unsigned char salted[EVP_MAX_MD_SIZE];
  const int n = EVP_MD_get_size(md);
  REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                            reinterpret_cast<const unsigned char*>(salt.data()),
                            static_cast<int>(salt.size()), static_cast<int>(iterations), md, n,
                            salted) == 1);
  unsigned char client_key[EVP_MAX_MD_SIZE], stored_key[EVP_MAX_MD_SIZE],
      signature[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, salted, n, reinterpret_cast<const unsigned char*>("Client Key"), 10, client_key, &len);
  EVP_Digest(client_key, static_cast<size_t>(n), stored_key, &len, md, nullptr);
  HMAC(md, stored_key, n, reinterpret_cast<const unsigned char*>(auth_message.data()),
       auth_message.size(), signature, &len);
  std::string proof(static_cast<size_t>(n), '\0');
  for (int i = 0; i < n; ++i)
    proof[static_cast<size_t>(i)] = static_cast<char>(client_key[i] ^ signature[i]);
  return proof;
}

// The outcome of one full exchange between our client and server machines.
struct Outcome {
  std::optional<SaslCondition> server_failure;
  std::optional<SaslCondition> client_failure;
  std::string server_first;
  std::string username;
};

Outcome exchange(const ScramServerConfig& sc, const ScramClientConfig& cc,
                 const ScramCredentials* creds, bool user_exists = true) {
  Outcome out;
  ScramServer server(sc);
  ScramClient client(cc);
  auto cf = client.client_first();
  REQUIRE(cf.ok());
  auto need = server.client_first(cf.value());
  if (!need) {
    out.server_failure = need.condition();
    return out;
  }
  auto sf = server.set_credentials(creds, user_exists);
  REQUIRE(sf.ok());
  out.server_first = sf.value();
  auto cfin = client.server_first(sf.value());
  if (!cfin) {
    out.client_failure = cfin.condition();
    return out;
  }
  auto done = server.client_final(cfin.value());
  if (!done) {
    out.server_failure = done.condition();
    return out;
  }
  out.username = done.value().username;
  auto verified = client.server_final(done.value().server_final);
  if (!verified) out.client_failure = verified.condition();
  return out;
}

// Drives a server through client_first and set_credentials (real "pencil"
// credentials), ready for a hand-written client-final.
std::unique_ptr<ScramServer> server_after_first(const ScramServerConfig& sc,
                                                std::string_view client_first) {
  auto server = std::make_unique<ScramServer>(sc);
  auto need = server->client_first(client_first);
  REQUIRE(need.ok());
  auto sf = server->set_credentials(&pencil(sc.hash), true);
  REQUIRE(sf.ok());
  return server;
}

TEST_SUITE("sasl.error") {
  TEST_CASE("conditions occupy 300.. and round-trip through their names") {
    CHECK(static_cast<int>(SaslCondition::kAborted) == 300);
    CHECK(static_cast<int>(SaslCondition::kTemporaryAuthFailure) == 310);
    const char* names[] = {"aborted",
                           "account-disabled",
                           "credentials-expired",
                           "encryption-required",
                           "incorrect-encoding",
                           "invalid-authzid",
                           "invalid-mechanism",
                           "malformed-request",
                           "mechanism-too-weak",
                           "not-authorized",
                           "temporary-auth-failure"};
    int value = 300;
    for (const char* name : names) {
      CAPTURE(name);
      auto c = sasl_condition_from_name(name);
      REQUIRE(c.has_value());
      CHECK(static_cast<int>(*c) == value++);
      CHECK(sasl_condition_name(*c) == name);
      CHECK_FALSE(sasl_condition_message(*c).empty());
    }
    CHECK_FALSE(sasl_condition_from_name("Not-Authorized").has_value());
    CHECK_FALSE(sasl_condition_from_name("").has_value());
    CHECK(sasl_condition_name(static_cast<SaslCondition>(42)) == "temporary-auth-failure");
  }
}

TEST_SUITE("sasl.scram") {
  TEST_CASE("mechanism names") {
    CHECK(scram_mechanism_name(ScramHash::kSha1, false) == "SCRAM-SHA-1");
    CHECK(scram_mechanism_name(ScramHash::kSha256, true) == "SCRAM-SHA-256-PLUS");
    ScramHash h = ScramHash::kSha1;
    bool plus = false;
    REQUIRE(scram_mechanism_from_name("SCRAM-SHA-256-PLUS", h, plus));
    CHECK(h == ScramHash::kSha256);
    CHECK(plus);
    CHECK_FALSE(scram_mechanism_from_name("scram-sha-1", h, plus));
    CHECK_FALSE(scram_mechanism_from_name("SCRAM-SHA-512", h, plus));
  }

  TEST_CASE("RFC 5802 section 5: SCRAM-SHA-1 example, server and client machines") {
    ScramCredentials creds =
        scram_derive(ScramHash::kSha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
    CHECK(creds.stored_key.size() == 20);
    CHECK(creds.server_key.size() == 20);

    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    ScramServer server(sc);
    auto need = server.client_first(kSha1ClientFirst);
    REQUIRE(need.ok());
    CHECK(need.value().username == "user");
    CHECK(need.value().authzid.empty());
    auto sf = server.set_credentials(&creds, true);
    REQUIRE(sf.ok());
    CHECK(sf.value() == kSha1ServerFirst);
    auto done = server.client_final(kSha1ClientFinal);
    REQUIRE(done.ok());
    CHECK(done.value().server_final == kSha1ServerFinal);
    CHECK(done.value().username == "user");
    CHECK(server.state() == ScramServer::State::kSucceeded);

    ScramClient client(client_config(ScramHash::kSha1));
    CHECK(client.client_first().value() == kSha1ClientFirst);
    auto cf = client.server_first(kSha1ServerFirst);
    REQUIRE(cf.ok());
    CHECK(cf.value() == kSha1ClientFinal);
    CHECK(client.server_final(kSha1ServerFinal).ok());
    CHECK(client.state() == ScramClient::State::kSucceeded);
  }

  TEST_CASE("RFC 7677 section 3: SCRAM-SHA-256 example, server and client machines") {
    ScramCredentials creds =
        scram_derive(ScramHash::kSha256, "pencil", b64d("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
    CHECK(creds.stored_key.size() == 32);

    ScramServerConfig sc = server_config(ScramHash::kSha256, false, false);
    sc.server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    ScramServer server(sc);
    REQUIRE(server.client_first(kSha256ClientFirst).ok());
    auto sf = server.set_credentials(&creds, true);
    REQUIRE(sf.ok());
    CHECK(sf.value() == kSha256ServerFirst);
    auto done = server.client_final(kSha256ClientFinal);
    REQUIRE(done.ok());
    CHECK(done.value().server_final == kSha256ServerFinal);

    ScramClientConfig cc = client_config(ScramHash::kSha256);
    cc.client_nonce = "rOprNGfwEbeRWgbNEkqO";
    ScramClient client(cc);
    CHECK(client.client_first().value() == kSha256ClientFirst);
    auto cf = client.server_first(kSha256ServerFirst);
    REQUIRE(cf.ok());
    CHECK(cf.value() == kSha256ClientFinal);
    CHECK(client.server_final(kSha256ServerFinal).ok());
  }

  TEST_CASE("client and server machines agree for every mechanism") {
    for (ScramHash hash : {ScramHash::kSha1, ScramHash::kSha256}) {
      CAPTURE(static_cast<int>(hash));
      Outcome o = exchange(server_config(hash, false, false), client_config(hash), &pencil(hash));
      CHECK_FALSE(o.server_failure.has_value());
      CHECK_FALSE(o.client_failure.has_value());
      CHECK(o.username == "user");
    }
  }

  TEST_CASE("RFC 5802 section 5.1: a cached SaltedPassword is used only for its salt") {
    for (ScramHash hash : {ScramHash::kSha1, ScramHash::kSha256}) {
      CAPTURE(static_cast<int>(hash));
      ScramKeyCacheEntry cache;
      ScramClientConfig cc = client_config(hash);
      cc.key_cache = &cache;
      // First login fills the entry from the server-first-message.
      Outcome o = exchange(server_config(hash, false, false), cc, &pencil(hash));
      CHECK_FALSE(o.server_failure.has_value());
      CHECK_FALSE(o.client_failure.has_value());
      CHECK(cache.hash == hash);
      CHECK(cache.salt == kSalt16);
      CHECK(cache.iterations == kScramDefaultIterations);
      REQUIRE_FALSE(cache.salted_password.empty());
      // A login that uses the cache succeeds without the password: proof
      // that Hi() was skipped.
      ScramClientConfig no_password = client_config(hash, "not the password");
      no_password.key_cache = &cache;
      o = exchange(server_config(hash, false, false), no_password, &pencil(hash));
      CHECK_FALSE(o.server_failure.has_value());
      CHECK_FALSE(o.client_failure.has_value());
      // Another salt (the account was re-created): the entry is not used,
      // Hi() runs on the wrong password, the login fails and the entry is
      // left as it was (only a verified key is cached).
      ScramCredentials other = scram_derive(hash, "pencil", "another salt 16b", 4096);
      const std::string first_key = cache.salted_password;
      o = exchange(server_config(hash, false, false), no_password, &other);
      REQUIRE(o.server_failure.has_value());
      CHECK(*o.server_failure == kNotAuthorized);
      CHECK(cache.salt == kSalt16);
      CHECK(cache.salted_password == first_key);
      // With the right password the new salt's key replaces the entry.
      ScramClientConfig right = client_config(hash);
      right.key_cache = &cache;
      o = exchange(server_config(hash, false, false), right, &other);
      CHECK_FALSE(o.server_failure.has_value());
      CHECK_FALSE(o.client_failure.has_value());
      CHECK(cache.salt == "another salt 16b");
      CHECK(cache.salted_password != first_key);
      // A stale entry (here: corrupted) fails like a wrong password and is
      // dropped, so the next login derives afresh and succeeds.
      cache.salted_password[0] = static_cast<char>(cache.salted_password[0] ^ 1);
      o = exchange(server_config(hash, false, false), right, &other);
      REQUIRE(o.server_failure.has_value());
      CHECK(*o.server_failure == kNotAuthorized);
      CHECK(cache.salted_password.empty());
      o = exchange(server_config(hash, false, false), right, &other);
      CHECK_FALSE(o.server_failure.has_value());
      CHECK_FALSE(cache.salted_password.empty());
      scram_wipe_cache_entry(cache);
      CHECK(cache.salted_password.empty());
      CHECK(cache.salt.empty());
    }
  }

  TEST_CASE("catalogue 37: wrong password is not-authorized") {
    for (ScramHash hash : {ScramHash::kSha1, ScramHash::kSha256}) {
      Outcome o = exchange(server_config(hash, false, false), client_config(hash, "pencil2"),
                           &pencil(hash));
      REQUIRE(o.server_failure.has_value());
      CHECK(*o.server_failure == kNotAuthorized);
    }
  }

  TEST_CASE("catalogue 37: an unknown user looks like a known one and fails the same way") {
    ScramServerConfig sc = server_config(ScramHash::kSha256, false, false);
    Outcome known =
        exchange(sc, client_config(ScramHash::kSha256, "wrong"), &pencil(ScramHash::kSha256));
    Outcome unknown = exchange(sc, client_config(ScramHash::kSha256, "wrong"), nullptr, false);
    Outcome unknown_again =
        exchange(sc, client_config(ScramHash::kSha256, "pencil"), nullptr, false);
    // Same failure, with the right or wrong password.
    REQUIRE(known.server_failure.has_value());
    REQUIRE(unknown.server_failure.has_value());
    REQUIRE(unknown_again.server_failure.has_value());
    CHECK(*known.server_failure == kNotAuthorized);
    CHECK(*unknown.server_failure == kNotAuthorized);
    CHECK(*unknown_again.server_failure == kNotAuthorized);
    // Same shape: nonce, a 16-byte salt and the same iteration count.
    auto k = parse_server_first(known.server_first);
    auto u = parse_server_first(unknown.server_first);
    REQUIRE(k.ok());
    REQUIRE(u.ok());
    CHECK(known.server_first.size() == unknown.server_first.size());
    CHECK(u.value().salt.size() == kScramSaltBytes);
    CHECK(u.value().salt.size() == k.value().salt.size());
    CHECK(u.value().iterations == k.value().iterations);
    CHECK(u.value().nonce == k.value().nonce);
    // A repeated attempt sees the same salt, so probing twice reveals nothing.
    CHECK(unknown.server_first == unknown_again.server_first);
    // Another unknown name gets another salt, as another real user would.
    ScramClientConfig other = client_config(ScramHash::kSha256);
    other.username = "nobody";
    Outcome o = exchange(sc, other, nullptr, false);
    CHECK(parse_server_first(o.server_first).value().salt != u.value().salt);
    // Spellings that PRECIS maps to one account share one fake salt, as
    // they would share the real account's salt.
    ScramClientConfig upper = client_config(ScramHash::kSha256);
    upper.username = "USER";
    Outcome o_upper = exchange(sc, upper, nullptr, false);
    CHECK(parse_server_first(o_upper.server_first).value().salt == u.value().salt);
    // And a different server secret gives different fake salts.
    ScramServerConfig sc2 = sc;
    sc2.server_secret = "another secret";
    Outcome o2 = exchange(sc2, client_config(ScramHash::kSha256), nullptr, false);
    CHECK(parse_server_first(o2.server_first).value().salt != u.value().salt);
  }

  TEST_CASE("unusable credentials take the unknown-user path") {
    ScramServerConfig sc = server_config(ScramHash::kSha256, false, false);
    // Credentials for the other hash.
    Outcome o = exchange(sc, client_config(ScramHash::kSha256), &pencil(ScramHash::kSha1));
    REQUIRE(o.server_failure.has_value());
    CHECK(*o.server_failure == kNotAuthorized);
    // Real credentials but the caller hides the account (user_exists=false).
    Outcome hidden =
        exchange(sc, client_config(ScramHash::kSha256), &pencil(ScramHash::kSha256), false);
    REQUIRE(hidden.server_failure.has_value());
    CHECK(*hidden.server_failure == kNotAuthorized);
    CHECK(parse_server_first(hidden.server_first).value().salt != kSalt16);
  }

  TEST_CASE("catalogue 39: -PLUS succeeds with tls-exporter and tls-server-end-point") {
    for (ScramHash hash : {ScramHash::kSha1, ScramHash::kSha256}) {
      for (const auto& binding :
           {std::pair{kCbTlsExporter, kExporter}, std::pair{kCbTlsServerEndPoint, kEndPoint}}) {
        const std::string_view type = binding.first;
        const std::string& data = binding.second;
        CAPTURE(type);
        ScramClientConfig cc = client_config(hash);
        cc.cbind_flag = Gs2CbindFlag::kUsed;
        cc.cb_name = std::string(type);
        cc.cb_data = data;
        Outcome o = exchange(server_config(hash, true, true), cc, &pencil(hash));
        CHECK_FALSE(o.server_failure.has_value());
        CHECK_FALSE(o.client_failure.has_value());
        CHECK(o.username == "user");
      }
    }
  }

  TEST_CASE("catalogue 39: wrong channel-binding data is not-authorized") {
    ScramClientConfig cc = client_config(ScramHash::kSha256);
    cc.cbind_flag = Gs2CbindFlag::kUsed;
    cc.cb_name = std::string(kCbTlsExporter);
    cc.cb_data = std::string(32, '\x12');  // the client saw a different TLS channel
    Outcome o =
        exchange(server_config(ScramHash::kSha256, true, true), cc, &pencil(ScramHash::kSha256));
    REQUIRE(o.server_failure.has_value());
    CHECK(*o.server_failure == kNotAuthorized);

    // The binding data of the other type is wrong too.
    cc.cb_data = kEndPoint;
    o = exchange(server_config(ScramHash::kSha256, true, true), cc, &pencil(ScramHash::kSha256));
    REQUIRE(o.server_failure.has_value());
    CHECK(*o.server_failure == kNotAuthorized);

    // c= carrying only the gs2 header, without the binding data.
    ScramServerConfig sc = server_config(ScramHash::kSha1, true, true);
    auto server = server_after_first(sc, "p=tls-exporter,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    std::string c = base64_encode("p=tls-exporter,,");
    auto r = server->client_final("c=" + c + ",r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=" +
                                  base64_encode(std::string(20, 'x')));
    REQUIRE_FALSE(r.ok());
    CHECK(r.condition() == kNotAuthorized);
  }

  TEST_CASE("c= must repeat the gs2 header exactly") {
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    const std::string tail =
        ",r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    // "eSws" is "y,,": the header says "n", so this is a mismatch.
    for (const char* c : {"eSws", "biwsAA==", "bix=", "biw="}) {
      CAPTURE(c);
      auto server = server_after_first(sc, kSha1ClientFirst);
      auto r = server->client_final(std::string("c=") + c + tail);
      REQUIRE_FALSE(r.ok());
      CHECK(
          (r.condition() == kNotAuthorized || r.condition() == SaslCondition::kIncorrectEncoding));
    }
    auto server = server_after_first(sc, kSha1ClientFirst);
    auto r = server->client_final(std::string("c=eSws") + tail);
    CHECK(r.condition() == kNotAuthorized);
  }

  TEST_CASE("catalogue 39: y while we advertised -PLUS is a downgrade") {
    ScramServer server(server_config(ScramHash::kSha1, false, true));
    auto r = server.client_first("y,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    REQUIRE_FALSE(r.ok());
    CHECK(r.condition() == kNotAuthorized);
    CHECK(server.state() == ScramServer::State::kFailed);

    // Without -PLUS advertised, "y" is honest and the exchange completes.
    ScramClientConfig cc = client_config(ScramHash::kSha1);
    cc.cbind_flag = Gs2CbindFlag::kSupportedNotUsed;
    Outcome o =
        exchange(server_config(ScramHash::kSha1, false, false), cc, &pencil(ScramHash::kSha1));
    CHECK_FALSE(o.server_failure.has_value());
    CHECK_FALSE(o.client_failure.has_value());
    // And "n" (a client without channel binding) is fine even when we offer -PLUS.
    Outcome n = exchange(server_config(ScramHash::kSha1, false, true),
                         client_config(ScramHash::kSha1), &pencil(ScramHash::kSha1));
    CHECK_FALSE(n.server_failure.has_value());
  }

  TEST_CASE("catalogue 39: channel-binding flag and mechanism must agree") {
    struct Case {
      bool plus;
      const char* client_first;
      SaslCondition expected;
    };
    const Case cases[] = {
        // p= with a non-PLUS mechanism.
        {false, "p=tls-exporter,,n=user,r=abc", kMalformed},
        // n or y with a -PLUS mechanism.
        {true, "n,,n=user,r=abc", kMalformed},
        {true, "y,,n=user,r=abc", kMalformed},
        // tls-unique is never offered (undefined under TLS 1.3, RFC 9266 §3).
        {true, "p=tls-unique,,n=user,r=abc", kMalformed},
        // Unknown channel-binding types.
        {true, "p=tls-exporter2,,n=user,r=abc", kMalformed},
        {true, "p=TLS-EXPORTER,,n=user,r=abc", kMalformed},
        {true, "p=x,,n=user,r=abc", kMalformed},
    };
    for (const Case& c : cases) {
      CAPTURE(c.client_first);
      ScramServerConfig sc = server_config(ScramHash::kSha256, c.plus, true);
      // Even if the session wrongly supplied tls-unique data, it is not accepted.
      sc.channel_bindings.emplace("tls-unique", std::string(12, '\x33'));
      ScramServer server(sc);
      auto r = server.client_first(c.client_first);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == c.expected);
    }
  }

  TEST_CASE("a -PLUS type we offer but have no data for is malformed") {
    ScramServerConfig sc = server_config(ScramHash::kSha256, true, true);
    sc.channel_bindings.erase(std::string(kCbTlsServerEndPoint));
    ScramServer server(sc);
    auto r = server.client_first("p=tls-server-end-point,,n=user,r=abc");
    REQUIRE_FALSE(r.ok());
    CHECK(r.condition() == kMalformed);
  }

  TEST_CASE("a -PLUS mechanism we never advertised is invalid-mechanism") {
    ScramServerConfig sc = server_config(ScramHash::kSha256, true, false);
    ScramServer server(sc);
    auto r = server.client_first("p=tls-exporter,,n=user,r=abc");
    REQUIRE_FALSE(r.ok());
    CHECK(r.condition() == SaslCondition::kInvalidMechanism);
  }

  TEST_CASE("catalogue 38: authzid must be the authcid") {
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    for (const char* ok : {"n,a=user,n=user,r=abc", "n,a=user@example.com,n=user,r=abc"}) {
      CAPTURE(ok);
      ScramServer server(sc);
      auto r = server.client_first(ok);
      REQUIRE(r.ok());
      CHECK(r.value().username == "user");
    }
    for (const char* bad :
         {"n,a=victim@example.com,n=user,r=abc", "n,a=victim,n=user,r=abc",
          "n,a=user@evil.example,n=user,r=abc", "n,a=user@example.co,n=user,r=abc",
          "n,a=user@example.com.,n=user,r=abc", "n,a=User,n=user,r=abc", "n,a=user@,n=user,r=abc",
          "n,a=@example.com,n=user,r=abc", "n,a=userx@example.com,n=user,r=abc"}) {
      CAPTURE(bad);
      ScramServer server(sc);
      auto r = server.client_first(bad);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == SaslCondition::kInvalidAuthzid);
      CHECK(server.state() == ScramServer::State::kFailed);
    }
    // Through the client machine, with a valid password: still refused.
    ScramClientConfig cc = client_config(ScramHash::kSha1);
    cc.authzid = "victim@example.com";
    Outcome o = exchange(sc, cc, &pencil(ScramHash::kSha1));
    REQUIRE(o.server_failure.has_value());
    CHECK(*o.server_failure == SaslCondition::kInvalidAuthzid);
    cc.authzid = "user@example.com";
    o = exchange(sc, cc, &pencil(ScramHash::kSha1));
    CHECK_FALSE(o.server_failure.has_value());
  }

  TEST_CASE("catalogue 39: client-final nonce must be exactly ours") {
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    const std::string proof = ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
    for (const char* nonce : {"fyko+d2lbbFgONRv9qkxdawL",                   // only the client part
                              "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7",  // truncated
                              "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7jX",  // extended
                              "Xyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",   // client part changed
                              "3rfcNHYJY1ZVvWVs7j"}) {  // only the server part
      CAPTURE(nonce);
      auto server = server_after_first(sc, kSha1ClientFirst);
      auto r = server->client_final(std::string("c=biws,r=") + nonce + proof);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == kNotAuthorized);
    }
  }

  TEST_CASE("catalogue 39: a correctly signed client-final with another nonce is refused") {
    // The client knows the password and signs its message, but uses a nonce
    // other than the one we issued (a replay, or a nonce it chose itself).
    // Only the nonce check stands between this and success.
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    const std::string salt = b64d("QSXCR+Q6sek8bf92");
    ScramCredentials creds = scram_derive(ScramHash::kSha1, "pencil", salt, 4096);
    for (const char* nonce : {"fyko+d2lbbFgONRv9qkxdawL", "fyko+d2lbbFgONRv9qkxdawLattacker",
                              "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7jX"}) {
      CAPTURE(nonce);
      ScramServer server(sc);
      REQUIRE(server.client_first(kSha1ClientFirst).ok());
      auto sf = server.set_credentials(&creds, true);
      REQUIRE(sf.ok());
      const std::string without_proof = std::string("c=biws,r=") + nonce;
      const std::string auth =
          std::string(kSha1ClientFirst.substr(3)) + "," + sf.value() + "," + without_proof;
      const std::string proof = client_proof(EVP_sha1(), "pencil", salt, 4096, auth);
      auto r = server.client_final(without_proof + ",p=" + base64_encode(proof));
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == kNotAuthorized);
    }
    // Control: the same construction with our nonce succeeds.
    ScramServer server(sc);
    REQUIRE(server.client_first(kSha1ClientFirst).ok());
    auto sf = server.set_credentials(&creds, true);
    REQUIRE(sf.ok());
    const std::string without_proof = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
    const std::string auth =
        std::string(kSha1ClientFirst.substr(3)) + "," + sf.value() + "," + without_proof;
    const std::string proof = client_proof(EVP_sha1(), "pencil", salt, 4096, auth);
    CHECK(server.client_final(without_proof + ",p=" + base64_encode(proof)).ok());
  }

  TEST_CASE("catalogue 39: malformed messages fail the machine with the exact condition") {
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    const std::pair<const char*, SaslCondition> first[] = {
        {"n=user,r=abc", kMalformed},         // gs2 flag missing
        {"q,,n=user,r=abc", kMalformed},      // unknown gs2 flag
        {"n,,n=us=2Ger,r=abc", kMalformed},   // bad escape
        {"n,,n=us=er,r=abc", kMalformed},     // bare '='
        {"n,,n=user,r=ab c", kMalformed},     // non-printable nonce
        {"n,,m=x,n=user,r=abc", kMalformed},  // mandatory extension
    };
    for (const auto& entry : first) {
      const auto& msg = entry.first;
      const auto& cond = entry.second;
      CAPTURE(msg);
      ScramServer server(sc);
      auto r = server.client_first(msg);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == cond);
      CHECK(server.state() == ScramServer::State::kFailed);
    }
    const std::pair<const char*, SaslCondition> final_msgs[] = {
        {"c=bi#s,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
         SaslCondition::kIncorrectEncoding},
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts",
         SaslCondition::kIncorrectEncoding},
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", kMalformed},
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,m=1,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
         kMalformed},
        // A proof of the wrong length is simply a wrong proof.
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Q==",
         kNotAuthorized},
        // One flipped proof bit.
        {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tw=",
         kNotAuthorized},
    };
    ScramCredentials creds =
        scram_derive(ScramHash::kSha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
    for (const auto& entry : final_msgs) {
      const auto& msg = entry.first;
      const auto& cond = entry.second;
      CAPTURE(msg);
      ScramServer server(sc);
      REQUIRE(server.client_first(kSha1ClientFirst).ok());
      REQUIRE(server.set_credentials(&creds, true).ok());
      auto r = server.client_final(msg);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == cond);
      CHECK(server.state() == ScramServer::State::kFailed);
    }
  }

  TEST_CASE("catalogue 39/40: a failed machine stays failed; a new one starts clean") {
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    ScramCredentials creds =
        scram_derive(ScramHash::kSha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
    ScramServer server(sc);
    REQUIRE(server.client_first(kSha1ClientFirst).ok());
    REQUIRE(server.set_credentials(&creds, true).ok());
    // A wrong proof fails the machine ...
    auto bad = server.client_final(
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.condition() == kNotAuthorized);
    // ... and the correct proof afterwards cannot revive it.
    auto late = server.client_final(kSha1ClientFinal);
    REQUIRE_FALSE(late.ok());
    CHECK(late.condition() == kMalformed);
    auto restart = server.client_first(kSha1ClientFirst);
    REQUIRE_FALSE(restart.ok());
    CHECK(server.state() == ScramServer::State::kFailed);
    // A fresh machine completes the same exchange.
    ScramServer fresh(sc);
    REQUIRE(fresh.client_first(kSha1ClientFirst).ok());
    REQUIRE(fresh.set_credentials(&creds, true).ok());
    CHECK(fresh.client_final(kSha1ClientFinal).ok());
  }

  TEST_CASE("catalogue 40: out-of-order steps fail") {
    ScramServerConfig sc = server_config(ScramHash::kSha1, false, false);
    {
      ScramServer server(sc);  // <response/> before <auth/>
      auto r = server.client_final(kSha1ClientFinal);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == kMalformed);
    }
    {
      ScramServer server(sc);  // credentials before the client-first message
      auto r = server.set_credentials(&pencil(ScramHash::kSha1), true);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == SaslCondition::kTemporaryAuthFailure);
    }
    {
      ScramServer server(sc);  // client-first twice
      REQUIRE(server.client_first(kSha1ClientFirst).ok());
      auto r = server.client_first(kSha1ClientFirst);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == kMalformed);
    }
    {
      ScramServer server(sc);  // client-final before the server-first message
      REQUIRE(server.client_first(kSha1ClientFirst).ok());
      auto r = server.client_final(kSha1ClientFinal);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == kMalformed);
    }
    {
      ScramCredentials creds =
          scram_derive(ScramHash::kSha1, "pencil", b64d("QSXCR+Q6sek8bf92"), 4096);
      ScramServer server(sc);  // anything after success
      REQUIRE(server.client_first(kSha1ClientFirst).ok());
      REQUIRE(server.set_credentials(&creds, true).ok());
      REQUIRE(server.client_final(kSha1ClientFinal).ok());
      auto again = server.client_final(kSha1ClientFinal);
      REQUIRE_FALSE(again.ok());
      CHECK(server.state() == ScramServer::State::kFailed);
    }
  }

  TEST_CASE("the client refuses weak, huge and inconsistent server-first messages") {
    const std::string nonce = "fyko+d2lbbFgONRv9qkxdawL";
    const std::pair<std::string, SaslCondition> cases[] = {
        {"r=" + nonce + "X,s=QSXCR+Q6sek8bf92,i=4095", SaslCondition::kMechanismTooWeak},
        {"r=" + nonce + "X,s=QSXCR+Q6sek8bf92,i=1", SaslCondition::kMechanismTooWeak},
        {"r=" + nonce + "X,s=QSXCR+Q6sek8bf92,i=1000001", kMalformed},
        {"r=" + nonce + "X,s=QSXCR+Q6sek8bf92,i=4294967295", kMalformed},
        {"r=" + nonce + ",s=QSXCR+Q6sek8bf92,i=4096", kMalformed},  // no server part
        {"r=Xyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=4096", kMalformed},
        {"r=" + nonce + "X,s=QSXCR+Q6sek8bf92,i=4096,m=x", kMalformed},
        {"m=x,r=" + nonce + "X,s=QSXCR+Q6sek8bf92,i=4096", kMalformed},
        {"r=" + nonce + "X,s=QSXCR+Q6sek8bf9,i=4096", SaslCondition::kIncorrectEncoding},
    };
    for (const auto& entry : cases) {
      const auto& msg = entry.first;
      const auto& cond = entry.second;
      CAPTURE(msg);
      ScramClient client(client_config(ScramHash::kSha1));
      REQUIRE(client.client_first().ok());
      auto r = client.server_first(msg);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == cond);
      CHECK(client.state() == ScramClient::State::kFailed);
    }
  }

  TEST_CASE("the client rejects a wrong server signature and server errors") {
    for (const char* final_msg :
         {"v=rmF9pqV8S7suAoZWja4dJRkFsKA=", "v=AAAA", "e=invalid-proof", "e=other-error,x=1"}) {
      CAPTURE(final_msg);
      ScramClient client(client_config(ScramHash::kSha1));
      REQUIRE(client.client_first().ok());
      REQUIRE(client.server_first(kSha1ServerFirst).ok());
      auto r = client.server_final(final_msg);
      REQUIRE_FALSE(r.ok());
      CHECK(r.condition() == kNotAuthorized);
    }
    ScramClient client(client_config(ScramHash::kSha1));
    REQUIRE(client.client_first().ok());
    REQUIRE(client.server_first(kSha1ServerFirst).ok());
    REQUIRE_FALSE(client.server_final("e=invalid-proof").ok());
    CHECK(client.server_error() == "invalid-proof");
  }

  TEST_CASE("the client escapes its username and authzid and checks its config") {
    ScramClientConfig cc = client_config(ScramHash::kSha1);
    cc.username = "a,b=c";
    cc.authzid = "a,b=c";
    ScramClient client(cc);
    CHECK(client.client_first().value() == "n,a=a=2Cb=3Dc,n=a=2Cb=3Dc,r=fyko+d2lbbFgONRv9qkxdawL");

    ScramClientConfig bad_nonce = client_config(ScramHash::kSha1);
    bad_nonce.client_nonce = "has,comma";
    ScramClient c1(bad_nonce);
    CHECK(c1.client_first().condition() == SaslCondition::kTemporaryAuthFailure);

    ScramClientConfig bad_cb = client_config(ScramHash::kSha1);
    bad_cb.cbind_flag = Gs2CbindFlag::kUsed;
    bad_cb.cb_name = "tls-unique";
    bad_cb.cb_data = "x";
    ScramClient c2(bad_cb);
    CHECK(c2.client_first().condition() == SaslCondition::kTemporaryAuthFailure);
  }

  TEST_CASE("fake credentials are deterministic and shaped like real ones") {
    ScramCredentials a = scram_fake_credentials(ScramHash::kSha1, "secret", "alice", 4096);
    ScramCredentials b = scram_fake_credentials(ScramHash::kSha1, "secret", "alice", 4096);
    ScramCredentials c = scram_fake_credentials(ScramHash::kSha256, "secret", "bob", 4096);
    CHECK(a.salt == b.salt);
    CHECK(a.stored_key == b.stored_key);
    CHECK(a.salt.size() == kScramSaltBytes);
    CHECK(a.stored_key.size() == 20);
    CHECK(a.server_key.size() == 20);
    CHECK(c.stored_key.size() == 32);
    CHECK(a.salt != c.salt);
    CHECK(a.stored_key != a.server_key);
    scram_wipe(a);
    CHECK(a.salt.empty());
    CHECK(a.stored_key.empty());
    CHECK(a.server_key.empty());
    CHECK(a.iterations == 0);
  }

  TEST_CASE("server nonce helper produces a printable nonce") {
    std::string n = scram_nonce_from_random(std::string("\xfb\xff\xbf\x00\x01\x02", 6));
    CHECK(scram_is_printable_nonce(n));
  }

  TEST_CASE("scram_derive_from_password prepares with OpaqueString first") {
    ScramCredentials plain =
        scram_derive(ScramHash::kSha256, "pencil", kSalt16, kScramDefaultIterations);
    ScramCredentials out;
    REQUIRE(scram_derive_from_password(ScramHash::kSha256, "pencil", kSalt16,
                                       kScramDefaultIterations, out) == PrecisError::kOk);
    CHECK(out.stored_key == plain.stored_key);
    CHECK(out.server_key == plain.server_key);
    // RFC 8265 §4.2.1: non-ASCII spaces map to U+0020 before hashing.
    ScramCredentials spaced = scram_derive(ScramHash::kSha256, "pen cil", kSalt16, 4096);
    ScramCredentials nbsp;
    REQUIRE(scram_derive_from_password(ScramHash::kSha256,
                                       "pen\xc2\xa0"
                                       "cil",
                                       kSalt16, 4096, nbsp) == PrecisError::kOk);
    CHECK(nbsp.stored_key == spaced.stored_key);
    // A refused password leaves |out| untouched.
    ScramCredentials untouched;
    CHECK(scram_derive_from_password(ScramHash::kSha256, "", kSalt16, 4096, untouched) !=
          PrecisError::kOk);
    CHECK(untouched.stored_key.empty());
  }
}

}  // namespace
}  // namespace xd::protocol
