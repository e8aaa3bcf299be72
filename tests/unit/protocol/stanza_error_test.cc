#include "protocol/stanza_error.h"

#include <doctest/doctest.h>

#include "protocol/xml/element.h"
#include "protocol/xml/serializer.h"

using namespace xd::protocol;

TEST_CASE("stanza conditions: names, default types, reserved range") {
  int count = 0;
  for (int i = static_cast<int>(StanzaCondition::kFirst_) + 1;
       i < static_cast<int>(StanzaCondition::kLast_); ++i) {
    auto c = static_cast<StanzaCondition>(i);
    CHECK(stanza_condition_from_name(stanza_condition_name(c)) == c);
    ++count;
  }
  CHECK(count == 22);
  CHECK(static_cast<int>(StanzaCondition::kBadRequest) == 200);
  CHECK(stanza_condition_default_type(StanzaCondition::kResourceConstraint) ==
        StanzaErrorType::kWait);
  CHECK(stanza_condition_default_type(StanzaCondition::kJidMalformed) == StanzaErrorType::kModify);
  CHECK(stanza_condition_default_type(StanzaCondition::kServiceUnavailable) ==
        StanzaErrorType::kCancel);
}

TEST_CASE("make_error_reply swaps addresses, keeps id, drops the payload") {
  Element msg("jabber:client", "message");
  msg.set_attr("from", "alice@example.com/phone");
  msg.set_attr("to", "nobody@example.com");
  msg.set_attr("id", "m1");
  msg.add_child("jabber:client", "body").add_text("secret payload");
  auto reply = make_error_reply(msg, StanzaError{StanzaCondition::kServiceUnavailable});
  REQUIRE(reply);
  CHECK(to_xml(*reply, "jabber:client") ==
        "<message id='m1' to='alice@example.com/phone' from='nobody@example.com' type='error'>"
        "<error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
}

TEST_CASE("make_error_reply never answers an error with an error (RFC 6120 §8.3.1)") {
  Element msg("jabber:client", "message");
  msg.set_attr("type", "error");
  CHECK(make_error_reply(msg, StanzaError{StanzaCondition::kServiceUnavailable}) == nullptr);
}

TEST_CASE("make_error_child: explicit type, by, text and application condition") {
  StanzaError err{StanzaCondition::kNotAllowed, StanzaErrorType::kModify, "too big", "example.com"};
  auto child = make_error_child(err, "jabber:client",
                                std::make_unique<Element>("urn:xmpp:errors", "stanza-too-big"));
  CHECK(to_xml(*child, "jabber:client") ==
        "<error type='modify' by='example.com'>"
        "<not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>too big</text>"
        "<stanza-too-big xmlns='urn:xmpp:errors'/></error>");
}
