// TLS helpers for the net/ tests: fixture contexts, independent certificate
// hashing, and an in-memory pump that connects two TlsTransports without
// sockets (the transport is sans-I/O).
#pragma once

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "net/tls_context.h"
#include "net/tls_transport.h"
#include "tests/unit/net/net_test_support.h"

namespace xd::net::test {

inline std::unique_ptr<TlsContext> server_context(const std::string& name = "server",
                                                  std::vector<std::string> alpn = {}) {
  std::string error;
  TlsServerOptions options;
  options.alpn = std::move(alpn);
  auto ctx = TlsContext::server(cert_path(name + ".pem"), cert_path(name + ".key"), error, options);
  REQUIRE_MESSAGE(ctx, error);
  return ctx;
}

inline std::unique_ptr<TlsContext> client_context(const std::string& ca = "ca.pem",
                                                  std::vector<std::string> alpn = {}) {
  std::string error;
  TlsClientOptions options;
  options.alpn = std::move(alpn);
  auto ctx = TlsContext::client(cert_path(ca), error, options);
  REQUIRE_MESSAGE(ctx, error);
  return ctx;
}

// A client context that offers only TLS 1.0/1.1, as an old or downgrading
// client would. Security level 0 is needed for OpenSSL 3 to send such a
// ClientHello at all.
inline std::unique_ptr<TlsContext> legacy_client_context() {
  auto ctx = client_context();
  SSL_CTX* raw = ctx->native_handle();
  SSL_CTX_set_security_level(raw, 0);
  REQUIRE(SSL_CTX_set_min_proto_version(raw, TLS1_VERSION) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(raw, TLS1_1_VERSION) == 1);
  REQUIRE(SSL_CTX_set_cipher_list(raw, "DEFAULT:@SECLEVEL=0") == 1);
  return ctx;
}

// Hash of the DER encoding of the PEM certificate |name| with |md|,
// computed without the code under test (RFC 5929 §4.1 by hand).
inline std::string cert_hash(const std::string& name, const EVP_MD* md) {
  FILE* f = std::fopen(cert_path(name).c_str(), "r");
  REQUIRE(f != nullptr);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  REQUIRE(cert != nullptr);
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert, &der);
  REQUIRE(der_len > 0);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned digest_len = 0;
  REQUIRE(EVP_Digest(der, static_cast<size_t>(der_len), digest, &digest_len, md, nullptr) == 1);
  OPENSSL_free(der);
  X509_free(cert);
  return std::string(reinterpret_cast<const char*>(digest), digest_len);
}

struct RecordingSink : TransportSink {
  std::string got;
  int handshakes = 0;
  bool on_plaintext(std::string_view bytes) override {
    got.append(bytes);
    return true;
  }
  bool on_handshake_complete() override {
    ++handshakes;
    return true;
  }
};

// Two TlsTransports wired back to back in memory.
struct MemoryTlsPair {
  std::unique_ptr<TlsTransport> server;
  std::unique_ptr<TlsTransport> client;
  RecordingSink server_sink;
  RecordingSink client_sink;
  std::string to_server;
  std::string to_client;
  NetStatus server_status;
  NetStatus client_status;
  std::vector<char> scratch = std::vector<char>(16 * 1024);

  MemoryTlsPair(const TlsContext& server_ctx, const TlsContext& client_ctx,
                const std::string& host = "localhost") {
    NetStatus error;
    server = TlsTransport::server(server_ctx, error);
    REQUIRE_MESSAGE(server, error.to_string());
    client = TlsTransport::client(client_ctx, host, error);
    REQUIRE_MESSAGE(client, error.to_string());
    client_status = client->start(to_server);
  }

  // Delivers bytes back and forth until nothing moves; a side that failed
  // stops decoding (its last output, e.g. an alert, is still delivered).
  void pump() {
    for (int round = 0; round < 50 && (!to_server.empty() || !to_client.empty()); ++round) {
      std::string in;
      in.swap(to_server);
      if (server_status.ok() && !in.empty()) {
        server_status = server->decode(in, scratch, to_client, server_sink);
      }
      in.clear();
      in.swap(to_client);
      if (client_status.ok() && !in.empty()) {
        client_status = client->decode(in, scratch, to_server, client_sink);
      }
    }
  }

  bool handshake() {
    pump();
    return server->ready() && client->ready();
  }
};

}  // namespace xd::net::test
