// NetError tables and the libuv / OpenSSL error conversions.
#include "net/net_error.h"

#include <openssl/err.h>
#include <uv.h>

#include <utility>

namespace xd::net {
namespace {

struct Entry {
  std::string_view name;
  std::string_view message;
};

constexpr Entry kCallEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_NET_CALL_ERRORS(XD_X)
#undef XD_X
};
constexpr Entry kFatalEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_NET_FATAL_ERRORS(XD_X)
#undef XD_X
};

constexpr int kCallFirst = static_cast<int>(NetError::kFirst_) + 1;
constexpr int kFatalFirst = static_cast<int>(NetError::kFatal_) + 1;
static_assert(kCallFirst + std::size(kCallEntries) == static_cast<int>(NetError::kFatal_));
static_assert(kFatalFirst + std::size(kFatalEntries) == static_cast<int>(NetError::kLast_));

const Entry* find(NetError error) {
  const int v = static_cast<int>(error);
  if (v >= kCallFirst && v < static_cast<int>(NetError::kFatal_))
    return &kCallEntries[v - kCallFirst];
  if (v >= kFatalFirst && v < static_cast<int>(NetError::kLast_))
    return &kFatalEntries[v - kFatalFirst];
  return nullptr;
}

}  // namespace

std::string_view net_error_name(NetError error) {
  if (error == NetError::kOk) return "ok";
  const Entry* e = find(error);
  return e ? e->name : "unknown";
}

std::string_view net_error_message(NetError error) {
  if (error == NetError::kOk) return "no error";
  const Entry* e = find(error);
  return e ? e->message : "unknown error";
}

bool net_error_is_fatal(NetError error) {
  const int v = static_cast<int>(error);
  return v >= kFatalFirst && v < static_cast<int>(NetError::kLast_);
}

std::string NetStatus::to_string() const {
  std::string out(net_error_name(code));
  if (!detail.empty()) {
    out += ": ";
    out += detail;
  }
  return out;
}

NetStatus net_fail_uv(NetError code, int uv_error) {
  std::string detail = uv_err_name(uv_error);
  detail += ": ";
  detail += uv_strerror(uv_error);
  return NetStatus{code, std::move(detail)};
}

std::string take_openssl_errors(std::string_view fallback) {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  if (out.empty()) out = fallback;
  return out;
}

}  // namespace xd::net
