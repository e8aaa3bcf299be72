#include "protocol/stream_error.h"

#include <doctest/doctest.h>

#include "protocol/xml/element.h"
#include "protocol/xml/serializer.h"

using namespace xd::protocol;

TEST_CASE("stream conditions: names round-trip and cover RFC 6120 §4.9.3") {
  int count = 0;
  for (int i = static_cast<int>(StreamCondition::kFirst_) + 1;
       i < static_cast<int>(StreamCondition::kLast_); ++i) {
    auto c = static_cast<StreamCondition>(i);
    auto name = stream_condition_name(c);
    CHECK(!name.empty());
    CHECK(stream_condition_from_name(name) == c);
    CHECK(!stream_condition_message(c).empty());
    ++count;
  }
  CHECK(count == 25);  // the RFC 6120 list
  CHECK(static_cast<int>(StreamCondition::kBadFormat) == 100);
  CHECK(stream_condition_name(StreamCondition::kRestrictedXml) == "restricted-xml");
  CHECK(!stream_condition_from_name("no-such-condition"));
}

TEST_CASE("make_stream_error builds the RFC 6120 §4.9 element") {
  auto e = make_stream_error(StreamCondition::kPolicyViolation, "too big");
  CHECK(to_xml(*e) ==
        "<error xmlns='http://etherx.jabber.org/streams'>"
        "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too big</text></error>");
  auto app = std::make_unique<Element>("urn:xmpp:errors", "stanza-too-big");
  auto with_app = make_stream_error(StreamCondition::kPolicyViolation, {}, std::move(app));
  REQUIRE(with_app->child("stanza-too-big", "urn:xmpp:errors"));
  CHECK(with_app->child_element_count() == 2);
}
