// TlsTransport: OpenSSL through a custom memory BIO.
#include "net/tls_transport.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cassert>
#include <cstring>
#include <string>

#include "net/address.h"
#include "net/tls_context.h"

namespace xd::net {

// Gives the BIO callbacks access to TlsTransport's private bio_read/write.
struct TlsBioAccess {
  static int read(BIO* bio, char* out, int len) {
    BIO_clear_retry_flags(bio);
    return static_cast<TlsTransport*>(BIO_get_data(bio))->bio_read(out, len);
  }
  static int write(BIO* bio, const char* data, int len) {
    BIO_clear_retry_flags(bio);
    return static_cast<TlsTransport*>(BIO_get_data(bio))->bio_write(data, len);
  }
};

namespace {

// RFC 9266 §2: the tls-exporter label; 32 bytes, no context.
constexpr std::string_view kExporterLabel = "EXPORTER-Channel-Binding";
constexpr size_t kExporterLength = 32;

long bio_ctrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  // OpenSSL flushes after each flight; our writes are already "sent" (in the
  // caller's buffer). Everything else (pending counts, kTLS queries) is 0.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bio_destroy(BIO* /*bio*/) { return 1; }

const BIO_METHOD* transport_bio_method() {
  // Created once per process and never freed (it is immutable and shared).
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "xd-transport");
    if (m == nullptr) return m;
    BIO_meth_set_read(m, &TlsBioAccess::read);
    BIO_meth_set_write(m, &TlsBioAccess::write);
    BIO_meth_set_ctrl(m, &bio_ctrl);
    BIO_meth_set_create(m, &bio_create);
    BIO_meth_set_destroy(m, &bio_destroy);
    return m;
  }();
  return method;
}

}  // namespace

TlsTransport::TlsTransport(ssl_st* ssl, bool is_server) : ssl_(ssl), is_server_(is_server) {}

TlsTransport::~TlsTransport() { SSL_free(ssl_); }

std::unique_ptr<TlsTransport> TlsTransport::server(const TlsContext& context, NetStatus& error) {
  if (!context.is_server()) {
    error = net_fail(NetError::kInvalidState, "TLS server transport from a client context");
    return nullptr;
  }
  ERR_clear_error();
  SSL* ssl = SSL_new(context.native_handle());
  BIO* bio = ssl != nullptr ? BIO_new(transport_bio_method()) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl);
    error = net_fail(NetError::kTlsConfig, take_openssl_errors());
    return nullptr;
  }
  std::unique_ptr<TlsTransport> t(new TlsTransport(ssl, true));
  BIO_set_data(bio, t.get());
  SSL_set_bio(ssl, bio, bio);  // one reference, owned by |ssl|
  SSL_set_accept_state(ssl);
  return t;
}

std::unique_ptr<TlsTransport> TlsTransport::client(const TlsContext& context, std::string_view host,
                                                   NetStatus& error) {
  if (context.is_server() || host.empty()) {
    error =
        net_fail(NetError::kInvalidState, "TLS client transport needs a client context and a host");
    return nullptr;
  }
  ERR_clear_error();
  SSL* ssl = SSL_new(context.native_handle());
  BIO* bio = ssl != nullptr ? BIO_new(transport_bio_method()) : nullptr;
  if (bio == nullptr) {
    SSL_free(ssl);
    error = net_fail(NetError::kTlsConfig, take_openssl_errors());
    return nullptr;
  }
  std::unique_ptr<TlsTransport> t(new TlsTransport(ssl, false));
  BIO_set_data(bio, t.get());
  SSL_set_bio(ssl, bio, bio);
  const std::string name(host);
  bool ok;
  if (is_ip_literal(name)) {
    // RFC 6125 §6.2 / RFC 6066 §3: IP literals are matched against iPAddress
    // SANs and never sent as SNI.
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  } else {
    // RFC 6125 §6.4 / RFC 7590 §3.2: the reference identity is the domain the
    // client asked for; no partial-label wildcards ("f*o.example").
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = SSL_set1_host(ssl, name.c_str()) == 1 && SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  }
  if (!ok) {
    error =
        net_fail(NetError::kTlsConfig, "cannot set the expected host: " + take_openssl_errors());
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  return t;
}

int TlsTransport::bio_read(char* out, int len) {
  if (input_.empty()) {
    BIO_set_retry_read(SSL_get_rbio(ssl_));
    return -1;
  }
  const size_t n = std::min(input_.size(), static_cast<size_t>(len));
  std::memcpy(out, input_.data(), n);
  input_.remove_prefix(n);
  return static_cast<int>(n);
}

int TlsTransport::bio_write(const char* data, int len) {
  // OpenSSL only writes from inside start/decode/encode/shutdown, which all
  // set sink_.
  assert(sink_ != nullptr);
  if (sink_ == nullptr) return -1;
  sink_->append(data, static_cast<size_t>(len));
  return len;
}

NetStatus TlsTransport::failure(int ssl_error, bool during_handshake) {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    ERR_clear_error();
    return net_fail(NetError::kEof, "TLS close_notify");
  }
  if (during_handshake && !is_server_) {
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      return net_fail(NetError::kTlsCertificateInvalid, X509_verify_cert_error_string(verify));
    }
  }
  std::string detail =
      take_openssl_errors(ssl_error == SSL_ERROR_SYSCALL ? "I/O error inside TLS"
                                                         : "TLS failure without an OpenSSL error");
  return net_fail(during_handshake ? NetError::kTlsHandshakeFailed : NetError::kTlsError,
                  std::move(detail));
}

