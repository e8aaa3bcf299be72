// Batched receipts (spec/compact.md §9.2): a compact client acknowledges
// several messages of one peer with one <message/> carrying
// <receipts xmlns='urn:xmppd:compact:1'> and, per message, a <received/>,
// <displayed/> or <acknowledged/> child. The server routes and stores it as
// one stanza; for a recipient that speaks XML it becomes the standard
// XEP-0184 and XEP-0333 messages, one per child. Pure tree rewriting.
#pragma once

#include <memory>
#include <vector>

#include "protocol/xml/element.h"

namespace xd::protocol::compact {

// Whether |message| is a batched-receipts message.
bool is_receipts_batch(const Element& message);

// Appends the standard messages |batch| stands for, in order: each keeps
// the batch's 'from', 'to' and 'type' and its XEP-0359 <stanza-id/>s, and
// carries one XEP-0184 <received/> or XEP-0333 marker. Children of the
// batch that are none of these are skipped. Returns how many it appended.
size_t expand_receipts_batch(const Element& batch, std::vector<std::unique_ptr<Element>>& out);

}  // namespace xd::protocol::compact
