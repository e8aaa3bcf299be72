#include "server/stored_stanza.h"

#include "protocol/compact/compact_codec.h"
#include "protocol/compact/dictionary.h"
#include "protocol/xml/fragment_parser.h"
#include "server/delivery_queue.h"

namespace xd::server {
namespace {

// The format tag: 0x01 = the compact element encoding with dictionary
// version 1. A later dictionary gets the next tag; '<' is legacy XML.
constexpr char kCompactV1 = 0x01;

}  // namespace

bool encode_stored(const protocol::Element& message, std::string_view domain, std::string& out) {
  static_assert(kCompactV1 == 0x01);
  if (protocol::compact::dictionary_version() != 1) return false;
  const size_t rollback = out.size();
  out.push_back(kCompactV1);
  if (!protocol::compact::encode_element(message, out, protocol::compact::CodecContext{domain})) {
    out.resize(rollback);
    return false;
  }
  return true;
}

std::string_view stored_compact_body(std::string_view data) {
  if (data.empty() || data.front() != kCompactV1) return {};
  return data.substr(1);
}

std::unique_ptr<protocol::Element> decode_stored(std::string_view data, std::string_view domain) {
  if (!data.empty() && data.front() == '<') return protocol::parse_fragment(data);
  const std::string_view body = stored_compact_body(data);
  if (body.empty()) return nullptr;
  protocol::compact::DecodeError error;
  return protocol::compact::decode_element(body, protocol::compact::CodecContext{domain},
                                           protocol::compact::stored_decode_limits(), error);
}

void add_delay(protocol::Element& message, uint64_t stamp_ms, std::string_view domain) {
  // XEP-0203 §3, and XEP-0160 §4's "Offline Storage".
  protocol::Element& delay = message.add_child("urn:xmpp:delay", "delay");
  delay.set_attr("from", domain);
  delay.set_attr("stamp", xmpp_timestamp(stamp_ms));
  delay.add_text("Offline Storage");
}

}  // namespace xd::server
