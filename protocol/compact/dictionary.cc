#include "protocol/compact/dictionary.h"

#include <unordered_map>

#include "protocol/compact/compact_dictionary_data.h"

namespace xd::protocol::compact {
namespace {

using compact_data::kTokenCount;
using compact_data::kTokens;

static_assert(sizeof(kTokens) / sizeof(kTokens[0]) == kTokenCount + 1u);

const std::unordered_map<std::string_view, uint16_t>& index() {
  // Built once; the views point into the constexpr table.
  static const auto* const map = [] {
    auto* m = new std::unordered_map<std::string_view, uint16_t>();
    m->reserve(kTokenCount * 2);
    for (uint16_t i = 1; i <= kTokenCount; ++i) m->emplace(kTokens[i], i);
    return m;
  }();
  return *map;
}

}  // namespace

uint8_t dictionary_version() { return compact_data::kDictionaryVersion; }

uint16_t token_count() { return kTokenCount; }

bool token(uint16_t i, std::string_view& out) {
  if (i == 0 || i > kTokenCount) return false;
  out = kTokens[i];
  return true;
}

uint16_t find_token(std::string_view text) {
  // Tokens are 1..38 bytes; most strings a stanza carries are not tokens,
  // so the length check spares a hash of long bodies.
  if (text.empty() || text.size() > 40) return 0;
  const auto& m = index();
  auto it = m.find(text);
  return it == m.end() ? 0 : it->second;
}

}  // namespace xd::protocol::compact
