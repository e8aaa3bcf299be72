#include "protocol/compact/receipts_batch.h"

#include <string_view>

#include "protocol/compact/wire.h"

namespace xd::protocol::compact {
namespace {

constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kReceiptsNs = "urn:xmpp:receipts";       // XEP-0184
constexpr std::string_view kMarkersNs = "urn:xmpp:chat-markers:0";  // XEP-0333
constexpr std::string_view kSidNs = "urn:xmpp:sid:0";               // XEP-0359

const Element* batch_of(const Element& message) {
  if (!message.is("message", kClientNs)) return nullptr;
  return message.child("receipts", kCompactNs);
}

}  // namespace

bool is_receipts_batch(const Element& message) { return batch_of(message) != nullptr; }

size_t expand_receipts_batch(const Element& message, std::vector<std::unique_ptr<Element>>& out) {
  const Element* batch = batch_of(message);
  if (!batch) return 0;
  size_t n = 0;
  for (const Node& node : batch->children()) {
    if (!node.element || node.element->ns() != kCompactNs) continue;
    const Element& item = *node.element;
    const std::string* id = item.attr("id");
    if (!id) continue;
    std::string_view ns;
    if (item.name() == "received") {
      ns = kReceiptsNs;
    } else if (item.name() == "displayed" || item.name() == "acknowledged") {
      ns = kMarkersNs;
    } else {
      continue;
    }
    auto m = std::make_unique<Element>(kClientNs, "message");
    for (std::string_view a : {"from", "to", "type"}) {
      if (const std::string* v = message.attr(a)) m->set_attr(a, *v);
    }
    m->add_child(ns, item.name()).set_attr("id", *id);
    for (const Node& c : message.children()) {
      if (c.element && c.element->is("stanza-id", kSidNs)) m->add_child(c.element->clone());
    }
    out.push_back(std::move(m));
    ++n;
  }
  return n;
}

}  // namespace xd::protocol::compact
