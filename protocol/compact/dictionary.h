// The compact dialect's static token dictionary (spec/compact.md §7),
// generated from protocol/compact/dictionary.txt at build time. Lookups
// both ways; the tables are immutable and shared by every stream. Never
// performs I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace xd::protocol::compact {

// The dictionary version this build speaks (spec §7; the preface and the
// <compact/> feature carry it).
uint8_t dictionary_version();
// Number of tokens; valid indexes are 1..token_count().
uint16_t token_count();
// The token with |index|, or nullptr-like empty view when out of range
// (index 0 is not a token).
bool token(uint16_t index, std::string_view& out);
// The index of |text|, or 0 when it is not a token.
uint16_t find_token(std::string_view text);
// Whether token |index| is an NCName, i.e. can be an element or attribute
// name (spec §5.9); false for 0 and out-of-range indexes.
bool token_is_ncname(uint16_t index);

}  // namespace xd::protocol::compact
