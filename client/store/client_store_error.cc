#include "client/store/client_store_error.h"

namespace xd::client {

std::string_view client_store_error_name(ClientStoreError error) {
  switch (error) {
    case ClientStoreError::kOk:
      return "ok";
#define XD_X(e, n, m)       \
  case ClientStoreError::e: \
    return n;
      XD_CLIENT_STORE_ERRORS(XD_X)
#undef XD_X
    case ClientStoreError::kFirst_:
    case ClientStoreError::kLast_:
      break;
  }
  return "unknown";
}

std::string_view client_store_error_message(ClientStoreError error) {
  switch (error) {
    case ClientStoreError::kOk:
      return "success";
#define XD_X(e, n, m)       \
  case ClientStoreError::e: \
    return m;
      XD_CLIENT_STORE_ERRORS(XD_X)
#undef XD_X
    case ClientStoreError::kFirst_:
    case ClientStoreError::kLast_:
      break;
  }
  return "unknown client store error";
}

bool client_store_error_is_fatal(ClientStoreError error) {
  return static_cast<int>(error) >= static_cast<int>(ClientStoreError::kIo);
}

}  // namespace xd::client
