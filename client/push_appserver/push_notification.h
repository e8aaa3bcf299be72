// The XEP-0357 part of the push app server, without I/O: recognising a
// pubsub publish of a push notification in an <iq type='set'/>, validating
// its summary form (FORM_TYPE urn:xmpp:push:summary), and writing the JSON
// line the app server hands on. Never performs I/O and never reads a clock:
// the receive time is an argument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client/session/json_string.h"
#include "protocol/xml/element.h"

namespace xd::client {

inline constexpr std::string_view kPubsubNs = "http://jabber.org/protocol/pubsub";
inline constexpr std::string_view kPushNs = "urn:xmpp:push:0";
inline constexpr std::string_view kDataFormsNs = "jabber:x:data";
inline constexpr std::string_view kPushSummaryFormType = "urn:xmpp:push:summary";

// One accepted notification; plain data.
struct PushNotification {
  std::string node;  // the pubsub node: which registration (device) it is for
  std::uint64_t message_count = 0;
  std::optional<std::string> last_sender;  // a JID, as sent
  std::optional<std::string> last_body;
  std::string from;  // the iq's 'from' (empty when absent)
};

enum class PushParse {
  kNotPush,    // no <pubsub><publish/></pubsub> in an iq set: not ours to judge
  kOk,         // a valid notification
  kMalformed,  // a publish that is not a valid push notification
};

// Classifies |iq|, an <iq/> in jabber:client. Only a type='set' iq whose
// <pubsub xmlns='http://jabber.org/protocol/pubsub'/> child holds a
// <publish/> is a push; for it every rule below is checked (XEP-0357 §7):
// a non-empty 'node'; exactly one <item/> holding
// <notification xmlns='urn:xmpp:push:0'> with a jabber:x:data form of type
// 'submit' (or no type); in that form FORM_TYPE urn:xmpp:push:summary, a
// decimal 'message-count', optionally a 'last-message-sender' that is a
// valid JID and a 'last-message-body'; no field twice and no field with
// two values. Other fields and <publish-options/> are ignored. On kOk fills
// |out|; on kMalformed sets |why| to a short reason for the operator's log
// (never to be echoed to the peer). Never calls back.
PushParse parse_push(const protocol::Element& iq, PushNotification& out, std::string& why);

// |notification| as one line of JSON (RFC 8259), newline-terminated:
// {"node":…,"message_count":N,"last_sender":…,"last_body":…,"from":…,
// "received_at":…}, where last_sender and last_body appear only when the
// form had them. |received_at| is written as given (an RFC 3339 UTC time).
std::string push_json(const PushNotification& notification, std::string_view received_at);

}  // namespace xd::client
