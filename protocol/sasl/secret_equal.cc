#include "protocol/sasl/secret_equal.h"

#include <openssl/crypto.h>

#include <atomic>

namespace xd::protocol {
namespace {

std::atomic<uint64_t> g_calls{0};

}  // namespace

bool secret_equal(std::string_view a, std::string_view b) {
  g_calls.fetch_add(1, std::memory_order_relaxed);
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

uint64_t secret_equal_calls_for_test() { return g_calls.load(std::memory_order_relaxed); }

}  // namespace xd::protocol
