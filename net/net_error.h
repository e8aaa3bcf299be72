// The error vocabulary of net/: one X-macro list that generates NetError, its
// stable names and log messages, plus NetStatus, the value every fallible
// net/ call returns. libuv's negative errno ints and OpenSSL's thread-local
// error queue are converted here, at the net/ boundary, and never travel
// upward (conventions.md §4). Never throws.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace xd::net {

// X(enumerator, name, message). Values occupy the reserved range [500, 599]
// (protocol/ uses 1xx-4xx). kOk is 0 so a status tests as "no error".
//
// Fatal threshold: kFatal_. Values below it are refusals of a single call
// (bad address, bad TLS files, bind failure): the object that returned them,
// if any, is unchanged. Values above it are why a Connection ended; each of
// them is reported once through ConnectionHandler::on_closed(), and its
// name is the `reason` string passed there.
#define XD_NET_CALL_ERRORS(X)                                                      \
  X(kInvalidAddress, "invalid-address", "not a HOST:PORT or [IPv6]:PORT address")  \
  X(kInvalidState, "invalid-state", "the call is not valid in the object's state") \
  X(kResolveFailed, "resolve-failed", "the host name could not be resolved")       \
  X(kSocketFailed, "socket-failed", "a socket could not be created or configured") \
  X(kBindFailed, "bind-failed", "the address could not be bound")                  \
  X(kListenFailed, "listen-failed", "listen() failed")                             \
  X(kTlsConfig, "tls-config", "the TLS context could not be set up")               \
  X(kTooManyOpenFiles, "too-many-open-files", "the process is out of descriptors")

#define XD_NET_FATAL_ERRORS(X)                                                        \
  X(kClosed, "closed", "the connection was closed locally")                           \
  X(kEof, "eof", "the peer closed the connection")                                    \
  X(kConnectFailed, "connect-failed", "the outgoing connection failed")               \
  X(kReadFailed, "read-failed", "reading from the socket failed")                     \
  X(kWriteFailed, "write-failed", "writing to the socket failed")                     \
  X(kTlsHandshakeFailed, "tls-handshake-failed", "the TLS handshake failed")          \
  X(kTlsHandshakeTimeout, "tls-handshake-timeout", "the TLS handshake took too long") \
  X(kTlsCertificateInvalid, "tls-certificate-invalid",                                \
    "the peer certificate did not verify for the expected host")                      \
  X(kTlsError, "tls-error", "a TLS protocol error after the handshake")

enum class NetError : int {
  kOk = 0,
  kFirst_ = 499,
#define XD_X(e, n, m) e,
  XD_NET_CALL_ERRORS(XD_X)
#undef XD_X
      kFatal_,
#define XD_X(e, n, m) e,
  XD_NET_FATAL_ERRORS(XD_X)
#undef XD_X
      kLast_,
};
static_assert(static_cast<int>(NetError::kLast_) <= 600, "NetError overflows [500, 599]");

// Stable lower-case name of |error| ("ok" for kOk, "unknown" outside the
// list). Static storage. Used as the on_closed() reason.
std::string_view net_error_name(NetError error);
// One-line English description for logs. Static storage; never peer data.
std::string_view net_error_message(NetError error);
// True when |error| ends the connection it is reported on (above kFatal_).
bool net_error_is_fatal(NetError error);

// The outcome of a fallible net/ call: a code and, for logs only, a detail
// string (the libuv or OpenSSL text). Copyable plain data.
struct [[nodiscard]] NetStatus {
  NetError code = NetError::kOk;
  std::string detail;

  bool ok() const { return code == NetError::kOk; }
  explicit operator bool() const { return ok(); }
  // "name" or "name: detail", for logs.
  std::string to_string() const;
};

inline NetStatus net_ok() { return {}; }
inline NetStatus net_fail(NetError code, std::string detail = {}) {
  return NetStatus{code, std::move(detail)};
}

// --- Boundary conversions, for net/ implementation files only. ------------

// A status with |code| whose detail names the libuv error |uv_error| (a
// negative errno as returned by uv_* calls), e.g. "ECONNRESET: connection
// reset by peer".
NetStatus net_fail_uv(NetError code, int uv_error);
// Empties this thread's OpenSSL error queue and returns its entries joined by
// "; " (most recent last), or |fallback| when the queue was empty. Every
// net/ path that sees an OpenSSL failure calls this, so one connection's
// errors never leak into the next connection's diagnosis.
std::string take_openssl_errors(std::string_view fallback = "unknown OpenSSL error");

}  // namespace xd::net
