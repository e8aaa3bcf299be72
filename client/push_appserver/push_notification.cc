#include "client/push_appserver/push_notification.h"

#include <charconv>
#include <cstdio>
#include <vector>

#include "protocol/jid/jid.h"

namespace xd::client {
namespace {

struct Field {
  std::string var;
  std::vector<std::string> values;
};

const Field* find_field(const std::vector<Field>& fields, std::string_view var) {
  for (const Field& field : fields) {
    if (field.var == var) return &field;
  }
  return nullptr;
}

PushParse malformed(std::string& why, std::string reason) {
  why = std::move(reason);
  return PushParse::kMalformed;
}

}  // namespace

PushParse parse_push(const protocol::Element& iq, PushNotification& out, std::string& why) {
  if (iq.attr_or("type") != "set") return PushParse::kNotPush;
  const protocol::Element* pubsub = iq.child("pubsub", kPubsubNs);
  const protocol::Element* publish = pubsub ? pubsub->child("publish", kPubsubNs) : nullptr;
  if (!publish) return PushParse::kNotPush;

  const std::string_view node = publish->attr_or("node");
  if (node.empty()) return malformed(why, "publish without a node");
  const protocol::Element* item = nullptr;
  for (const protocol::Node& child : publish->children()) {
    if (!child.is_element() || !child.element->is("item", kPubsubNs)) continue;
    if (item) return malformed(why, "more than one item");
    item = child.element.get();
  }
  if (!item) return malformed(why, "publish without an item");
  const protocol::Element* notification = item->child("notification", kPushNs);
  if (!notification) return malformed(why, "item without a urn:xmpp:push:0 notification");
  const protocol::Element* form = notification->child("x", kDataFormsNs);
  if (!form) return malformed(why, "notification without a data form");
  const std::string_view form_type = form->attr_or("type", "submit");
  if (form_type != "submit") return malformed(why, "data form of type other than submit");

  std::vector<Field> fields;
  for (const protocol::Node& child : form->children()) {
    if (!child.is_element() || !child.element->is("field", kDataFormsNs)) continue;
    const protocol::Element& element = *child.element;
    const std::string* var = element.attr("var");
    // XEP-0004 §3.2: every field of a submitted form has a 'var'.
    if (!var || var->empty()) return malformed(why, "field without var");
    if (find_field(fields, *var)) return malformed(why, "field " + *var + " twice");
    Field field{*var, {}};
    for (const protocol::Node& value : element.children()) {
      if (value.is_element() && value.element->is("value", kDataFormsNs))
        field.values.push_back(value.element->text());
    }
    fields.push_back(std::move(field));
  }
  // The summary fields are single-valued (text-single, jid-single); a field
  // without <value/> is empty.
  auto single = [&](std::string_view var, std::optional<std::string>& value) {
    const Field* field = find_field(fields, var);
    if (!field) return true;
    if (field->values.size() > 1) return false;
    value = field->values.empty() ? std::string() : field->values.front();
    return true;
  };
  std::optional<std::string> form_type_value, count, sender, body;
  if (!single("FORM_TYPE", form_type_value) || !single("message-count", count) ||
      !single("last-message-sender", sender) || !single("last-message-body", body)) {
    return malformed(why, "a summary field with more than one value");
  }
  if (form_type_value != kPushSummaryFormType)
    return malformed(why, "FORM_TYPE is not urn:xmpp:push:summary");
  if (!count) return malformed(why, "no message-count");
  std::uint64_t message_count = 0;
  {
    const char* begin = count->data();
    const char* end = begin + count->size();
    auto [ptr, ec] = std::from_chars(begin, end, message_count);
    // from_chars accepts neither '+' nor spaces; it refuses '-' for unsigned.
    if (count->empty() || ec != std::errc() || ptr != end)
      return malformed(why, "message-count is not a non-negative integer");
  }
  if (sender) {
    protocol::Jid jid;
    if (protocol::Jid::parse(*sender, jid) != protocol::JidError::kOk)
      return malformed(why, "last-message-sender is not a JID");
  }
  out.node = std::string(node);
  out.message_count = message_count;
  out.last_sender = std::move(sender);
  out.last_body = std::move(body);
  out.from = std::string(iq.attr_or("from"));
  return PushParse::kOk;
}

std::string push_json(const PushNotification& notification, std::string_view received_at) {
  std::string line = "{\"node\":";
  append_json_string(line, notification.node);
  line += ",\"message_count\":";
  line += std::to_string(notification.message_count);
  if (notification.last_sender) {
    line += ",\"last_sender\":";
    append_json_string(line, *notification.last_sender);
  }
  if (notification.last_body) {
    line += ",\"last_body\":";
    append_json_string(line, *notification.last_body);
  }
  line += ",\"from\":";
  append_json_string(line, notification.from);
  line += ",\"received_at\":";
  append_json_string(line, received_at);
  line += "}\n";
  return line;
}

}  // namespace xd::client
