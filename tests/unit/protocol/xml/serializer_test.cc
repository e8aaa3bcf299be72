#include "protocol/xml/serializer.h"

#include <doctest/doctest.h>

#include "parse_helpers.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"

using namespace xd::protocol;
using namespace xd::protocol::test;

TEST_CASE("serializer: default namespace inherited, declared only where it changes") {
  Element m("jabber:client", "message");
  m.set_attr("to", "bob@example.com");
  m.add_child("jabber:client", "body").add_text("hi");
  m.add_child("urn:xmpp:receipts", "request");
  CHECK(to_xml(m, "jabber:client") ==
        "<message to='bob@example.com'><body>hi</body>"
        "<request xmlns='urn:xmpp:receipts'/></message>");
  CHECK(to_xml(m) ==
        "<message xmlns='jabber:client' to='bob@example.com'><body>hi</body>"
        "<request xmlns='urn:xmpp:receipts'/></message>");
  Element parent("jabber:client", "iq");
  parent.add_child(std::make_unique<Element>("", "x"));
  CHECK(to_xml(parent, "jabber:client") == "<iq><x xmlns=''/></iq>");
}

TEST_CASE("serializer: escaping of text and attributes is total") {
  Element m("jabber:client", "message");
  m.set_attr("id", "a'b\"c<d>&e\tf\ng\rh");
  m.add_child("jabber:client", "body").add_text("</body></message><message to='x'>]]>&\r");
  std::string xml = to_xml(m, "jabber:client");
  CHECK(xml ==
        "<message id='a&apos;b&quot;c&lt;d&gt;&amp;e&#9;f&#10;g&#13;h'><body>"
        "&lt;/body&gt;&lt;/message&gt;&lt;message to='x'&gt;]]&gt;&amp;&#13;</body></message>");
  // Parsing it back yields exactly one stanza equal to the original.
  auto events = parse_all(std::string(kHeader) + xml);
  REQUIRE(events.size() == 2);
  CHECK(events[1] == "stanza " + xml);
}

TEST_CASE("serializer: namespaced attributes get prefixes; xml:lang uses xml") {
  Element m("jabber:client", "message");
  m.set_attr("lang", "de", kXmlNs);
  m.set_attr("x", "1", "urn:a");
  Element& c = m.add_child("jabber:client", "body");
  c.set_attr("y", "2", "urn:a");
  c.set_attr("z", "3", "urn:b");
  std::string xml = to_xml(m, "jabber:client");
  CHECK(xml ==
        "<message xml:lang='de' xmlns:ns0='urn:a' ns0:x='1'>"
        "<body ns0:y='2' xmlns:ns1='urn:b' ns1:z='3'/></message>");
  StreamParser p(post_auth_parser_limits());
  p.feed(std::string(kHeader) + xml);
  REQUIRE(p.next()->type == StreamEvent::Type::kStreamOpen);
  auto ev = p.next();
  REQUIRE(ev);
  REQUIRE(ev->type == StreamEvent::Type::kStanza);
  CHECK(ev->stanza->equals(m));
}

TEST_CASE("serializer: refuses what XML cannot carry, leaving output unchanged") {
  std::string out = "keep";
  Element bad_text("", "a");
  bad_text.add_text(std::string("x\0y", 3));
  CHECK_FALSE(serialize(bad_text, out));
  Element bad_name("", "a><b");
  CHECK_FALSE(serialize(bad_name, out));
  Element bad_attr("", "a");
  bad_attr.set_attr("x", "\x01");
  CHECK_FALSE(serialize(bad_attr, out));
  Element bad_attr_name("", "a");
  bad_attr_name.set_attr("x='1' y", "1");
  CHECK_FALSE(serialize(bad_attr_name, out));
  CHECK(out == "keep");
}

TEST_CASE("serializer: deep trees serialize iteratively") {
  auto root = std::make_unique<Element>("", "a");
  Element* cur = root.get();
  for (int i = 0; i < 100000; ++i) cur = &cur->add_child("", "a");
  std::string out;
  REQUIRE(serialize(*root, out));
  // "<a>" + "</a>" for each of the 100000 inner elements, "<a/>" for the leaf.
  CHECK(out.size() == 100000 * 7 + 4);
}

TEST_CASE("serializer: an element in the xml namespace keeps the xml: prefix") {
  // Namespaces in XML §3 forbids binding the xml namespace as the default
  // one; found by the compact_roundtrip fuzzer (<xml:laname…/>).
  auto e = parse_fragment("<message><xml:foo a='1'><bar/></xml:foo></message>");
  REQUIRE(e);
  const std::string xml = to_xml(*e, "jabber:client");
  CHECK(xml == "<message><xml:foo a='1'><bar/></xml:foo></message>");
  auto back = parse_fragment(xml);
  REQUIRE(back);
  CHECK(back->equals(*e));
}
