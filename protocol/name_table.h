// Lookup in the name tables that the X-macro error lists generate
// (conventions.md §5): an enum whose values run from Enum::kFirst_ + 1 to
// Enum::kLast_ - 1, and a parallel array of entries with a `name` member.
// Pure functions; never performs I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace xd::protocol {

// The entry for |value| in |table|, or null when |value| is outside the
// enum's range (a corrupted or cast value).
template <typename Enum, typename Entry, size_t N>
const Entry* name_table_entry(const Entry (&table)[N], Enum value) {
  constexpr int kFirst = static_cast<int>(Enum::kFirst_) + 1;
  static_assert(static_cast<int>(Enum::kLast_) - kFirst == static_cast<int>(N),
                "the table must have one entry per enumerator");
  const int i = static_cast<int>(value) - kFirst;
  return (i >= 0 && i < static_cast<int>(N)) ? &table[i] : nullptr;
}

// The enumerator whose entry is named |name|, or nullopt.
template <typename Enum, typename Entry, size_t N>
std::optional<Enum> name_table_find(const Entry (&table)[N], std::string_view name) {
  constexpr int kFirst = static_cast<int>(Enum::kFirst_) + 1;
  for (size_t i = 0; i < N; ++i) {
    if (table[i].name == name) return static_cast<Enum>(kFirst + static_cast<int>(i));
  }
  return std::nullopt;
}

}  // namespace xd::protocol
