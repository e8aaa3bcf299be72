#include "protocol/xml/element.h"

#include <doctest/doctest.h>

#include <memory>

using namespace xd::protocol;

TEST_CASE("element: attributes set, replace, remove, namespaced") {
  Element e("jabber:client", "message");
  e.set_attr("to", "a@b");
  e.set_attr("to", "c@d");
  e.set_attr("lang", "en", kXmlNs);
  REQUIRE(e.attr("to"));
  CHECK(*e.attr("to") == "c@d");
  CHECK(e.attrs().size() == 2);
  CHECK(e.attr("lang") == nullptr);  // unqualified lookup does not see xml:lang
  CHECK(*e.attr("lang", kXmlNs) == "en");
  CHECK(e.attr_or("type", "normal") == "normal");
  CHECK(e.remove_attr("to"));
  CHECK_FALSE(e.remove_attr("to"));
  CHECK(e.attr("to") == nullptr);
}

TEST_CASE("element: children, text merging, lookup and removal") {
  Element e("jabber:client", "message");
  e.add_text("a");
  e.add_text("b");
  e.add_child("jabber:client", "body").add_text("hi");
  e.add_child("urn:xmpp:receipts", "request");
  e.add_text("c");
  CHECK(e.children().size() == 4);
  CHECK(e.text() == "abc");
  CHECK(e.child_element_count() == 2);
  REQUIRE(e.child("body", "jabber:client"));
  CHECK(e.child("body", "jabber:client")->text() == "hi");
  CHECK(e.child("body", "urn:other") == nullptr);
  CHECK(e.remove_children("body", "jabber:client") == 1);
  CHECK(e.remove_children("request", "urn:xmpp:receipts") == 1);
  // The two text nodes that became adjacent are merged.
  CHECK(e.children().size() == 1);
  CHECK(e.text() == "abc");
}

TEST_CASE("element: clone and equals are deep; attribute order is not significant") {
  Element e("jabber:client", "message");
  e.set_attr("a", "1");
  e.set_attr("b", "2");
  e.add_child("jabber:client", "body").add_text("x");
  auto c = e.clone();
  CHECK(c->equals(e));
  Element reordered("jabber:client", "message");
  reordered.set_attr("b", "2");
  reordered.set_attr("a", "1");
  reordered.add_child("jabber:client", "body").add_text("x");
  CHECK(reordered.equals(e));
  c->child("body", "jabber:client")->add_text("y");
  CHECK_FALSE(c->equals(e));
  Element other_ns("jabber:server", "message");
  CHECK_FALSE(other_ns.equals(Element("jabber:client", "message")));
}

TEST_CASE("element: a very deep tree is cloned, compared and freed without recursion") {
  // Deeper than any stack could take recursively with ASan's frames.
  constexpr int kDepth = 200000;
  auto root = std::make_unique<Element>("", "a");
  Element* cur = root.get();
  for (int i = 0; i < kDepth; ++i) cur = &cur->add_child("", "a");
  auto copy = root->clone();
  CHECK(copy->equals(*root));
  root.reset();
  copy.reset();
  CHECK(true);  // reaching here without a stack overflow is the assertion
}
