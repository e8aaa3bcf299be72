#include "protocol/sasl/sasl_error.h"

#include "protocol/name_table.h"

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

static_assert(static_cast<int>(SaslCondition::kFirst_) + 1 == 300 &&
                  static_cast<int>(SaslCondition::kLast_) <= 400,
              "SASL conditions own [300, 399]");

const Entry* entry(SaslCondition c) { return name_table_entry(kEntries, c); }

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
  return name_table_find<SaslCondition>(kEntries, name);
}

}  // namespace xd::protocol
