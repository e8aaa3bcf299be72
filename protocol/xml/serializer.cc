#include "protocol/xml/serializer.h"

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "protocol/xml/element.h"

namespace xd::protocol {
namespace {

// Per-byte class for the escaping loops: 0 = copy, 1 = escape, 2 = illegal.
enum : uint8_t { kCopy = 0, kEscape = 1, kIllegal = 2 };

constexpr std::array<uint8_t, 256> make_table(bool attr) {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = kIllegal;
  t['\t'] = attr ? kEscape : kCopy;
  t['\n'] = attr ? kEscape : kCopy;
  t['\r'] = kEscape;
  t['&'] = kEscape;
  t['<'] = kEscape;
  t['>'] = kEscape;
  if (attr) {
    t['"'] = kEscape;
    t['\''] = kEscape;
  }
  return t;
}

constexpr auto kTextTable = make_table(false);
constexpr auto kAttrTable = make_table(true);

std::string_view escape_for(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&apos;";
    case '\t':
      return "&#9;";
    case '\n':
      return "&#10;";
    case '\r':
      return "&#13;";
    default:
      return {};
  }
}

bool append_escaped(std::string& out, std::string_view in, const std::array<uint8_t, 256>& table) {
  size_t start = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    uint8_t cls = table[static_cast<uint8_t>(in[i])];
    if (cls == kCopy) continue;
    if (cls == kIllegal) return false;
    out.append(in.data() + start, i - start);
    out.append(escape_for(in[i]));
    start = i + 1;
  }
  out.append(in.data() + start, in.size() - start);
  return true;
}

// A cheap guard, not a full NCName check: it rejects every byte that could
// end a name early and start markup. Parsed names always pass.
bool plausible_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<uint8_t>(c);
    if (u <= 0x20 || c == '<' || c == '>' || c == '&' || c == '\'' || c == '"' || c == '=' ||
        c == '/' || c == ':' || c == '!' || c == '?') {
      return false;
    }
  }
  return true;
}

// A prefix bound to an attribute namespace by some open ancestor.
struct Binding {
  std::string_view ns;
  std::string prefix;
};

struct Frame {
  const Element* element;
  size_t next_child;
  std::string_view default_ns;  // default namespace in effect inside this element
  size_t bindings_mark;         // size of the binding stack when it opened
};

}  // namespace

bool append_escaped_text(std::string& out, std::string_view text) {
  return append_escaped(out, text, kTextTable);
}

bool append_escaped_attr(std::string& out, std::string_view value) {
  return append_escaped(out, value, kAttrTable);
}

bool serialize(const Element& root, std::string& out, std::string_view default_ns) {
  const size_t rollback = out.size();
  auto fail = [&] {
    out.resize(rollback);
    return false;
  };
  std::vector<Frame> stack;
  std::vector<Binding> bindings;
  unsigned next_prefix = 0;

  // Writes the start tag of |e| and pushes its frame (or closes it at once).
  auto open = [&](const Element& e, std::string_view inherited_ns) -> bool {
    if (!plausible_name(e.name())) return false;
    out.push_back('<');
    // The xml namespace cannot be declared as the default one (Namespaces
    // in XML §3); its prefix is predeclared, so such an element keeps it
    // and its children keep the default namespace in effect.
    const bool xml_ns = e.ns() == kXmlNs;
    if (xml_ns) out.append("xml:");
    out.append(e.name());
    if (!xml_ns && e.ns() != inherited_ns) {
      out.append(" xmlns='");
      if (!append_escaped_attr(out, e.ns())) return false;
      out.push_back('\'');
    }
    const size_t mark = bindings.size();
    for (const Attribute& a : e.attrs()) {
      if (!plausible_name(a.name)) return false;
      out.push_back(' ');
      if (!a.ns.empty()) {
        if (a.ns == kXmlNs) {
          out.append("xml:");
        } else {
          const Binding* found = nullptr;
          for (auto it = bindings.rbegin(); it != bindings.rend(); ++it) {
            if (it->ns == a.ns) {
              found = &*it;
              break;
            }
          }
          if (!found) {
            std::string prefix = "ns" + std::to_string(next_prefix++);
            out.append("xmlns:").append(prefix).append("='");
            if (!append_escaped_attr(out, a.ns)) return false;
            out.append("' ");
            bindings.push_back(Binding{a.ns, std::move(prefix)});
            found = &bindings.back();
          }
          out.append(found->prefix).push_back(':');
        }
      }
      out.append(a.name).append("='");
      if (!append_escaped_attr(out, a.value)) return false;
      out.push_back('\'');
    }
    if (e.children().empty()) {
      out.append("/>");
      bindings.resize(mark);
      return true;
    }
    out.push_back('>');
    stack.push_back(Frame{&e, 0, xml_ns ? inherited_ns : std::string_view(e.ns()), mark});
    return true;
  };

  if (!open(root, default_ns)) return fail();
  while (!stack.empty()) {
    Frame& f = stack.back();
    const auto& children = f.element->children();
    if (f.next_child == children.size()) {
      out.append("</");
      if (f.element->ns() == kXmlNs) out.append("xml:");
      out.append(f.element->name()).push_back('>');
      bindings.resize(f.bindings_mark);
      stack.pop_back();
      continue;
    }
    const Node& node = children[f.next_child++];
    if (node.element) {
      // |f| may dangle after open() pushes; copy what we need first.
      std::string_view inherited = f.default_ns;
      if (!open(*node.element, inherited)) return fail();
    } else if (!append_escaped_text(out, node.text)) {
      return fail();
    }
  }
  return true;
}

std::string to_xml(const Element& element, std::string_view default_ns) {
  std::string out;
  serialize(element, out, default_ns);
  return out;
}

}  // namespace xd::protocol
