// TlsContext: policy (versions, options, buffers), loading errors, ALPN
// validation.
#include "net/tls_context.h"

#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include <string>

#include "tests/unit/net/net_test_support.h"

namespace xd::net {
namespace {

using test::cert_path;

TEST_SUITE("net.tls_context") {
  TEST_CASE("server policy: TLS 1.2+, no renegotiation, no compression, released buffers") {
    std::string error;
    auto ctx = TlsContext::server(cert_path("server.pem"), cert_path("server.key"), error);
    REQUIRE_MESSAGE(ctx, error);
    CHECK(ctx->is_server());
    SSL_CTX* raw = ctx->native_handle();
    CHECK(SSL_CTX_get_min_proto_version(raw) == TLS1_2_VERSION);
    const uint64_t opts = SSL_CTX_get_options(raw);
    CHECK((opts & SSL_OP_NO_RENEGOTIATION) != 0);
    CHECK((opts & SSL_OP_NO_COMPRESSION) != 0);
    CHECK((opts & SSL_OP_ALLOW_CLIENT_RENEGOTIATION) == 0);
    CHECK((SSL_CTX_get_mode(raw) & SSL_MODE_RELEASE_BUFFERS) != 0);
    // Only AEAD suites with forward secrecy are enabled (RFC 9325).
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(raw);
    REQUIRE(ciphers != nullptr);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
      const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
      CAPTURE(SSL_CIPHER_get_name(c));
      CHECK(SSL_CIPHER_is_aead(c) == 1);
      const int kx = SSL_CIPHER_get_kx_nid(c);
      CHECK((kx == NID_kx_ecdhe || kx == NID_kx_any));
    }
  }

  TEST_CASE("client policy: verification is always on") {
    std::string error;
    auto ctx = TlsContext::client(cert_path("ca.pem"), error);
    REQUIRE_MESSAGE(ctx, error);
    CHECK_FALSE(ctx->is_server());
    CHECK((SSL_CTX_get_verify_mode(ctx->native_handle()) & SSL_VERIFY_PEER) != 0);
    CHECK(SSL_CTX_get_min_proto_version(ctx->native_handle()) == TLS1_2_VERSION);
    auto system = TlsContext::client("", error);
    CHECK_MESSAGE(system, error);
  }

  TEST_CASE("loading errors are reported as text") {
    std::string error;
    CHECK_FALSE(TlsContext::server("/nonexistent.pem", cert_path("server.key"), error));
    CHECK(error.find("/nonexistent.pem") != std::string::npos);
    error.clear();
    CHECK_FALSE(TlsContext::server(cert_path("server.pem"), "/nonexistent.key", error));
    CHECK(error.find("/nonexistent.key") != std::string::npos);
    error.clear();
    // A key that belongs to another certificate.
    CHECK_FALSE(TlsContext::server(cert_path("server.pem"), cert_path("server-sha384.key"), error));
    CHECK(error.find("server-sha384.key") != std::string::npos);
    CHECK(error.find("mismatch") != std::string::npos);
    error.clear();
    CHECK_FALSE(TlsContext::client("/nonexistent-ca.pem", error));
    CHECK(error.find("/nonexistent-ca.pem") != std::string::npos);
  }

  TEST_CASE("ALPN names must be 1..255 bytes") {
    std::string error;
    TlsServerOptions bad;
    bad.alpn = {""};
    CHECK_FALSE(TlsContext::server(cert_path("server.pem"), cert_path("server.key"), error, bad));
    TlsClientOptions too_long;
    too_long.alpn = {std::string(256, 'x')};
    CHECK_FALSE(TlsContext::client(cert_path("ca.pem"), error, too_long));
    TlsServerOptions good;
    good.alpn = {"xmpp-client"};
    CHECK(TlsContext::server(cert_path("server.pem"), cert_path("server.key"), error, good));
  }
}

}  // namespace
}  // namespace xd::net
