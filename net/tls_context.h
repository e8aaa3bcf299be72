// TlsContext: the OpenSSL 3 configuration (SSL_CTX) shared by every TLS
// connection of one kind, server or client. It fixes the policy that
// hostile-inputs.md "TLS timeouts" and catalogue 36 require: TLS 1.2 and 1.3
// only, BCP 195 (RFC 9325) AEAD cipher suites, no renegotiation, no
// compression, released idle buffers, and on the client certificate and
// host-name verification that cannot be turned off. It never touches a
// socket and never lets the OpenSSL error queue escape (errors are strings).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ssl_ctx_st;

namespace xd::net {

struct TlsServerOptions {
  // ALPN protocol names this endpoint serves, e.g. {"xmpp-client"} on the
  // XEP-0368 direct-TLS port. Empty: ALPN is ignored (the STARTTLS port).
  // A client that sends no ALPN extension is always accepted; a client whose
  // ALPN list shares nothing with this one gets a fatal no_application_protocol
  // alert (RFC 7301 §3.2), which also defeats cross-protocol attacks (ALPACA).
  std::vector<std::string> alpn;
};

struct TlsClientOptions {
  // ALPN protocol names to offer, most preferred first; empty sends none.
  std::vector<std::string> alpn;
};

class TlsContext {
 public:
  // A server context with the certificate chain in |cert_file| (PEM, leaf
  // first) and the matching private key in |key_file| (PEM). Returns null and
  // sets |error| to a one-line description when a file cannot be loaded, the
  // key does not match, or OpenSSL refuses the policy. Never calls back.
  static std::unique_ptr<TlsContext> server(const std::string& cert_file,
                                            const std::string& key_file, std::string& error,
                                            const TlsServerOptions& options = {});

  // A client context that verifies peers against the CA certificates in
  // |ca_file| (PEM), or against the system store when |ca_file| is empty.
  // Peer verification is always on; the host name is bound per connection
  // (TlsTransport::client). Returns null and sets |error| on failure.
  static std::unique_ptr<TlsContext> client(const std::string& ca_file, std::string& error,
                                            const TlsClientOptions& options = {});

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool is_server() const { return is_server_; }

  // The underlying SSL_CTX, still owned by this object. Connections created
  // from it take their own reference, so a TlsContext may be destroyed (for
  // example replaced on certificate reload) while they are alive.
  ssl_ctx_st* native_handle() const { return ctx_; }

 private:
  TlsContext(ssl_ctx_st* ctx, bool is_server) : ctx_(ctx), is_server_(is_server) {}

  ssl_ctx_st* ctx_;
  bool is_server_;
};

}  // namespace xd::net
