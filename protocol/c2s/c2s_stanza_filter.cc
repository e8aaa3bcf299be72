#include "protocol/c2s/c2s_stanza_filter.h"

#include <utility>
#include <vector>

#include "protocol/stanza_error.h"
#include "protocol/xml/element.h"

namespace xd::protocol {
namespace {

// Longer 'to' values are not cached, so the cache never holds much memory.
constexpr size_t kMaxCachedToBytes = 128;

std::unique_ptr<Element> error_reply(const Element& stanza, StanzaCondition condition) {
  StanzaError error;
  error.condition = condition;
  return make_error_reply(stanza, error);
}

}  // namespace

bool c2s_iq_well_formed(const Element& iq) {
  const std::string* id = iq.attr("id");
  if (!id || id->empty()) return false;
  const std::string_view type = iq.attr_or("type");
  if (type == "get" || type == "set") return iq.child_element_count() == 1;
  if (type == "result") return iq.child_element_count() <= 1;
  return type == "error";
}

C2sStanzaFilter::C2sStanzaFilter(const Jid& full, std::string_view domain)
    : full_(full.str()), domain_(domain) {}

C2sStanzaFilter::Verdict C2sStanzaFilter::filter(Element& stanza, std::unique_ptr<Element>& reply) {
  // RFC 6120 §8.1.2.1: the server stamps 'from' on c2s stanzas; what the
  // client wrote is never trusted (catalogue F42).
  stanza.set_attr("from", full_);

  if (const std::string* to = stanza.attr("to")) {
    if (last_to_.empty() || *to != last_to_) {
      Jid jid;
      if (Jid::parse(*to, jid) != JidError::kOk) {
        // RFC 6120 §8.3.3.8. The unparsable 'to' is dropped first: it is no
        // address, so it cannot be the 'from' of the reply.
        stanza.remove_attr("to");
        reply = error_reply(stanza, StanzaCondition::kJidMalformed);
        return reply ? Verdict::kReply : Verdict::kDrop;
      }
      std::string normalized = jid.str();
      if (to->size() <= kMaxCachedToBytes && normalized.size() <= kMaxCachedToBytes) {
        last_to_ = *to;
        last_to_normalized_ = std::move(normalized);
      } else {
        if (normalized != *to) stanza.set_attr("to", normalized);
        normalized.clear();
        to = nullptr;
      }
    }
    if (to && last_to_normalized_ != *to) stanza.set_attr("to", last_to_normalized_);
  }

  if (stanza.name() == "iq" && !c2s_iq_well_formed(stanza)) {
    reply = error_reply(stanza, StanzaCondition::kBadRequest);
    return reply ? Verdict::kReply : Verdict::kDrop;
  }

  strip_stanza_ids(stanza);
  return Verdict::kRoute;
}

void C2sStanzaFilter::strip_stanza_ids(Element& stanza) const {
  // XEP-0359 §3.3: a stanza-id is only meaningful when the entity named by
  // 'by' added it. Anything naming us or one of our accounts that arrives
  // from a client is a forgery, and a 'by' that is no JID is junk.
  size_t forged = 0;
  size_t total = 0;
  for (const Node& node : stanza.children()) {
    if (!node.element || !node.element->is("stanza-id", kStanzaIdNs)) continue;
    ++total;
    Jid by;
    if (Jid::parse(node.element->attr_or("by"), by) != JidError::kOk || by.domain() == domain_) {
      ++forged;
    }
  }
  if (forged == 0) return;
  if (forged == total) {
    stanza.remove_children("stanza-id", kStanzaIdNs);
    return;
  }
  // Rare: some stanza-ids belong to other entities (a MUC elsewhere). Keep
  // those, re-appended after the removal; child order carries no meaning
  // for extension elements.
  std::vector<std::unique_ptr<Element>> keep;
  for (const Node& node : stanza.children()) {
    if (!node.element || !node.element->is("stanza-id", kStanzaIdNs)) continue;
    Jid by;
    if (Jid::parse(node.element->attr_or("by"), by) == JidError::kOk && by.domain() != domain_) {
      keep.push_back(node.element->clone());
    }
  }
  stanza.remove_children("stanza-id", kStanzaIdNs);
  for (auto& e : keep) stanza.add_child(std::move(e));
}

}  // namespace xd::protocol
