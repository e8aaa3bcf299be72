// TlsContext: SSL_CTX policy for xmppd's server and client.
#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/net_error.h"

namespace xd::net {
namespace {

// RFC 9325 (BCP 195) §4.2: TLS 1.2 cipher suites with ECDHE key exchange and
// AEAD encryption only (the Mozilla "intermediate" list minus finite-field
// DHE). TLS 1.3 suites are all AEAD; the list fixes their order.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

// ALPN wire format (RFC 7301 §3.1): each name prefixed by its length byte.
// Returns false when a name is empty or longer than 255 bytes.
bool alpn_wire(const std::vector<std::string>& names, std::string& out) {
  out.clear();
  for (const auto& n : names) {
    if (n.empty() || n.size() > 255) return false;
    out.push_back(static_cast<char>(n.size()));
    out += n;
  }
  return true;
}

// The server's ALPN list lives in the SSL_CTX's ex_data so that it shares
// the SSL_CTX's lifetime (connections hold a reference to the SSL_CTX, not to
// the TlsContext).
void free_alpn(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
               void* /*argp*/) {
  delete static_cast<std::string*>(ptr);
}

int alpn_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_alpn);
  return index;
}

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void* /*arg*/) {
  auto* ours = static_cast<std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index()));
  if (ours == nullptr || ours->empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* selected = nullptr;
  // Server preference order: the first of our names the client offered.
  if (SSL_select_next_proto(&selected, outlen, reinterpret_cast<const unsigned char*>(ours->data()),
                            static_cast<unsigned>(ours->size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// Settings shared by both roles. Returns false with |error| set.
bool apply_common_policy(SSL_CTX* ctx, std::string& error) {
  // hostile-inputs.md catalogue 36: SSLv3, TLS 1.0 and 1.1 get a handshake
  // failure; RFC 8996 deprecates them.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    error = "TLS policy rejected: " + take_openssl_errors();
    return false;
  }
  // No renegotiation in either direction (Prosody CVE-2021-32920; OpenSSL 3
  // already refuses client-initiated renegotiation, this also covers
  // server-initiated), no TLS compression (CRIME).
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their 16 KiB+ record buffers back (hostile-inputs.md
  // "TLS timeouts"): the memory of 10k idle sessions matters more than a
  // malloc per record.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return true;
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsContext> TlsContext::server(const std::string& cert_file,
                                               const std::string& key_file, std::string& error,
                                               const TlsServerOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    error = "SSL_CTX_new: " + take_openssl_errors();
    return nullptr;
  }
  std::unique_ptr<TlsContext> result(new TlsContext(ctx, true));
  if (!apply_common_policy(ctx, error)) return nullptr;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    error = "cannot load certificate chain '" + cert_file + "': " + take_openssl_errors();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "cannot load private key '" + key_file + "': " + take_openssl_errors();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "private key does not match the certificate: " + take_openssl_errors();
    return nullptr;
  }
  // TLS 1.3 resumption tickets are fine (stateless); one per handshake is
  // enough for a client that keeps one connection.
  SSL_CTX_set_num_tickets(ctx, 1);
  if (!options.alpn.empty()) {
    auto wire = std::make_unique<std::string>();
    if (!alpn_wire(options.alpn, *wire)) {
      error = "invalid ALPN protocol name";
      return nullptr;
    }
    if (SSL_CTX_set_ex_data(ctx, alpn_index(), wire.get()) != 1) {
      error = "SSL_CTX_set_ex_data: " + take_openssl_errors();
      return nullptr;
    }
    wire.release();  // now owned by the SSL_CTX (free_alpn)
    SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);
  }
  ERR_clear_error();
  return result;
}

std::unique_ptr<TlsContext> TlsContext::client(const std::string& ca_file, std::string& error,
                                               const TlsClientOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    error = "SSL_CTX_new: " + take_openssl_errors();
    return nullptr;
  }
  std::unique_ptr<TlsContext> result(new TlsContext(ctx, false));
  if (!apply_common_policy(ctx, error)) return nullptr;
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                     : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) {
    error = "cannot load CA certificates '" + (ca_file.empty() ? "<system>" : ca_file) +
            "': " + take_openssl_errors();
    return nullptr;
  }
  // Verification is mandatory (hostile-inputs.md catalogue 75: a client that
  // goes on after a name mismatch leaks credentials to a MITM).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.alpn.empty()) {
    std::string wire;
    if (!alpn_wire(options.alpn, wire)) {
      error = "invalid ALPN protocol name";
      return nullptr;
    }
    // Note the inverted convention: 0 means success here.
    if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned>(wire.size())) != 0) {
      error = "SSL_CTX_set_alpn_protos: " + take_openssl_errors();
      return nullptr;
    }
  }
  ERR_clear_error();
  return result;
}

}  // namespace xd::net
