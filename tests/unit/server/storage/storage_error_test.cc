// StorageError (server/storage/storage_error.h): the reserved range, the
// name table and the fatal threshold (conventions.md §5).
#include "server/storage/storage_error.h"

#include <doctest/doctest.h>

#include <set>
#include <string>

namespace xd::server {
namespace {

TEST_SUITE("storage.error") {
  TEST_CASE("kOk is zero and failures live in [600, 699]") {
    CHECK(static_cast<int>(StorageError::kOk) == 0);
    CHECK(static_cast<int>(StorageError::kNotFound) == 600);
    CHECK(static_cast<int>(StorageError::kLast_) <= 700);
  }

  TEST_CASE("every value has a distinct name and a message") {
    std::set<std::string> names;
    names.insert(std::string(storage_error_name(StorageError::kOk)));
    for (int i = static_cast<int>(StorageError::kFirst_) + 1;
         i < static_cast<int>(StorageError::kLast_); ++i) {
      auto e = static_cast<StorageError>(i);
      CHECK(storage_error_name(e) != "unknown");
      CHECK(!storage_error_message(e).empty());
      names.insert(std::string(storage_error_name(e)));
    }
    CHECK(names.size() == static_cast<size_t>(static_cast<int>(StorageError::kLast_) -
                                              static_cast<int>(StorageError::kFirst_)));
    CHECK(storage_error_name(StorageError::kOk) == "ok");
    CHECK(storage_error_name(StorageError::kFull) == "full");
    CHECK(storage_error_name(StorageError::kCorrupt) == "corrupt");
    CHECK(storage_error_name(StorageError::kFirst_) == "unknown");
    CHECK(storage_error_name(StorageError::kLast_) == "unknown");
    CHECK(storage_error_name(static_cast<StorageError>(12345)) == "unknown");
  }

  TEST_CASE("only kIo (and anything unknown) is fatal") {
    CHECK_FALSE(storage_error_is_fatal(StorageError::kOk));
    CHECK_FALSE(storage_error_is_fatal(StorageError::kNotFound));
    CHECK_FALSE(storage_error_is_fatal(StorageError::kExists));
    CHECK_FALSE(storage_error_is_fatal(StorageError::kInvalid));
    CHECK_FALSE(storage_error_is_fatal(StorageError::kFull));
    CHECK_FALSE(storage_error_is_fatal(StorageError::kCorrupt));
    CHECK(storage_error_is_fatal(StorageError::kIo));
    CHECK(storage_error_is_fatal(StorageError::kLast_));
  }
}

}  // namespace
}  // namespace xd::server
