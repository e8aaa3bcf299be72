// Catalogue B12 (hostile-inputs.md) for the second XML entry point:
// parse_fragment() and parse_fragments() read stanzas the server stored in
// serialized form. They use the stream parser's restrictions, so a DOCTYPE,
// an entity declaration or reference, an external entity or any text that
// is not exactly the element(s) is refused (null / false), never expanded.
#include "protocol/xml/fragment_parser.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "protocol/xml/serializer.h"

using namespace xd::protocol;

TEST_CASE("B12: parse_fragment refuses DOCTYPE, entity declarations and external entities") {
  const char* hostile[] = {
      // A DOCTYPE with an internal subset, before the element.
      "<!DOCTYPE message [<!ENTITY e 'expanded'>]><message><body>&e;</body></message>",
      // XXE: an external general entity naming a file.
      "<!DOCTYPE message [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
      "<message><body>&x;</body></message>",
      // An external parameter entity naming a socket (nothing may connect).
      "<!DOCTYPE message [<!ENTITY % p SYSTEM 'http://127.0.0.1:1/'> %p;]><message/>",
      // A bare DOCTYPE with an external subset.
      "<!DOCTYPE message SYSTEM 'file:///etc/passwd'><message/>",
      // An entity declaration on its own, and inside the element.
      "<!ENTITY e 'x'><message/>",
      "<message><!ENTITY e 'x'></message>",
      "<message><!DOCTYPE m [<!ENTITY e 'x'>]><body>&e;</body></message>",
      // A billion-laughs shape.
      "<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
      "<message><body>&lol2;</body></message>",
      // An entity reference without any declaration.
      "<message><body>&e;</body></message>",
      // A DOCTYPE after the element.
      "<message/><!DOCTYPE m [<!ENTITY e 'x'>]>",
      // A new document after a forged end of the wrapping stream.
      "<message/></stream:stream><?xml version='1.0'?><!DOCTYPE m [<!ENTITY e 'x'>]><m>&e;</m>",
  };
  for (const char* xml : hostile) {
    CAPTURE(std::string(xml));
    CHECK(parse_fragment(xml) == nullptr);
    std::vector<std::unique_ptr<Element>> out;
    CHECK_FALSE(parse_fragments(xml, out));
    CHECK(out.empty());
  }
}

TEST_CASE("B12: parse_fragment accepts exactly one plain element, predefined entities kept") {
  auto m = parse_fragment("<message to='a@b'><body>&lt;x&gt; &amp; &#x41;</body></message>");
  REQUIRE(m != nullptr);
  CHECK(to_xml(*m, "jabber:client") ==
        "<message to='a@b'><body>&lt;x&gt; &amp; A</body></message>");
  CHECK(parse_fragment("<message/><message/>") == nullptr);
  CHECK(parse_fragment("") == nullptr);
  CHECK(parse_fragment("text<message/>") == nullptr);
  CHECK(parse_fragment("<message/></stream:stream>") == nullptr);
}
