// How a queued message is kept in the message store: the compact dialect's
// element encoding (spec/compact.md §5, the server's domain as the stream
// domain) behind a one-byte format tag. Queues are about a third of their
// XML size, a compact recipient gets the stored bytes as they are, and an
// XML recipient gets them serialized once. Entries that earlier versions
// stored as XML (their first byte is '<') still read. Pure data
// conversion; never touches the store itself.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/xml/element.h"

namespace xd::server {

// Appends the stored form of |message| to |out|. False, with |out| as it
// was, for a tree that cannot be encoded (the c2s stream never accepts one).
bool encode_stored(const protocol::Element& message, std::string_view domain, std::string& out);

// The element a stored entry holds, or null for a corrupt entry.
std::unique_ptr<protocol::Element> decode_stored(std::string_view data, std::string_view domain);

// The compact element body of an entry stored in the compact form (a frame
// body for spec/compact.md §4), or empty for an entry stored as XML.
std::string_view stored_compact_body(std::string_view data);

// Adds the XEP-0203 <delay/> that marks |message| as delivered from
// storage, stamped with when the server accepted it.
void add_delay(protocol::Element& message, uint64_t stamp_ms, std::string_view domain);

}  // namespace xd::server
