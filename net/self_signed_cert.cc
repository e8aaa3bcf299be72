// Self-signed certificate generation with the OpenSSL 3 EVP/X509 APIs.
#include "net/self_signed_cert.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "net/address.h"
#include "net/net_error.h"

namespace xd::net {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};

bool add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// Opens |path| for writing with |mode| applied at creation (so the key is
// never world-readable, not even briefly).
std::unique_ptr<FILE, FileClose> open_for_write(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return nullptr;
  ::fchmod(fd, mode);
  FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) ::close(fd);
  return std::unique_ptr<FILE, FileClose>(f);
}

}  // namespace

bool write_self_signed(const std::string& cert_path, const std::string& key_path,
                       const std::string& common_name, std::string& error, int valid_days) {
  ERR_clear_error();
  if (common_name.empty() || valid_days <= 0) {
    error = "empty common name or non-positive validity";
    return false;
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!key || !cert) {
    error = "key generation failed: " + take_openssl_errors();
    return false;
  }
  // A random positive 127-bit serial (RFC 5280 §4.1.2.2: at most 20 octets).
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    error = "RAND_bytes failed: " + take_openssl_errors();
    return false;
  }
  serial_bytes[0] &= 0x7f;
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
  const bool serial_ok =
      serial != nullptr && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(serial);

  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
  const std::string san = (is_ip_literal(common_name) ? "IP:" : "DNS:") + common_name;
  const bool ok =
      serial_ok && X509_set_version(cert.get(), 2) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), valid_days, 0, nullptr) != nullptr &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, cn, -1, -1, 0) == 1 &&
      X509_set_issuer_name(cert.get(), name) == 1 && X509_set_pubkey(cert.get(), key.get()) == 1 &&
      add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") &&
      add_extension(cert.get(), NID_key_usage, "critical,digitalSignature") &&
      add_extension(cert.get(), NID_ext_key_usage, "serverAuth") &&
      add_extension(cert.get(), NID_subject_alt_name, san) &&
      X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) {
    error = "certificate construction failed: " + take_openssl_errors();
    return false;
  }

  bool written = false;
  {
    auto key_file = open_for_write(key_path, 0600);
    auto cert_file = open_for_write(cert_path, 0644);
    written = key_file && cert_file &&
              PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                   nullptr) == 1 &&
              PEM_write_X509(cert_file.get(), cert.get()) == 1;
    if (written) {
      written = std::fflush(key_file.get()) == 0 && std::fflush(cert_file.get()) == 0;
    }
  }
  if (!written) {
    error = "cannot write '" + cert_path + "' / '" + key_path +
            "': " + take_openssl_errors("file error");
    ::unlink(cert_path.c_str());
    ::unlink(key_path.c_str());
    return false;
  }
  ERR_clear_error();
  return true;
}

}  // namespace xd::net
