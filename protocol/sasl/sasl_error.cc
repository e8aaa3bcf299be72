#include "protocol/sasl/sasl_error.h"

namespace xd::protocol {
namespace {

struct Entry {
  std::string_view name;
  std::string_view message;
};

constexpr Entry kEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_SASL_CONDITIONS(XD_X)
#undef XD_X
};

constexpr int kFirst = static_cast<int>(SaslCondition::kFirst_) + 1;
constexpr int kCount = static_cast<int>(SaslCondition::kLast_) - kFirst;
static_assert(kCount == sizeof kEntries / sizeof kEntries[0]);
static_assert(kFirst == 300 && kFirst + kCount <= 400, "SASL conditions own [300, 399]");

const Entry* entry(SaslCondition c) {
  int i = static_cast<int>(c) - kFirst;
  return (i >= 0 && i < kCount) ? &kEntries[i] : nullptr;
}

}  // namespace

std::string_view sasl_condition_name(SaslCondition condition) {
  const Entry* e = entry(condition);
  return e ? e->name : "temporary-auth-failure";
}

std::string_view sasl_condition_message(SaslCondition condition) {
  const Entry* e = entry(condition);
  return e ? e->message : "temporary server-side failure";
}

std::optional<SaslCondition> sasl_condition_from_name(std::string_view name) {
  for (int i = 0; i < kCount; ++i) {
    if (kEntries[i].name == name) return static_cast<SaslCondition>(kFirst + i);
  }
  return std::nullopt;
}

}  // namespace xd::protocol
