// Catalogue case 65, "Dialect equivalence" (hostile-inputs.md §J): every
// case of sections B, C and F re-encoded in the compact dialect must end as
// its XML form does, and nothing a compact client sends may turn into markup
// for an XML client.
//
// Sections C and F, and the A8/A9/G49/G50 checks that apply to the same
// stanzas, are inputs an element tree can hold. The table test builds each
// case as a tree and sends it three times on a fresh stream that is at the
// same stage (before authentication, authenticated and waiting for bind, or
// bound): once serialized as XML, once as plain frames and once as frames
// that are compressed where that is smaller (spec/compact.md §4.3). It then
// asserts the catalogue's outcome and that the three runs agree: the same
// <stream:error/> tree, or the same replies with the stream kept (a
// follow-up still works), and equal routed trees, or nothing routed. Before
// authentication the dialect exists only on the direct port (§3.2), so the
// compact runs of that stage use it.
//
// Section B is XML syntax. DOCTYPEs, entity declarations and references,
// comments, processing instructions, XML declarations, encodings, CDATA,
// prefixes and end tags have no form in the compact dialect: a frame
// carries elements, attributes and text (§6.1), every string value decodes
// to character data (§5.4), and the serializer escapes that text (§6.4).
// "B: markup in frames is text" shows it: such markup sent in frames
// arrives as literal text and leaves for an XML client as exactly one
// escaped element (the no-smuggling half of case 65, §12.4). What section B
// does have a binary form for, invalid text and names (B18-B21) and
// duplicate attributes (B22), is sent as hand-made frames in "B and F:
// hand-made frames". Namespace declarations are syntax too (§6.3): the
// C24 declaration flood has no frame, see "C24: namespace declarations".
//
// Where the compact dialect answers otherwise, it is the order spec §10
// documents, and the row asserts that pair and cites the section: an
// oversize frame is refused before its body is decoded (§10.2 F3, §10.3 C2),
// and duplicate attributes are bad-format (§5.9 rule 4, §10.4 E13). F48 is
// not here: the router, not the stream, answers an unknown user.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "c2s_test_support.h"
#include "protocol/compact/compact_codec.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/compact/dictionary.h"
#include "protocol/compact/wire.h"
#include "protocol/xml/serializer.h"

