// Catalogue C (hostile-inputs.md): parser resource limits.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "parse_helpers.h"

using namespace xd::protocol;
using namespace xd::protocol::test;

namespace {
std::string hdr() { return kHeader; }

// The final event of |input| fed whole, which must be an error.
StreamEvent error_of(std::string_view input,
                     const ParserLimits& limits = post_auth_parser_limits()) {
  StreamParser p(limits);
  p.feed(input);
  std::optional<StreamEvent> last;
  while (auto ev = p.next()) last = std::move(ev);
  REQUIRE(last);
  REQUIRE(last->type == StreamEvent::Type::kError);
  return std::move(*last);
}
}  // namespace

TEST_CASE("C24: attribute and namespace-declaration floods stop at the per-element cap") {
  std::string attrs;
  for (int i = 0; i < 30000; ++i) attrs += " a" + std::to_string(i) + "='1'";
  CHECK(last(parse_all(hdr() + "<message" + attrs + "/>")) == "error policy-violation");
  std::string decls;
  for (int i = 0; i < 20000; ++i)
    decls += " xmlns:p" + std::to_string(i) + "='urn:x" + std::to_string(i) + "'";
  CHECK(last(parse_all(hdr() + "<message" + decls + "/>")) == "error policy-violation");
  // The cap is inclusive: exactly 64 attributes pass, 65 do not.
  std::string sixty_four;
  for (int i = 0; i < 64; ++i) sixty_four += " a" + std::to_string(i) + "='1'";
  CHECK(parse_all(hdr() + "<message" + sixty_four + "/>").size() == 2);
  CHECK(last(parse_all(hdr() + "<message" + sixty_four + " z='1'/>")) == "error policy-violation");
  // The stream header is held to the same caps.
  CHECK(last(parse_all("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'" + attrs +
                       ">")) == "error policy-violation");
  // Count limits, not size limits: no <stanza-too-big/> (XEP-0182). (The
  // floods above are also over 256 KiB, which is checked first.)
  CHECK_FALSE(error_of(hdr() + "<message" + sixty_four + " z='1'/>").too_big);
  std::string sixty_five_decls;
  for (int i = 0; i < 65; ++i)
    sixty_five_decls += " xmlns:p" + std::to_string(i) + "='urn:x" + std::to_string(i) + "'";
  CHECK_FALSE(error_of(hdr() + "<message" + sixty_five_decls + "/>").too_big);
  CHECK(error_of(hdr() + "<message" + attrs + "/>").too_big);
}

// Catalogue C24's third shape, "20k attributes with colliding names", in the
// three forms a name can collide: in a hash table (long names that differ
// only in their last characters, the shape of hash-flooding inputs; expat
// salts its hashes, so they cost what distinct names cost), by being
// identical, and after namespace expansion (different prefixes bound to
// one URI, Namespaces in XML §6.3). The first stops at the attribute cap;
// the other two are duplicates, which XML forbids outright, so expat's
// not-well-formed answers them before any count is taken. Either way the
// stream ends and nothing is delivered. (The catalogue's CPU bound is
// measured by hand, not asserted: tests never time.)
TEST_CASE("C24: 20k attributes with colliding names end the stream, nothing delivered") {
  // "Within the size limit": room for the floods, so only the count cap or
  // the duplicate check can answer.
  ParserLimits roomy = post_auth_parser_limits();
  roomy.max_outstanding_bytes = 64 * 1024 * 1024;
  const std::string common(200, 'k');
  std::string hashy;
  for (int i = 0; i < 20000; ++i) hashy += " " + common + std::to_string(i) + "='1'";
  auto ev = parse_all(hdr() + "<message" + hashy + "/>", roomy);
  CHECK(last(ev) == "error policy-violation");
  CHECK(ev.size() == 2);  // open, error: no stanza
  CHECK_FALSE(error_of(hdr() + "<message" + hashy + "/>", roomy).too_big);  // the count cap
  std::string same;
  for (int i = 0; i < 20000; ++i) same += " a='1'";
  ev = parse_all(hdr() + "<message" + same + "/>", roomy);
  CHECK(last(ev) == "error not-well-formed");
  CHECK(ev.size() == 2);
  std::string expanded = " xmlns:p0='urn:same' xmlns:p1='urn:same'";
  for (int i = 0; i < 20000; ++i) expanded += " p" + std::to_string(i % 2) + ":x='1'";
  ev = parse_all(hdr() + "<message" + expanded + "/>", roomy);
  CHECK(last(ev) == "error not-well-formed");
  CHECK(ev.size() == 2);
  // Two colliding names are already one too many.
  CHECK(last(parse_all(hdr() + "<message xmlns:p0='urn:same' xmlns:p1='urn:same' p0:x='1' "
                               "p1:x='2'/>")) == "error not-well-formed");
}

