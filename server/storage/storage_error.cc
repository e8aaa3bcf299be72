#include "server/storage/storage_error.h"

namespace xd::server {

std::string_view storage_error_name(StorageError error) {
  switch (error) {
    case StorageError::kOk:
      return "ok";
#define XD_X(e, n, m)   \
  case StorageError::e: \
    return n;
      XD_STORAGE_ERRORS(XD_X)
#undef XD_X
    case StorageError::kFirst_:
    case StorageError::kLast_:
      break;
  }
  return "unknown";
}

std::string_view storage_error_message(StorageError error) {
  switch (error) {
    case StorageError::kOk:
      return "success";
#define XD_X(e, n, m)   \
  case StorageError::e: \
    return m;
      XD_STORAGE_ERRORS(XD_X)
#undef XD_X
    case StorageError::kFirst_:
    case StorageError::kLast_:
      break;
  }
  return "unknown storage error";
}

bool storage_error_is_fatal(StorageError error) {
  // kIo is the last entry of the list; anything past the list is not an
  // error we produced, and treating it as fatal is the safe reading.
  return static_cast<int>(error) >= static_cast<int>(StorageError::kIo);
}

}  // namespace xd::server
