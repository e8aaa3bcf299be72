// libFuzzer target for the JID parser (conventions.md §14). The input is one
// address as it would arrive in a 'to' or 'from' attribute. Beyond "no crash,
// no sanitizer report", it checks the property routing relies on: the
// normalised form is a fixed point, so parse(str()) succeeds and is equal,
// and the PRECIS profiles are idempotent on whatever they accept.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "protocol/jid/jid.h"
#include "protocol/jid/precis.h"

namespace {

// Traps rather than asserting so the check also runs in release builds.
void require(bool condition) {
  if (!condition) __builtin_trap();
}

void check_precis_idempotent(std::string_view input) {
  using xd::protocol::PrecisError;
  std::string once;
  std::string twice;
  if (xd::protocol::username_case_mapped(input, once) == PrecisError::kOk) {
    require(xd::protocol::username_case_mapped(once, twice) == PrecisError::kOk);
    require(twice == once);
  }
  if (xd::protocol::opaque_string(input, once) == PrecisError::kOk) {
    require(xd::protocol::opaque_string(once, twice) == PrecisError::kOk);
    require(twice == once);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using xd::protocol::Jid;
  using xd::protocol::JidError;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Jid first;
  const JidError error = Jid::parse(input, first);
  // Every error has a name; an out-of-list value would mean a stray code.
  require(xd::protocol::jid_error_name(error) != "unknown");

  if (error == JidError::kOk) {
    require(!first.domain().empty());
    require(first.local().size() <= Jid::kMaxPartBytes);
    require(first.domain().size() <= Jid::kMaxPartBytes);
    require(first.resource().size() <= Jid::kMaxPartBytes);

    // Fixed point: the full form parses back to the same address.
    const std::string text = first.str();
    Jid second;
    require(Jid::parse(text, second) == JidError::kOk);
    require(second == first);
    require(second.str() == text);
    require(std::hash<Jid>{}(second) == std::hash<Jid>{}(first));

    // The parts alone rebuild it, and the bare form is consistent.
    Jid rebuilt;
    require(Jid::from_parts(first.local(), first.domain(), first.resource(), rebuilt) ==
            JidError::kOk);
    require(rebuilt == first);
    Jid bare;
    require(Jid::parse(first.bare_str(), bare) == JidError::kOk);
    require(bare == first.bare());
  }

  check_precis_idempotent(input);
  return 0;
}