TEST_CASE("C25a: a complete 300 KiB stanza is a policy-violation after auth") {
  std::string body(300 * 1024, 'x');
  auto ev = parse_all(hdr() + "<message><body>" + body + "</body></message>");
  CHECK(last(ev) == "error policy-violation");
  CHECK(ev.size() == 2);
  // A size limit: the stream error names it with <stanza-too-big/>.
  StreamEvent error = error_of(hdr() + "<message><body>" + body + "</body></message>");
  CHECK(error.error == StreamCondition::kPolicyViolation);
  CHECK(error.too_big);
}

TEST_CASE("C25b: a never-ending stanza fails once outstanding bytes pass the limit") {
  StreamParser p(post_auth_parser_limits());
  p.feed(hdr() + "<message><body>");
  REQUIRE(p.next());
  std::string chunk(4096, 'y');
  size_t fed = 0;
  std::optional<StreamEvent> ev;
  while (!(ev = p.next()) && fed < 1024 * 1024) {
    p.feed(chunk);
    fed += chunk.size();
  }
  REQUIRE(ev);
  CHECK(ev->error == StreamCondition::kPolicyViolation);
  CHECK(ev->too_big);
  // Caught within one chunk of the limit, so memory stays near the limit.
  CHECK(fed <= 256 * 1024 + chunk.size());
  // reset() (a stream restart) clears the latched error with its flag.
  p.reset();
  p.feed(hdr() + "<message>");
  REQUIRE(p.next());
  p.feed(std::string(20, '<'));
  std::optional<StreamEvent> bad = p.next();
  REQUIRE(bad);
  CHECK(bad->error == StreamCondition::kNotWellFormed);
  CHECK_FALSE(bad->too_big);
}

TEST_CASE("C26: a trickled giant token is cheap with deferral on and still delivered") {
  std::string value(250 * 1024, 'v');
  std::string stanza = "<message id='" + value + "'/>";
  StreamParser p(post_auth_parser_limits());
  p.feed(hdr());
  REQUIRE(p.next());
  std::optional<StreamEvent> ev;
  for (char c : stanza) {
    p.feed(std::string_view(&c, 1));
    if ((ev = p.next())) break;
  }
  if (!ev) {
    p.flush();
    ev = p.next();
  }
  REQUIRE(ev);
  CHECK(ev->type == StreamEvent::Type::kStanza);
  CHECK(ev->stanza->attr("id")->size() == value.size());
}

TEST_CASE("C28: pre-auth limits: 8 KiB and 32 elements") {
  std::string big(20 * 1024, 'A');
  auto ev = parse_all(
      hdr() + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + big + "</auth>",
      pre_auth_parser_limits());
  CHECK(last(ev) == "error policy-violation");
  CHECK(error_of(hdr() + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + big +
                     "</auth>",
                 pre_auth_parser_limits())
            .too_big);
  std::string forty;
  for (int i = 0; i < 40; ++i) forty += "<x/>";
  CHECK(last(parse_all(hdr() + "<iq>" + forty + "</iq>", pre_auth_parser_limits())) ==
        "error policy-violation");
  CHECK_FALSE(error_of(hdr() + "<iq>" + forty + "</iq>", pre_auth_parser_limits()).too_big);
  std::string thirty_one;
  for (int i = 0; i < 31; ++i) thirty_one += "<x/>";
  CHECK(parse_all(hdr() + "<iq>" + thirty_one + "</iq>", pre_auth_parser_limits()).size() == 2);
  // After auth the same stanza passes.
  CHECK(parse_all(hdr() + "<iq>" + forty + "</iq>", post_auth_parser_limits()).size() == 2);
}

TEST_CASE("C29: deep nesting stops at depth 64") {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "<a>";
  CHECK(last(parse_all(hdr() + "<message>" + deep)) == "error policy-violation");
  // The depth limit is no size limit: no <stanza-too-big/>.
  CHECK_FALSE(error_of(hdr() + "<message>" + deep).too_big);
  std::string ok_open, ok_close;
  for (int i = 0; i < 63; ++i) {
    ok_open += "<a>";
    ok_close += "</a>";
  }
  CHECK(parse_all(hdr() + "<message>" + ok_open + ok_close + "</message>").size() == 2);
  CHECK(last(parse_all(hdr() + "<message>" + ok_open + "<b/>" + ok_close + "</message>")) ==
        "error policy-violation");
  std::string huge;
  for (int i = 0; i < 100000; ++i) huge += "<a>";
  CHECK(last(parse_all(hdr() + "<message>" + huge)) == "error policy-violation");
}

TEST_CASE("C30: many small stanzas in one read come out in order, one per next()") {
  std::string many;
  for (int i = 0; i < 100000; ++i) many += "<presence id='" + std::to_string(i) + "'/>";
  StreamParser p(pre_auth_parser_limits());
  p.feed(hdr() + many);
  REQUIRE(p.next());
  int i = 0;
  while (auto ev = p.next()) {
    REQUIRE(ev->type == StreamEvent::Type::kStanza);
    CHECK(*ev->stanza->attr("id") == std::to_string(i));
    ++i;
  }
  CHECK(i == 100000);
  CHECK_FALSE(p.failed());  // small stanzas never trip the 8 KiB limit
}
