// The stanza model: an XML element tree with resolved namespaces,
// attributes and text, as the stream parser builds it and the serializer
// writes it. Namespace prefixes are not part of the model: they are a
// serialization detail. Destruction and cloning are iterative, so no tree
// depth can overflow the stack. Never performs I/O.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xd::protocol {

// The XML namespace bound to the reserved 'xml' prefix (xml:lang).
inline constexpr std::string_view kXmlNs = "http://www.w3.org/XML/1998/namespace";

// One attribute. |ns| is empty for unqualified attributes (the usual case).
struct Attribute {
  std::string ns;
  std::string name;
  std::string value;
};

class Element;

// A child node: an element when |element| is set, otherwise text.
struct Node {
  std::unique_ptr<Element> element;
  std::string text;

  bool is_element() const { return element != nullptr; }
};

class Element {
 public:
  Element(std::string_view ns, std::string_view name) : ns_(ns), name_(name) {}
  ~Element();

  Element(const Element&) = delete;
  Element& operator=(const Element&) = delete;

  const std::string& ns() const { return ns_; }
  const std::string& name() const { return name_; }
  bool is(std::string_view name, std::string_view ns) const { return name_ == name && ns_ == ns; }

  // Attributes. Lookups return null when absent; the pointer is valid until
  // the attribute list is next modified.
  const std::string* attr(std::string_view name, std::string_view ns = {}) const;
  std::string_view attr_or(std::string_view name, std::string_view fallback = {}) const;
  // Replaces an existing attribute of the same (ns, name), else appends.
  void set_attr(std::string_view name, std::string_view value, std::string_view ns = {});
  // Returns whether an attribute was removed.
  bool remove_attr(std::string_view name, std::string_view ns = {});
  // Appends without checking for duplicates: for the parser, which has
  // already rejected duplicates (expat enforces attribute uniqueness).
  void append_attr_unchecked(std::string ns, std::string name, std::string value);
  void reserve_attrs(size_t n) { attrs_.reserve(n); }
  const std::vector<Attribute>& attrs() const { return attrs_; }

  // Children, in document order.
  const std::vector<Node>& children() const { return children_; }
  // Takes ownership of |child| and returns it.
  Element& add_child(std::unique_ptr<Element> child);
  // Creates, appends and returns a child element.
  Element& add_child(std::string_view ns, std::string_view name);
  // Appends text, merging with a preceding text node.
  void add_text(std::string_view text);
  // First child element with |name| in |ns|, or null.
  Element* child(std::string_view name, std::string_view ns);
  const Element* child(std::string_view name, std::string_view ns) const;
  // Number of child elements (text nodes excluded).
  size_t child_element_count() const;
  // Removes every child element with |name| in |ns|; returns how many.
  size_t remove_children(std::string_view name, std::string_view ns);
  // Concatenation of the direct text children.
  std::string text() const;

  // Deep copy, iterative.
  std::unique_ptr<Element> clone() const;

  // Structural equality: names, namespaces, attribute sets (order not
  // significant), and children in order with exact text. Iterative.
  bool equals(const Element& other) const;

 private:
  std::string ns_;
  std::string name_;
  std::vector<Attribute> attrs_;
  std::vector<Node> children_;
};

}  // namespace xd::protocol
