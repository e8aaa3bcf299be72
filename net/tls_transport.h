// TlsTransport: TLS 1.2/1.3 as a sans-I/O Transport. OpenSSL is driven
// through a custom BIO that reads from the bytes handed to decode() and
// appends what it writes to the caller's output string (h2o setup_bio), so
// TLS never touches a file descriptor and holds no buffer of its own between
// calls beyond OpenSSL's (released when idle, SSL_MODE_RELEASE_BUFFERS).
// A client transport verifies the server certificate chain and host name and
// fails the handshake otherwise; there is no way to skip that.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "net/transport.h"

struct ssl_st;

namespace xd::net {

class TlsContext;

class TlsTransport final : public Transport {
 public:
  // A server-side transport from |context| (which must be a server
  // context). The SSL object takes its own reference to the SSL_CTX, so
  // |context| need not outlive the transport. Returns null with |error| set
  // if OpenSSL cannot allocate the session.
  static std::unique_ptr<TlsTransport> server(const TlsContext& context, NetStatus& error);

  // A client-side transport that will verify the peer as |host| (a DNS name
  // or IP literal; sent as SNI when it is a name). Returns null with |error|
  // (kInvalidState for a server context or an empty host) on failure.
  static std::unique_ptr<TlsTransport> client(const TlsContext& context, std::string_view host,
                                              NetStatus& error);

  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  bool is_tls() const override { return true; }
  bool ready() const override { return handshake_done_; }
  NetStatus start(std::string& wire_out) override;
  NetStatus decode(std::string_view wire, std::span<char> scratch, std::string& wire_out,
                   TransportSink& sink) override;
  NetStatus encode(std::string& plaintext, std::string& wire_out) override;
  void shutdown(std::string& wire_out) override;
  bool tls_info(TlsInfo& out) const override;

  // Bytes of ciphertext received but not yet consumed by OpenSSL (normally
  // 0: OpenSSL pulls whole records into its own buffer). For tests.
  size_t pending_input_for_test() const { return pending_input_.size(); }
  // The SSL object, for tests that provoke protocol misbehaviour.
  ssl_st* native_handle_for_test() const { return ssl_; }

 private:
  TlsTransport(ssl_st* ssl, bool is_server);

  // Custom BIO callbacks (see tls_transport.cc).
  friend struct TlsBioAccess;
  int bio_read(char* out, int len);
  int bio_write(const char* data, int len);

  // Runs one handshake step; reports completion to |sink|. Returns a fatal
  // status, or ok with |stop| set when the sink asked to stop.
  NetStatus step_handshake(TransportSink& sink, bool& stop);
  NetStatus failure(int ssl_error, bool during_handshake);

  ssl_st* ssl_;
  std::string_view input_;       // ciphertext available to bio_read during decode()
  std::string pending_input_;    // ciphertext left over between decode() calls
  std::string* sink_ = nullptr;  // where bio_write appends, during a call
  bool is_server_;
  bool handshake_done_ = false;
  bool shutdown_sent_ = false;
};

}  // namespace xd::net