NetStatus TlsTransport::step_handshake(TransportSink& sink, bool& stop) {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc != 1) {
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ) return net_ok();  // need more bytes
    return failure(err, true);
  }
  if (!is_server_) {
    // SSL_VERIFY_PEER already fails the handshake on a bad chain or name;
    // this re-check makes "no certificate" and any future callback mistake
    // fatal as well (hostile-inputs.md catalogue 75).
    const long verify = SSL_get_verify_result(ssl_);
    if (SSL_get0_peer_certificate(ssl_) == nullptr || verify != X509_V_OK) {
      return net_fail(NetError::kTlsCertificateInvalid, verify != X509_V_OK
                                                            ? X509_verify_cert_error_string(verify)
                                                            : "no peer certificate");
    }
  }
  handshake_done_ = true;
  if (!sink.on_handshake_complete()) stop = true;
  return net_ok();
}

NetStatus TlsTransport::start(std::string& wire_out) {
  if (is_server_ || handshake_done_) return net_ok();
  sink_ = &wire_out;
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);  // writes the ClientHello
  NetStatus status;
  if (rc != 1) {
    const int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_READ) status = failure(err, true);
  }
  sink_ = nullptr;
  return status;
}

NetStatus TlsTransport::decode(std::string_view wire, std::span<char> scratch,
                               std::string& wire_out, TransportSink& sink) {
  const bool buffered = !pending_input_.empty();
  if (buffered) {
    pending_input_.append(wire);
    input_ = pending_input_;
  } else {
    input_ = wire;
  }
  sink_ = &wire_out;

  NetStatus status;
  bool stop = false;
  if (!handshake_done_) status = step_handshake(sink, stop);
  while (status.ok() && !stop && handshake_done_) {
    ERR_clear_error();
    size_t got = 0;
    if (SSL_read_ex(ssl_, scratch.data(), scratch.size(), &got) == 1) {
      if (!sink.on_plaintext(std::string_view(scratch.data(), got))) stop = true;
      continue;
    }
    const int err = SSL_get_error(ssl_, 0);
    if (err == SSL_ERROR_WANT_READ) break;
    status = failure(err, false);
  }

  // OpenSSL normally pulls every byte into its own record buffer; keep the
  // rare remainder (e.g. after the sink stopped) for the next call.
  if (buffered) {
    pending_input_.erase(0, pending_input_.size() - input_.size());
  } else {
    pending_input_.assign(input_);
  }
  if (pending_input_.empty()) std::string().swap(pending_input_);
  input_ = {};
  sink_ = nullptr;
  return status;
}

NetStatus TlsTransport::encode(std::string& plaintext, std::string& wire_out) {
  if (!handshake_done_ || plaintext.empty()) return net_ok();
  sink_ = &wire_out;
  ERR_clear_error();
  size_t written = 0;
  NetStatus status;
  // The BIO accepts every byte, so without partial-write mode SSL_write_ex
  // either writes everything (split into records) or fails.
  if (SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &written) != 1) {
    status = failure(SSL_get_error(ssl_, 0), false);
  } else {
    plaintext.erase(0, written);
  }
  sink_ = nullptr;
  return status;
}

void TlsTransport::shutdown(std::string& wire_out) {
  if (!handshake_done_ || shutdown_sent_) return;
  shutdown_sent_ = true;
  sink_ = &wire_out;
  SSL_shutdown(ssl_);  // queues close_notify; we do not wait for the peer's
  ERR_clear_error();
  sink_ = nullptr;
}

bool TlsTransport::tls_info(TlsInfo& out) const {
  if (!handshake_done_) return false;
  out = TlsInfo{};
  out.tls13 = SSL_version(ssl_) == TLS1_3_VERSION;
  out.protocol = SSL_get_version(ssl_);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl_)) out.cipher = SSL_CIPHER_get_name(c);
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn != nullptr) out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);

  // RFC 9266 §3: tls-exporter is only safe where the exporter is bound to
  // the whole handshake: TLS 1.3, or TLS 1.2 with extended master secret.
  if (out.tls13 || SSL_get_extms_support(ssl_) == 1) {
    unsigned char key[kExporterLength];
    if (SSL_export_keying_material(ssl_, key, sizeof key, kExporterLabel.data(),
                                   kExporterLabel.size(), nullptr, 0, 0) == 1) {
      out.exporter.assign(reinterpret_cast<const char*>(key), sizeof key);
    }
  }

  // RFC 5929 §4.1: hash the server certificate with its signature algorithm's
  // hash, upgrading MD5 and SHA-1 to SHA-256.
  X509* cert = is_server_ ? SSL_get_certificate(ssl_) : SSL_get0_peer_certificate(ssl_);
  int md_nid = NID_undef;
  if (cert != nullptr && X509_get_signature_info(cert, &md_nid, nullptr, nullptr, nullptr) == 1 &&
      md_nid != NID_undef) {
    if (md_nid == NID_md5 || md_nid == NID_sha1) md_nid = NID_sha256;
    const EVP_MD* md = EVP_get_digestbynid(md_nid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    if (md != nullptr && X509_digest(cert, md, digest, &digest_len) == 1) {
      out.server_end_point.assign(reinterpret_cast<const char*>(digest), digest_len);
    }
  }
  ERR_clear_error();
  return true;
}

}  // namespace xd::net
