#include "protocol/compact/dictionary.h"

#include <array>
#include <cstring>

#include "protocol/compact/compact_dictionary_data.h"
#include "protocol/compact/text_rules.h"

namespace xd::protocol::compact {
namespace {

using compact_data::kTokenCount;
using compact_data::kTokens;

static_assert(sizeof(kTokens) / sizeof(kTokens[0]) == kTokenCount + 1u);

// Tokens are 1..38 bytes; a longer string is never looked up.
constexpr size_t kMaxTokenBytes = 40;
static_assert(kTokenCount < 512);
constexpr size_t kSlots = 1024;  // open addressing, load < 0.5

uint32_t hash(std::string_view s) {
  // FNV-1a: short keys, no allocation, good enough spread for 251 keys.
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

struct Table {
  std::array<uint16_t, kSlots> slots{};  // 0 = empty, else a token index
  std::array<bool, kTokenCount + 1> ncname{};
};

const Table& table() {
  static const Table* const t = [] {
    auto* tab = new Table();
    for (uint16_t i = 1; i <= kTokenCount; ++i) {
      uint32_t at = hash(kTokens[i]) & (kSlots - 1);
      while (tab->slots[at] != 0) at = (at + 1) & (kSlots - 1);
      tab->slots[at] = i;
      tab->ncname[i] = valid_ncname(kTokens[i]);
    }
    return tab;
  }();
  return *t;
}

}  // namespace

uint8_t dictionary_version() { return compact_data::kDictionaryVersion; }

uint16_t token_count() { return kTokenCount; }

bool token(uint16_t i, std::string_view& out) {
  if (i == 0 || i > kTokenCount) return false;
  out = kTokens[i];
  return true;
}

bool token_is_ncname(uint16_t i) { return i != 0 && i <= kTokenCount && table().ncname[i]; }

uint16_t find_token(std::string_view text) {
  // Most strings a stanza carries are not tokens; the length check spares
  // a hash of long bodies.
  if (text.empty() || text.size() > kMaxTokenBytes) return 0;
  const Table& t = table();
  for (uint32_t at = hash(text) & (kSlots - 1);; at = (at + 1) & (kSlots - 1)) {
    const uint16_t i = t.slots[at];
    if (i == 0) return 0;
    const std::string_view k = kTokens[i];
    if (k.size() == text.size() && std::memcmp(k.data(), text.data(), k.size()) == 0) return i;
  }
}

}  // namespace xd::protocol::compact
