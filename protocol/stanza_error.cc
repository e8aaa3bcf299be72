#include "protocol/stanza_error.h"

#include "protocol/name_table.h"
#include "protocol/xml/element.h"

namespace xd::protocol {
namespace {

struct Entry {
  std::string_view name;
  StanzaErrorType type;
};

constexpr Entry kEntries[] = {
#define XD_X(e, n, t) {n, StanzaErrorType::t},
    XD_STANZA_CONDITIONS(XD_X)
#undef XD_X
};

const Entry* entry(StanzaCondition c) { return name_table_entry(kEntries, c); }

}  // namespace

std::string_view stanza_error_type_name(StanzaErrorType type) {
  switch (type) {
    case StanzaErrorType::kAuth:
      return "auth";
    case StanzaErrorType::kCancel:
      return "cancel";
    case StanzaErrorType::kContinue:
      return "continue";
    case StanzaErrorType::kModify:
      return "modify";
    case StanzaErrorType::kWait:
      return "wait";
  }
  return "cancel";
}

std::string_view stanza_condition_name(StanzaCondition condition) {
  const Entry* e = entry(condition);
  return e ? e->name : "undefined-condition";
}

StanzaErrorType stanza_condition_default_type(StanzaCondition condition) {
  const Entry* e = entry(condition);
  return e ? e->type : StanzaErrorType::kCancel;
}

std::optional<StanzaCondition> stanza_condition_from_name(std::string_view name) {
  return name_table_find<StanzaCondition>(kEntries, name);
}

std::unique_ptr<Element> make_error_child(const StanzaError& error, std::string_view stanza_ns,
                                          std::unique_ptr<Element> app_specific) {
  auto child = std::make_unique<Element>(stanza_ns, "error");
  StanzaErrorType type = error.type.value_or(stanza_condition_default_type(error.condition));
  child->set_attr("type", stanza_error_type_name(type));
  if (!error.by.empty()) child->set_attr("by", error.by);
  child->add_child(kStanzasErrorNs, stanza_condition_name(error.condition));
  if (!error.text.empty()) {
    Element& t = child->add_child(kStanzasErrorNs, "text");
    t.add_text(error.text);
  }
  if (app_specific) child->add_child(std::move(app_specific));
  return child;
}

std::unique_ptr<Element> make_error_reply(const Element& stanza, const StanzaError& error,
                                          std::unique_ptr<Element> app_specific) {
  // RFC 6120 §8.3.1: never answer an error with an error.
  if (stanza.attr_or("type") == "error") return nullptr;
  auto reply = std::make_unique<Element>(stanza.ns(), stanza.name());
  if (const std::string* id = stanza.attr("id")) reply->set_attr("id", *id);
  if (const std::string* from = stanza.attr("from")) reply->set_attr("to", *from);
  if (const std::string* to = stanza.attr("to")) reply->set_attr("from", *to);
  reply->set_attr("type", "error");
  reply->add_child(make_error_child(error, stanza.ns(), std::move(app_specific)));
  return reply;
}

std::optional<StanzaCondition> stanza_error_condition(const Element& stanza) {
  if (stanza.attr_or("type") != "error") return std::nullopt;
  const Element* error = stanza.child("error", stanza.ns());
  if (!error) return std::nullopt;
  for (const Node& n : error->children()) {
    if (n.element && n.element->ns() == kStanzasErrorNs && n.element->name() != "text") {
      return stanza_condition_from_name(n.element->name());
    }
  }
  return std::nullopt;
}

}  // namespace xd::protocol
