#include "protocol/stream_error.h"

#include "protocol/name_table.h"
#include "protocol/xml/element.h"

namespace xd::protocol {
namespace {

struct Entry {
  std::string_view name;
  std::string_view message;
};

constexpr Entry kEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_STREAM_CONDITIONS(XD_X)
#undef XD_X
};

const Entry* entry(StreamCondition c) { return name_table_entry(kEntries, c); }

}  // namespace

std::string_view stream_condition_name(StreamCondition condition) {
  const Entry* e = entry(condition);
  return e ? e->name : "undefined-condition";
}

std::string_view stream_condition_message(StreamCondition condition) {
  const Entry* e = entry(condition);
  return e ? e->message : "undefined condition";
}

std::optional<StreamCondition> stream_condition_from_name(std::string_view name) {
  return name_table_find<StreamCondition>(kEntries, name);
}

std::unique_ptr<Element> make_stream_error(StreamCondition condition, std::string_view text,
                                           std::unique_ptr<Element> app_specific) {
  auto error = std::make_unique<Element>(kStreamNs, "error");
  error->add_child(kStreamsErrorNs, stream_condition_name(condition));
  if (!text.empty()) {
    Element& t = error->add_child(kStreamsErrorNs, "text");
    t.add_text(text);
  }
  if (app_specific) error->add_child(std::move(app_specific));
  return error;
}

}  // namespace xd::protocol
