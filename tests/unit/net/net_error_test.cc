// NetError tables, the fatal threshold and the boundary conversions.
#include "net/net_error.h"

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <set>
#include <string>

namespace xd::net {
namespace {

TEST_SUITE("net.net_error") {
  TEST_CASE("every value has a unique name and a message, inside [500, 599]") {
    std::set<std::string_view> names;
    for (int v = static_cast<int>(NetError::kFirst_) + 1; v < static_cast<int>(NetError::kLast_);
         ++v) {
      if (v == static_cast<int>(NetError::kFatal_)) continue;
      const auto e = static_cast<NetError>(v);
      CAPTURE(v);
      CHECK(v >= 500);
      CHECK(v < 600);
      CHECK(net_error_name(e) != "unknown");
      CHECK(net_error_message(e) != "unknown error");
      CHECK(names.insert(net_error_name(e)).second);
    }
    CHECK(net_error_name(NetError::kOk) == "ok");
    CHECK(net_error_name(NetError::kFatal_) == "unknown");
    CHECK(net_error_name(static_cast<NetError>(12345)) == "unknown");
  }

  TEST_CASE("the fatal threshold separates call refusals from connection endings") {
    CHECK_FALSE(net_error_is_fatal(NetError::kOk));
    CHECK_FALSE(net_error_is_fatal(NetError::kInvalidAddress));
    CHECK_FALSE(net_error_is_fatal(NetError::kTooManyOpenFiles));
    CHECK(net_error_is_fatal(NetError::kClosed));
    CHECK(net_error_is_fatal(NetError::kTlsHandshakeTimeout));
    CHECK(net_error_is_fatal(NetError::kTlsError));
    CHECK(net_error_name(NetError::kTlsHandshakeTimeout) == "tls-handshake-timeout");
  }

  TEST_CASE("libuv and OpenSSL errors become text at the boundary") {
    NetStatus st = net_fail_uv(NetError::kReadFailed, UV_ECONNRESET);
    CHECK(st.code == NetError::kReadFailed);
    CHECK(st.detail.find("ECONNRESET") != std::string::npos);
    CHECK(st.to_string().rfind("read-failed: ECONNRESET", 0) == 0);
    CHECK(net_ok().ok());
    CHECK(net_ok().to_string() == "ok");

    ERR_clear_error();
    CHECK(take_openssl_errors("none") == "none");
    CHECK(SSL_CTX_use_certificate_file(nullptr, "/nonexistent", SSL_FILETYPE_PEM) != 1);
    const std::string text = take_openssl_errors();
    CHECK_FALSE(text.empty());
    CHECK(ERR_peek_error() == 0);  // the queue was emptied
  }
}

}  // namespace
}  // namespace xd::net