namespace xd::protocol::test {
namespace {

using Type = C2sEvent::Type;
using Tree = std::unique_ptr<Element>;
using Trees = std::vector<Tree>;

constexpr std::string_view kClient = "jabber:client";
constexpr std::string_view kFullJid = "juliet@example.com/balcony";
constexpr std::string_view kBindXml =
    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq>";

enum class Stage { kPreAuth, kAwaitBind, kBound };
enum class Dialect { kXml, kCompact, kCompactZstd };
constexpr Dialect kDialects[] = {Dialect::kXml, Dialect::kCompact, Dialect::kCompactZstd};

const char* dialect_name(Dialect d) {
  switch (d) {
    case Dialect::kXml:
      return "XML";
    case Dialect::kCompact:
      return "compact";
    case Dialect::kCompactZstd:
      return "compact+zstd";
  }
  return "?";
}

compact::CodecContext context() { return compact::CodecContext{"example.com"}; }

Tree tree(std::string_view xml) {
  Tree t = parse_fragment(xml);
  REQUIRE(t != nullptr);
  return t;
}

Trees trees(std::string_view xml) {
  Trees out;
  REQUIRE(parse_fragments(xml, out));
  return out;
}

Trees one(Tree t) {
  Trees out;
  out.push_back(std::move(t));
  return out;
}

// The bytes a client of |dialect| writes for |input|: XML in a stream whose
// default namespace is jabber:client, or one ELEMENT frame per tree.
std::string encode(const Trees& input, Dialect dialect) {
  std::string out;
  for (const Tree& t : input) {
    if (dialect == Dialect::kXml) {
      REQUIRE(serialize(*t, out, kClient));
    } else {
      REQUIRE(compact::append_element_frame(*t, out, context(), dialect == Dialect::kCompactZstd));
    }
  }
  return out;
}

// spec §4.2: one ELEMENT frame around an element body made by hand (spec
// §5), compressed for compact+zstd when that is smaller; XML gets nothing.
std::string frame(std::string_view body, Dialect dialect) {
  std::string out;
  compact::append_body_frame(body, out, dialect == Dialect::kCompactZstd);
  return out;
}

std::string preface(bool zstd) {
  return std::string{static_cast<char>(compact::kPrefaceMagic0),
                     static_cast<char>(compact::kPrefaceMagic1),
                     static_cast<char>(compact::kProtocolVersion),
                     static_cast<char>(compact::dictionary_version()),
                     static_cast<char>(zstd ? compact::kPrefaceCompression : 0)};
}

std::string open_frame() {
  Element header(kStreamNs, "stream");
  header.set_attr("to", "example.com");
  header.set_attr("version", "1.0");
  std::string out;
  compact::append_open_frame(header, out, compact::CodecContext{});
  return out;
}

// A client of |dialect| whose stream is at |stage|, as juliet. XML and the
// compact runs after authentication go through STARTTLS and SCRAM; the
// compact dialect is then negotiated with <compact/> (spec §3.1), with or
// without compression. Before authentication a compact client can only be
// on the direct port (§3.2): preface, OPEN, and the pre-authentication
// limits, as for XML.
std::unique_ptr<Client> connect(Stage stage, Dialect dialect) {
  const bool compact = dialect != Dialect::kXml;
  const bool zstd = dialect == Dialect::kCompactZstd;
  if (compact && stage == Stage::kPreAuth) {
    C2sConfig config = test_config();
    config.direct_tls = true;
    config.compact_direct = true;
    auto c = std::make_unique<Client>(config);
    c->expect_compact_direct();
    c->handshake();
    c->send(preface(zstd));
    c->send(open_frame());
    REQUIRE(c->headers_seen() == 1);
    REQUIRE(c->stream_error().empty());
    REQUIRE(c->stream().compact_compression() == zstd);
    return c;
  }
  auto c = std::make_unique<Client>();
  REQUIRE(c->secure() != nullptr);
  if (stage == Stage::kPreAuth) return c;
  REQUIRE(c->scram(ScramHash::kSha256, true) == "success");
  REQUIRE(c->open() != nullptr);
  if (compact) {
    c->send(zstd ? "<compact xmlns='urn:xmppd:compact:1' dictionary='1' compression='zstd'/>"
                 : "<compact xmlns='urn:xmppd:compact:1' dictionary='1'/>");
    REQUIRE(c->stream().compact());
    REQUIRE(c->stream().compact_compression() == zstd);
  }
  if (stage == Stage::kAwaitBind) return c;
  c->send(encode(trees(kBindXml), dialect));
  REQUIRE(c->stream().state() == C2sState::kBound);
  REQUIRE(c->stream().bound_jid().str() == kFullJid);
  return c;
}

// What a stream did with one input.
struct Outcome {
  Tree stream_error;  // the <stream:error/> the server sent, or null
  Trees replies;      // every other element it sent
  Trees routed;       // the kStanza events, in order
  bool closed = false;
  std::optional<StreamCondition> closed_error;
  bool kept = false;  // open, and a follow-up is still processed (G4 "kept")
};

// G4 "kept": the stream still does its job after the input. Bound, a
// message is routed; waiting for bind, a bind succeeds; before
// authentication, a correct PLAIN exchange succeeds.
bool follow_up(Client& c, Stage stage, Dialect dialect) {
  if (!c.stream_error().empty() || c.closed) return false;
  switch (stage) {
    case Stage::kBound: {
      const size_t before = c.events_of(Type::kStanza).size();
      c.send(encode(trees("<message to='romeo@example.com' id='after'><body>after</body>"
                          "</message>"),
                    dialect));
      const auto routed = c.events_of(Type::kStanza);
      return routed.size() == before + 1 && routed.back()->stanza->attr_or("id") == "after";
    }
    case Stage::kAwaitBind:
      c.host.bind_refusal.reset();
      c.send(encode(trees(kBindXml), dialect));
      return c.stream().state() == C2sState::kBound;
    case Stage::kPreAuth:
      c.send(encode(trees(Client::plain_auth("", "juliet", "r0m30myr0m30")), dialect));
      return c.stream().authenticated();
  }
  return false;
}

Outcome run(Stage stage, Dialect dialect, std::string_view bytes, size_t chunk,
            std::optional<StanzaCondition> bind_refusal = std::nullopt) {
  std::unique_ptr<Client> c = connect(stage, dialect);
  c->host.bind_refusal = bind_refusal;
  const size_t elements_before = c->elements.size();
  const size_t events_before = c->events.size();
  c->send(bytes, chunk);
  Outcome o;
  for (size_t i = elements_before; i < c->elements.size(); ++i) {
    const Element& e = *c->elements[i];
    if (e.is("error", kStreamNs)) {
      CHECK(o.stream_error == nullptr);  // one stream error at most
      o.stream_error = e.clone();
    } else {
      o.replies.push_back(e.clone());
    }
  }
  for (size_t i = events_before; i < c->events.size(); ++i) {
    if (c->events[i].type == Type::kStanza) o.routed.push_back(c->events[i].stanza->clone());
  }
  o.closed = c->closed.has_value();
  o.closed_error = c->closed_error;
  // G4: after a stream error, the end of our stream (</stream:stream> or
  // a CLOSE frame, spec §3.3).
  if (o.stream_error) CHECK(c->server_closed_stream());
  if (!o.closed) o.kept = follow_up(*c, stage, dialect);
  return o;
}

// The condition of a <stream:error/>.
std::string stream_condition(const Element& error) {
  for (const Node& n : error.children()) {
    if (n.element && n.element->ns() == kStreamsErrorNs && n.element->name() != "text") {
      return n.element->name();
    }
  }
  return "";
}

// The condition of a reply: a stanza error's, a SASL failure's, or the
// element's name.
std::string reply_condition(const Element& reply) {
  if (reply.child("error", kClient) != nullptr) return Client::stanza_error(reply);
  if (reply.is("failure", kSaslNs)) return Client::failure_name(reply);
  return reply.name();
}

// For failure messages: an outcome in a few lines (long trees cut).
std::string describe(const Outcome& o) {
  auto cut = [](const Element& e) {
    std::string xml = to_xml(e, kClient);
    return xml.size() > 300 ? xml.substr(0, 300) + "..." : xml;
  };
  std::string s = "stream error: " + (o.stream_error ? cut(*o.stream_error) : "none");
  s += o.closed ? ", closed" : ", open";
  s += o.kept ? ", kept" : "";
  for (const Tree& r : o.replies) s += "\n  reply: " + cut(*r);
  for (const Tree& r : o.routed) s += "\n  routed: " + cut(*r);
  return s;
}

bool same_tree(const Element* a, const Element* b) {
  return (a == nullptr && b == nullptr) || (a != nullptr && b != nullptr && a->equals(*b));
}

// Case 65: the compact outcome is the XML one, tree for tree.
void check_same(const Outcome& xml, const Outcome& other) {
  CHECK(same_tree(xml.stream_error.get(), other.stream_error.get()));
  CHECK(xml.closed == other.closed);
  CHECK(xml.closed_error == other.closed_error);
  CHECK(xml.kept == other.kept);
  CHECK(xml.replies.size() == other.replies.size());
  for (size_t i = 0; i < xml.replies.size() && i < other.replies.size(); ++i) {
    CAPTURE(i);
    CHECK(xml.replies[i]->equals(*other.replies[i]));
  }
  CHECK(xml.routed.size() == other.routed.size());
  for (size_t i = 0; i < xml.routed.size() && i < other.routed.size(); ++i) {
    CAPTURE(i);
    CHECK(xml.routed[i]->equals(*other.routed[i]));
  }
}

// The outcome the catalogue asks for.
struct Expect {
  std::string stream_error;  // its condition; "" when the stream must be kept
  bool too_big = false;      // with <stanza-too-big xmlns='urn:xmpp:errors'/> (C25)
  size_t replies = 0;
  std::string reply;  // reply_condition() of every reply
  size_t routed = 0;
  std::function<void(const Trees&)> check_routed;
  std::function<void(const Trees&)> check_replies;
};

void check_expected(const Outcome& o, const Expect& e) {
  if (e.stream_error.empty()) {
    CHECK(o.stream_error == nullptr);
    CHECK_FALSE(o.closed);
    CHECK(o.kept);
  } else {
    REQUIRE(o.stream_error != nullptr);
    CHECK(stream_condition(*o.stream_error) == e.stream_error);
    CHECK((o.stream_error->child("stanza-too-big", kXmppErrorsNs) != nullptr) == e.too_big);
    CHECK(o.closed);
    REQUIRE(o.closed_error.has_value());
    CHECK(stream_condition_name(*o.closed_error) == e.stream_error);
  }
  CHECK(o.replies.size() == e.replies);
  for (const Tree& r : o.replies) CHECK(reply_condition(*r) == e.reply);
  CHECK(o.routed.size() == e.routed);
  if (e.check_routed) e.check_routed(o.routed);
  if (e.check_replies) e.check_replies(o.replies);
}

// ------------------------------------------------------------ tree builders

// <message to='romeo@example.com'> with |count| attributes in all (to,
// then a1, a2, ...), empty values.
Tree with_attributes(size_t count) {
  auto m = std::make_unique<Element>(kClient, "message");
  m->reserve_attrs(count);
  m->append_attr_unchecked("", "to", "romeo@example.com");
  for (size_t i = 1; i < count; ++i) m->append_attr_unchecked("", "a" + std::to_string(i), "");
  return m;
}

// A message whose deepest element is at |depth| (the message is depth 1,
// as in the parser's limit).
Tree nested(size_t depth) {
  auto m = std::make_unique<Element>(kClient, "message");
  m->set_attr("to", "romeo@example.com");
  Element* at = m.get();
  for (size_t d = 2; d <= depth; ++d) at = &at->add_child(kClient, "a");
  return m;
}

// A message of |count| elements, itself included.
Tree with_elements(size_t count) {
  auto m = std::make_unique<Element>(kClient, "message");
  m->set_attr("to", "romeo@example.com");
  for (size_t i = 1; i < count; ++i) m->add_child(kClient, "x");
  return m;
}

// <message to='romeo@example.com'><body>xx...</body></message> of exactly
// |octets| octets as XML. spec §11.2's decoded size of this tree is the
// same number, so the stanza limit means the same in both dialects.
Tree sized_message(size_t octets) {
  constexpr size_t kOverhead = 55;  // the markup around the text
  auto m = std::make_unique<Element>(kClient, "message");
  m->set_attr("to", "romeo@example.com");
  m->add_child(kClient, "body").add_text(std::string(octets - kOverhead, 'x'));
  REQUIRE(to_xml(*m, kClient).size() == octets);
  return m;
}

// A SASL PLAIN <auth/> of exactly |octets| octets as XML (and as §11.2
// decoded size), whose payload is not base64 (it ends in '*').
Tree sized_auth(size_t octets) {
  constexpr size_t kOverhead = 72;
  auto a = std::make_unique<Element>(kSaslNs, "auth");
  a->set_attr("mechanism", "PLAIN");
  a->add_text(std::string(octets - kOverhead - 1, 'A') + "*");
  REQUIRE(to_xml(*a, kClient).size() == octets);
  return a;
}

// Every routed stanza comes from the session, whatever it claimed (F42).
void from_is_session(const Trees& routed) {
  for (const Tree& r : routed) {
    CHECK(r->attr_or("from") == kFullJid);
    CHECK(to_xml(*r, kClient).find("victim") == std::string::npos);
  }
}

// F44 and XEP-0205: an error reply echoes neither the bad address nor the
// payload, and goes to the session.
void no_echo(const Trees& replies) {
  for (const Tree& r : replies) {
    CHECK(r->attr_or("to") == kFullJid);
    CHECK(r->attr("from") == nullptr);
    CHECK(r->child("body", kClient) == nullptr);
    CHECK(r->child("error", kClient)->attr_or("type") == "modify");
  }
}

struct Row {
  const char* name;  // the catalogue case and its shape
  Stage stage;
  std::function<Trees()> input;
  Expect expect;
  size_t chunk = 0;     // bytes per read; 0: all in one read
  size_t truncate = 0;  // only the first |truncate| octets are sent: a stanza that never ends
  std::optional<StanzaCondition> bind_refusal;
  // The answer of the compact dialect where spec §10 documents another
  // order of checks; the row's name cites the section.
  std::optional<Expect> compact;
};

std::vector<Row> rows() {
  std::vector<Row> r;
  const Expect policy{.stream_error = "policy-violation"};
  const Expect too_big{.stream_error = "policy-violation", .too_big = true};
  const Expect routed_one{.routed = 1};

  // ------------------------------------------------------------ C24 / C29
  r.push_back({"C24: 64 attributes, the cap, are routed", Stage::kBound,
               [] { return one(with_attributes(64)); }, routed_one});
  r.push_back(
      {"C24: 65 attributes", Stage::kBound, [] { return one(with_attributes(65)); }, policy});
  r.push_back({"C24: 20,000 attributes within the size limit", Stage::kBound,
               [] { return one(with_attributes(20'000)); }, policy});
  // As XML these are 66 namespace declarations on one element, over that
  // cap first; in frames, 65 attributes (spec §10.4 E6). The same error.
  r.push_back({"C24: 65 attributes in 65 namespaces", Stage::kBound,
               [] {
                 Tree m = with_attributes(1);
                 Element& x = m->add_child("urn:x", "x");
                 for (int i = 0; i < 65; ++i) {
                   x.set_attr("a", "", "urn:ns" + std::to_string(i));
                 }
                 return one(std::move(m));
               },
               policy});
  r.push_back({"C29: depth 64, the cap, is routed", Stage::kBound, [] { return one(nested(64)); },
               routed_one});
  r.push_back({"C29: depth 65", Stage::kBound, [] { return one(nested(65)); }, policy});
  r.push_back({"C29: 1,000 deep", Stage::kBound, [] { return one(nested(1000)); }, policy});
  // XML meets depth 65 within the first few hundred octets; the frame is
  // refused by its length (§10.2 F3) or declared decoded size (§10.3 C2)
  // before its body is decoded, so the first violation is the size.
  r.push_back(
      {"C29: 100,000 deep (also oversize): compact answers the size first, spec "
       "§10.1, §10.2 F3, §10.3 C2",
       Stage::kBound, [] { return one(nested(100'000)); }, policy, 0, 0, std::nullopt, too_big});
  r.push_back({"C29: 4,096 elements, the cap, are routed", Stage::kBound,
               [] { return one(with_elements(4096)); }, routed_one});
  r.push_back(
      {"C29: 4,097 elements", Stage::kBound, [] { return one(with_elements(4097)); }, policy});

  // ------------------------------------------------------------ C25 / C26 / C27 / C30
  r.push_back({"C25: exactly max-bytes (262,144 octets; spec §11.2 charges the same) is routed",
               Stage::kBound, [] { return one(sized_message(262'144)); }, routed_one});
  r.push_back({"C25: one octet over max-bytes", Stage::kBound,
               [] { return one(sized_message(262'145)); }, too_big});
  r.push_back({"C25a: a complete 300 KiB message", Stage::kBound,
               [] { return one(sized_message(300 * 1024)); }, too_big});
  // A frame declares its length up front (§10.2 F3), so the first read
  // already ends it; a compressed frame of this text is small and complete,
  // and its declared decoded size ends it (§10.3 C2).
  r.push_back({"C25b: a 300 KiB message that never ends, in 4 KiB reads", Stage::kBound,
               [] { return one(sized_message(300 * 1024)); }, too_big, 4096, 290 * 1024});
  r.push_back({"C26: a 32 KiB attribute value trickled one octet per read", Stage::kBound,
               [] {
                 Tree m = with_attributes(1);
                 m->set_attr("id", std::string(32 * 1024, 'v'));
                 return one(std::move(m));
               },
               routed_one, 1});
  r.push_back({"C27: F42 one octet per read",
               Stage::kBound,
               [] {
                 return trees(
                     "<message from='victim@example.com/x' to='bob@example.com' id='c27'>"
                     "<body>hi</body></message>");
               },
               {.routed = 1, .check_routed = from_is_session},
               1});
  r.push_back({"C27: C29 depth 65 in 7-octet reads", Stage::kBound, [] { return one(nested(65)); },
               policy, 7});
  r.push_back({"C30: 1,000 presences in one read, in order",
               Stage::kBound,
               [] {
                 Trees t;
                 for (int i = 0; i < 1000; ++i) {
                   auto p = std::make_unique<Element>(kClient, "presence");
                   p->set_attr("id", "p" + std::to_string(i));
                   t.push_back(std::move(p));
                 }
                 return t;
               },
               {.routed = 1000, .check_routed = [](const Trees& routed) {
                  for (size_t i = 0; i < routed.size(); ++i) {
                    CHECK(routed[i]->attr_or("id") == "p" + std::to_string(i));
                  }
                }}});

  // ------------------------------------------------------------ C28, A8, A9 before authentication
  r.push_back({"C28: an <auth/> of exactly 8,192 octets is processed (a SASL failure)",
               Stage::kPreAuth,
               [] { return one(sized_auth(8192)); },
               {.replies = 1, .reply = "incorrect-encoding"}});
  r.push_back({"C28: an <auth/> one octet over 8 KiB", Stage::kPreAuth,
               [] { return one(sized_auth(8193)); }, too_big});
  r.push_back({"C28: a 20 KiB <auth/>", Stage::kPreAuth,
               [] { return one(sized_auth(20 * 1024 + 1)); }, too_big});
  r.push_back({"C28: 32 elements before auth reach the stream (not-authorized)",
               Stage::kPreAuth,
               [] {
                 Tree iq = tree("<iq type='get' id='1'/>");
                 for (int i = 1; i < 32; ++i) iq->add_child(kClient, "x");
                 return one(std::move(iq));
               },
               {.stream_error = "not-authorized"}});
  r.push_back({"C28: 33 elements before auth", Stage::kPreAuth,
               [] {
                 Tree iq = tree("<iq type='get' id='1'/>");
                 for (int i = 1; i < 33; ++i) iq->add_child(kClient, "x");
                 return one(std::move(iq));
               },
               policy});
  r.push_back({"A8: a message before SASL",
               Stage::kPreAuth,
               [] { return trees("<message to='romeo@example.com'><body>x</body></message>"); },
               {.stream_error = "not-authorized"}});
  r.push_back({"A9: an unknown element before SASL",
               Stage::kPreAuth,
               [] { return trees("<foo xmlns='jabber:client'/>"); },
               {.stream_error = "not-authorized"}});

  // ------------------------------------------------------------ A8, A9, F46, F47 before bind
  for (const char* stanza :
       {"<message to='romeo@example.com'><body>x</body></message>", "<presence/>",
        "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"}) {
    r.push_back({"A8: a stanza after SASL, before bind",
                 Stage::kAwaitBind,
                 [stanza] { return trees(stanza); },
                 {.stream_error = "not-authorized"}});
  }
  r.push_back({"A9: an unknown element before bind",
               Stage::kAwaitBind,
               [] { return trees("<foo xmlns='jabber:client'/>"); },
               {.stream_error = "unsupported-stanza-type"}});
  r.push_back({"F46: a bind refused with conflict",
               Stage::kAwaitBind,
               [] { return trees(kBindXml); },
               {.replies = 1, .reply = "conflict"},
               0,
               0,
               StanzaCondition::kConflict});
  r.push_back({"F47: a bind over the session cap: resource-constraint + resource-limit-exceeded",
               Stage::kAwaitBind,
               [] { return trees(kBindXml); },
               {.replies = 1,
                .reply = "resource-constraint",
                .check_replies =
                    [](const Trees& replies) {
                      CHECK(replies[0]
                                ->child("error", kClient)
                                ->child("resource-limit-exceeded", kXmppErrorsNs) != nullptr);
                    }},
               0,
               0,
               StanzaCondition::kResourceConstraint});
  r.push_back({"F46: a malformed bind (type get)",
               Stage::kAwaitBind,
               [] {
                 return trees(
                     "<iq type='get' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
               },
               {.replies = 1, .reply = "bad-request"}});

  // ------------------------------------------------------------ F42 - F45, A9, G49, G50 bound
  r.push_back({"F42: spoofed 'from' on message, presence and iq",
               Stage::kBound,
               [] {
                 return trees(
                     "<message from='victim@example.com/x' to='bob@example.com'><body>hi</body>"
                     "</message><presence from='example.com'/>"
                     "<iq type='get' id='p' from='admin@example.com'><ping xmlns='urn:xmpp:ping'/>"
                     "</iq><message from='victim@elsewhere.example' to='bob@example.com'/>");
               },
               {.routed = 4, .check_routed = from_is_session}});
  r.push_back({"F43: injected stanza-ids naming us or our users are stripped",
               Stage::kBound,
               [] {
                 return trees(
                     "<message to='bob@example.com'>"
                     "<stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.com' id='1'/>"
                     "<stanza-id xmlns='urn:xmpp:sid:0' by='EXAMPLE.com' id='2'/>"
                     "<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com' id='3'/>"
                     "<stanza-id xmlns='urn:xmpp:sid:0' id='4'/>"
                     "<stanza-id xmlns='urn:xmpp:sid:0' by='room@muc.elsewhere' id='k'/>"
                     "<body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>");
               },
               {.routed = 1, .check_routed = [](const Trees& routed) {
                  const Element& m = *routed[0];
                  size_t ids = 0;
                  for (const Node& n : m.children()) {
                    if (n.element && n.element->is("stanza-id", "urn:xmpp:sid:0")) {
                      ++ids;
                      CHECK(n.element->attr_or("by") == "room@muc.elsewhere");
                    }
                  }
                  CHECK(ids == 1);
                  CHECK(m.child("origin-id", "urn:xmpp:sid:0") != nullptr);
                }}});
  r.push_back({"F44: malformed 'to' addresses",
               Stage::kBound,
               [] {
                 Trees t;
                 for (const std::string& to :
                      {std::string("@example.com"), std::string("a@@example.com"),
                       std::string("a@example.com/"), std::string("a@"), std::string("[::1"),
                       std::string(1024, 'l') + "@example.com",
                       "a@example.com/" + std::string(1024, 'r'), std::string("a\"&'b@example.com"),
                       std::string("a:b@example.com"), std::string("a<b@example.com"),
                       std::string(254, 'd') + ".com", std::string()}) {
                   auto m = std::make_unique<Element>(kClient, "message");
                   m->set_attr("to", to);
                   m->set_attr("id", "m");
                   m->add_child(kClient, "body").add_text("secret payload");
                   t.push_back(std::move(m));
                 }
                 return t;
               },
               {.replies = 12, .reply = "jid-malformed", .check_replies = no_echo}});
  r.push_back({"F45: a compatibility look-alike target is jid-malformed",
               Stage::kBound,
               [] {
                 return trees(
                     "<message to='\xE1\xB4\xAE\xE1\xB4\xB5\xE1\xB4\xB3\xE1\xB4\xAE\xE1\xB4\xB5"
                     "\xE1\xB4\xBF\xE1\xB4\xB0@example.com' id='m'/>");
               },
               {.replies = 1, .reply = "jid-malformed", .check_replies = no_echo}});
  r.push_back({"F45: fullwidth and mixed-case targets reach the one account",
               Stage::kBound,
               [] {
                 return trees(
                     "<message to='\xEF\xBD\x82\xEF\xBD\x89\xEF\xBD\x87\xEF\xBD\x82\xEF\xBD\x89"
                     "\xEF\xBD\x92\xEF\xBD\x84@example.com'/>"
                     "<message to='BigBird@Example.COM'/>");
               },
               {.routed = 2, .check_routed = [](const Trees& routed) {
                  for (const Tree& m : routed) CHECK(m->attr_or("to") == "bigbird@example.com");
                }}});
  r.push_back({"A9: unknown top-level elements after bind",
               Stage::kBound,
               [] { return trees("<x xmlns='urn:y'/>"); },
               {.stream_error = "unsupported-stanza-type"}});
  r.push_back({"G49: iq without id, and with two children",
               Stage::kBound,
               [] {
                 return trees(
                     "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>"
                     "<iq type='set' id='1'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>");
               },
               {.replies = 2, .reply = "bad-request"}});
  r.push_back({"G50: an error stanza with a bad 'to' is dropped, never answered",
               Stage::kBound,
               [] { return trees("<message type='error' to='@@bad'><body>x</body></message>"); },
               {}});
  return r;
}

// ------------------------------------------------------------ hand-made frames

// spec §5.4: a string value in its canonical form, and a raw (F0) one,
// which may hold what no encoder would write.
std::string value(std::string_view s) {
  std::string out;
  compact::encode_value(s, out, context());
  return out;
}

std::string raw(std::string_view s) {
  std::string out(1, static_cast<char>(compact::kTypeRaw));
  compact::append_varint(out, static_cast<uint32_t>(s.size()));
  out.append(s);
  return out;
}

// spec §5.1: the body of <message to='romeo@example.com' |attrs|> with
// |children| (each a ready node: text value or 0xF2 + element), where
// |attrs| is |extra| ready attributes.
std::string message_body(size_t extra, std::string_view attrs,
                         const std::vector<std::string>& children = {}) {
  std::string b(1, static_cast<char>((children.empty() ? 0 : compact::kHdrChildren) |
                                     static_cast<uint8_t>(1 + extra)));
  b += value("message") + value("to") + value("romeo@example.com");
  b.append(attrs);
  if (!children.empty()) {
    compact::append_varint(b, static_cast<uint32_t>(children.size()));
    for (const std::string& c : children) b += c;
  }
  return b;
}

// A child node <|name_value| [xmlns=|ns_value|]>|text_value|</...>.
std::string child(std::string_view name_value, std::string_view text_value = {},
                  std::string_view ns_value = {}) {
  std::string c(1, static_cast<char>(compact::kTypeElement));
  uint8_t hdr = 0;
  if (!ns_value.empty()) hdr |= compact::kHdrNamespace;
  if (!text_value.empty()) hdr |= compact::kHdrChildren;
  c.push_back(static_cast<char>(hdr));
  c.append(name_value);
  c.append(ns_value);
  if (!text_value.empty()) {
    c.push_back(1);
    c.append(text_value);
  }
  return c;
}

struct RawRow {
  const char* name;
  std::string xml;   // what an XML client sends
  std::string body;  // the compact element body (spec §5) for the same input
  Expect expect;
  std::optional<Expect> compact;  // spec-documented difference, cited in |name|
};

}  // namespace

TEST_SUITE("c2s dialect equivalence") {
  TEST_CASE("J65: C and F cases as XML and as frames: the same error or the same routed tree") {
    for (const Row& row : rows()) {
      const std::string name = row.name;
      CAPTURE(name);
      const Trees input = row.input();
      std::optional<Outcome> xml;
      for (Dialect dialect : kDialects) {
        const std::string dialect_text = dialect_name(dialect);
        CAPTURE(dialect_text);
        std::string bytes = encode(input, dialect);
        if (row.truncate != 0 && bytes.size() > row.truncate) bytes.resize(row.truncate);
        Outcome o = run(row.stage, dialect, bytes, row.chunk, row.bind_refusal);
        const std::string got = describe(o);
        CAPTURE(got);
        const bool documented = dialect != Dialect::kXml && row.compact.has_value();
        check_expected(o, documented ? *row.compact : row.expect);
        if (dialect == Dialect::kXml) {
          xml = std::move(o);
          continue;
        }
        const std::string xml_got = describe(*xml);
        CAPTURE(xml_got);
        if (documented) {
          // Only the error's application condition differs; nothing is
          // routed or answered otherwise.
          CHECK(o.closed_error == xml->closed_error);
          CHECK(o.routed.size() == xml->routed.size());
          CHECK(o.replies.size() == xml->replies.size());
        } else {
          check_same(*xml, o);
        }
      }
    }
  }

  TEST_CASE("J65: B and F cases in hand-made frames: the XML condition or the documented one") {
    const Expect nwf{.stream_error = "not-well-formed"};
    std::vector<RawRow> rows;
    rows.push_back({"B18: overlong UTF-8 in text",
                    "<message to='romeo@example.com'><body>\xC0\xBC</body></message>",
                    message_body(0, "", {child(value("body"), raw("\xC0\xBC"))}), nwf});
    rows.push_back({"B18: a surrogate in an attribute value",
                    "<message to='romeo@example.com' id='\xED\xA0\x80'/>",
                    message_body(1, value("id") + raw("\xED\xA0\x80")), nwf});
    rows.push_back({"B18: invalid UTF-8 in an element name",
                    "<message to='romeo@example.com'><b\xC0\xBC/></message>",
                    message_body(0, "", {child(raw("b\xC0\xBC"))}), nwf});
    rows.push_back({"B19: a raw 0x01 in text",
                    "<message to='romeo@example.com'><body>a\x01z</body></message>",
                    message_body(0, "", {child(value("body"), raw("a\x01z"))}), nwf});
    rows.push_back({"B19: U+FFFE in text",
                    "<message to='romeo@example.com'><body>&#xFFFE;</body></message>",
                    message_body(0, "", {child(value("body"), raw("\xEF\xBF\xBE"))}), nwf});
    rows.push_back({"B20: the parser's separator (U+0001) in a namespace",
                    "<message to='romeo@example.com'><x xmlns='jabber:client&#1;message'/>"
                    "</message>",
                    message_body(0, "", {child(value("x"), "", raw("jabber:client\x01message"))}),
                    nwf});
    rows.push_back({"B21: a prefixed (not NCName) element name",
                    "<message to='romeo@example.com'><a:b/></message>",
                    message_body(0, "", {child(raw("a:b"))}), nwf});
    rows.push_back({"B22: a duplicate attribute: bad-format, spec §5.9 rule 4, §10.4 E13",
                    "<message to='romeo@example.com' to='juliet@example.com'/>",
                    message_body(1, value("to") + value("juliet@example.com")), nwf,
                    Expect{.stream_error = "bad-format"}});
    // spec §5.8: a JID value is a compression of a string, not a JID; the
    // server judges its decoded text as it judges the XML string (F44).
    const auto jid_value = [](uint8_t flags, std::string parts) {
      return std::string{static_cast<char>(compact::kTypeJid), static_cast<char>(flags)} + parts;
    };
    rows.push_back({"F44: a non-canonical JID value whose local part holds '@'",
                    "<message to='a@@example.com' id='m'/>",
                    std::string(1, '\x02') + value("message") + value("to") +
                        jid_value(compact::kJidLocal | compact::kJidStreamDomain, raw("a@")) +
                        value("id") + value("m"),
                    {.replies = 1, .reply = "jid-malformed", .check_replies = no_echo}});
    rows.push_back(
        {"F44: a JID value with an empty resource part",
         "<message to='a@example.com/' id='m'/>",
         std::string(1, '\x02') + value("message") + value("to") +
             jid_value(compact::kJidLocal | compact::kJidStreamDomain | compact::kJidResource,
                       raw("a") + std::string(1, '\0')) +
             value("id") + value("m"),
         {.replies = 1, .reply = "jid-malformed", .check_replies = no_echo}});
    rows.push_back(
        {"F42: 'from' as a JID value with the stream-domain flag",
         "<message from='victim@example.com/x' to='romeo@example.com'/>",
         message_body(1, value("from") + jid_value(compact::kJidLocal | compact::kJidResource |
                                                       compact::kJidStreamDomain,
                                                   raw("victim") + raw("x"))),
         {.routed = 1, .check_routed = from_is_session}});

    for (const RawRow& row : rows) {
      const std::string name = row.name;
      CAPTURE(name);
      std::optional<Outcome> xml;
      for (Dialect dialect : kDialects) {
        const std::string dialect_text = dialect_name(dialect);
        CAPTURE(dialect_text);
        const std::string bytes = dialect == Dialect::kXml ? row.xml : frame(row.body, dialect);
        Outcome o = run(Stage::kBound, dialect, bytes, 0);
        const std::string got = describe(o);
        CAPTURE(got);
        const bool documented = dialect != Dialect::kXml && row.compact.has_value();
        check_expected(o, documented ? *row.compact : row.expect);
        if (dialect == Dialect::kXml) {
          xml = std::move(o);
        } else if (!documented) {
          check_same(*xml, o);
        } else {
          CHECK(o.routed.empty());
          CHECK(xml->routed.empty());
        }
      }
    }
  }

  TEST_CASE("J65: B: markup in frames is text, and an XML client gets it escaped") {
    // Each would be restricted-xml or not-well-formed as XML syntax (B11-B17,
    // B23); in a frame it can only be a string value, i.e. character data.
    const std::vector<std::string> markup = {
        "<!DOCTYPE x [<!ENTITY ent 'boom'>]>",         // B11
        "<!DOCTYPE s SYSTEM \"file:///etc/passwd\">",  // B12
        "<!-- comment -->",                            // B13
        "<?xml-stylesheet href='x'?>",                 // B14
        "&ent;&amp;&#0;&#x1F600;",                     // B15, B19 as text
        "<?xml version='1.0' encoding='UTF-16'?>",     // B16
        "<![CDATA[x]]>]]>",                            // B17
        "</body></message><message to='eve@example.com' from='romeo@example.com'>",  // B23
        "</stream:stream><stream:stream xmlns='jabber:server'>",
    };
    std::unique_ptr<Client> sender = connect(Stage::kBound, Dialect::kCompact);
    std::unique_ptr<Client> xml_sender = connect(Stage::kBound, Dialect::kXml);
    std::unique_ptr<Client> recipient = connect(Stage::kBound, Dialect::kXml);
    for (const std::string& s : markup) {
      CAPTURE(s);
      auto m = std::make_unique<Element>(kClient, "message");
      m->set_attr("to", "romeo@example.com");
      m->set_attr("id", s);
      m->add_child(kClient, "body").add_text(s);
      Trees input = one(std::move(m));

      const size_t before = sender->events_of(Type::kStanza).size();
      sender->send(encode(input, Dialect::kCompact));
      REQUIRE(sender->stream_error().empty());
      const auto routed = sender->events_of(Type::kStanza);
      REQUIRE(routed.size() == before + 1);
      const Element& got = *routed.back()->stanza;
      CHECK(got.attr_or("id") == s);
      CHECK(got.child("body", kClient)->text() == s);
      CHECK(got.child_element_count() == 1);

      // The XML form: the markup escaped, one element that reads back equal.
      const std::string xml = to_xml(got, kClient);
      CAPTURE(xml);
      for (const char* opener : {"<!", "<?", "&ent;", "</body></message><", "<stream"}) {
        CHECK(xml.find(opener) == std::string::npos);
      }
      Trees reread;
      REQUIRE(parse_fragments(xml, reread));
      REQUIRE(reread.size() == 1);
      CHECK(reread[0]->equals(got));

      // Sent as XML (escaped by the client), the same tree is routed.
      const size_t xml_before = xml_sender->events_of(Type::kStanza).size();
      xml_sender->send(encode(input, Dialect::kXml));
      const auto xml_routed = xml_sender->events_of(Type::kStanza);
      REQUIRE(xml_routed.size() == xml_before + 1);
      CHECK(xml_routed.back()->stanza->equals(got));

      // Delivered to an XML client: exactly one element, its stream intact
      // (the test client FAILs on malformed XML from the server).
      const size_t seen = recipient->elements.size();
      REQUIRE(recipient->stream().send_stanza(got));
      recipient->pump();
      REQUIRE(recipient->elements.size() == seen + 1);
      CHECK(recipient->elements.back()->equals(got));
      CHECK_FALSE(recipient->server_closed_stream());
    }

    // No string type holds markup: the octets §5.4 leaves unassigned, as a
    // text node's type, are bad-format, not an escape hatch.
    for (int type = 0xF6; type <= 0xFF; ++type) {
      CAPTURE(type);
      std::unique_ptr<Client> c = connect(Stage::kBound, Dialect::kCompact);
      c->send(
          frame(message_body(0, "",
                             {child(value("body"), std::string(1, static_cast<char>(type)) + "x")}),
                Dialect::kCompact));
      CHECK(c->stream_error() == "bad-format");
      CHECK(c->events_of(Type::kStanza).empty());
    }
  }

  TEST_CASE("J65: C24: namespace declarations are syntax, with no frame") {
    // spec §6.3: declarations are not in the data model. The tree XML with
    // 60 unused declarations parses to is the bare element, and so is its
    // frame; the C24 declaration flood is refused as XML syntax and has
    // nothing to be in compact.
    std::string decls;
    for (int i = 0; i < 60; ++i) {
      decls += " xmlns:p" + std::to_string(i) + "='urn:p" + std::to_string(i) + "'";
    }
    const Trees declared = trees("<message" + decls + " to='romeo@example.com'/>");
    const Trees bare = trees("<message to='romeo@example.com'/>");
    CHECK(declared[0]->equals(*bare[0]));
    CHECK(encode(declared, Dialect::kCompact) == encode(bare, Dialect::kCompact));
    {
      // 10,000 declarations: the catalogue's 20,000 do not fit in 256 KiB.
      std::string flood;
      for (int i = 0; i < 10'000; ++i) flood += " xmlns:p" + std::to_string(i) + "='u'";
      Outcome o =
          run(Stage::kBound, Dialect::kXml, "<message" + flood + " to='romeo@example.com'/>", 0);
      check_expected(o, Expect{.stream_error = "policy-violation"});
    }

    // A tree whose attributes need 64 namespaces, on an element in a 65th:
    // xmppd's serializer declares all 65 on that element, which the XML
    // cap refuses; the same tree with the 64 prefixes declared on the
    // parent is within it. Both dialects route the tree, and equally: the
    // cap limits one spelling, not the tree.
    auto m = std::make_unique<Element>(kClient, "message");
    m->set_attr("to", "romeo@example.com");
    Element& x = m->add_child("urn:x", "x");
    std::string hoisted = "<message to='romeo@example.com'";
    std::string attrs;
    for (int i = 0; i < 64; ++i) {
      x.set_attr("a", "", "urn:ns" + std::to_string(i));
      hoisted += " xmlns:q" + std::to_string(i) + "='urn:ns" + std::to_string(i) + "'";
      attrs += " q" + std::to_string(i) + ":a=''";
    }
    hoisted += "><x xmlns='urn:x'" + attrs + "/></message>";
    const Trees tree_in = one(std::move(m));
    {
      const std::string ours = encode(tree_in, Dialect::kXml);
      Outcome o = run(Stage::kBound, Dialect::kXml, ours, 0);
      check_expected(o, Expect{.stream_error = "policy-violation"});
    }
    Outcome xml = run(Stage::kBound, Dialect::kXml, hoisted, 0);
    check_expected(xml, Expect{.routed = 1});
    REQUIRE(xml.routed.size() == 1);
    for (Dialect dialect : {Dialect::kCompact, Dialect::kCompactZstd}) {
      const std::string dialect_text = dialect_name(dialect);
      CAPTURE(dialect_text);
      Outcome o = run(Stage::kBound, dialect, encode(tree_in, dialect), 0);
      check_expected(o, Expect{.routed = 1});
      check_same(xml, o);
    }
  }
}

}  // namespace xd::protocol::test
