#include "protocol/xml/element.h"

#include <algorithm>
#include <utility>

namespace xd::protocol {

// The destructor moves grandchildren into a flat worklist before the
// children die, so freeing a tree of any depth uses constant stack.
Element::~Element() {
  std::vector<std::unique_ptr<Element>> pending;
  for (Node& node : children_) {
    if (node.element) pending.push_back(std::move(node.element));
  }
  while (!pending.empty()) {
    std::unique_ptr<Element> e = std::move(pending.back());
    pending.pop_back();
    for (Node& node : e->children_) {
      if (node.element) pending.push_back(std::move(node.element));
    }
    // |e| now has no element children, so its destructor does not recurse.
  }
}

const std::string* Element::attr(std::string_view name, std::string_view ns) const {
  for (const Attribute& a : attrs_) {
    if (a.name == name && a.ns == ns) return &a.value;
  }
  return nullptr;
}

std::string_view Element::attr_or(std::string_view name, std::string_view fallback) const {
  const std::string* v = attr(name);
  return v ? std::string_view(*v) : fallback;
}

void Element::set_attr(std::string_view name, std::string_view value, std::string_view ns) {
  for (Attribute& a : attrs_) {
    if (a.name == name && a.ns == ns) {
      a.value.assign(value);
      return;
    }
  }
  attrs_.push_back(Attribute{std::string(ns), std::string(name), std::string(value)});
}

bool Element::remove_attr(std::string_view name, std::string_view ns) {
  auto it = std::find_if(attrs_.begin(), attrs_.end(),
                         [&](const Attribute& a) { return a.name == name && a.ns == ns; });
  if (it == attrs_.end()) return false;
  attrs_.erase(it);
  return true;
}

void Element::append_attr_unchecked(std::string ns, std::string name, std::string value) {
  attrs_.push_back(Attribute{std::move(ns), std::move(name), std::move(value)});
}

Element& Element::add_child(std::unique_ptr<Element> child) {
  Element& ref = *child;
  children_.push_back(Node{std::move(child), {}});
  return ref;
}

Element& Element::add_child(std::string_view ns, std::string_view name) {
  return add_child(std::make_unique<Element>(ns, name));
}

void Element::add_text(std::string_view text) {
  if (text.empty()) return;
  if (!children_.empty() && !children_.back().element) {
    children_.back().text.append(text);
    return;
  }
  children_.push_back(Node{nullptr, std::string(text)});
}

Element* Element::child(std::string_view name, std::string_view ns) {
  for (Node& node : children_) {
    if (node.element && node.element->is(name, ns)) return node.element.get();
  }
  return nullptr;
}

const Element* Element::child(std::string_view name, std::string_view ns) const {
  return const_cast<Element*>(this)->child(name, ns);
}

size_t Element::child_element_count() const {
  return static_cast<size_t>(std::count_if(children_.begin(), children_.end(),
                                           [](const Node& n) { return n.element != nullptr; }));
}

size_t Element::remove_children(std::string_view name, std::string_view ns) {
  // Removed children are destroyed through ~Element, which is iterative.
  auto doomed = std::remove_if(children_.begin(), children_.end(),
                               [&](const Node& n) { return n.element && n.element->is(name, ns); });
  const auto removed = static_cast<size_t>(children_.end() - doomed);
  children_.erase(doomed, children_.end());
  // Two text nodes may now be adjacent; merge them so the model stays canonical.
  for (size_t i = 1; i < children_.size();) {
    if (!children_[i].element && !children_[i - 1].element) {
      children_[i - 1].text += children_[i].text;
      children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return removed;
}

std::string Element::text() const {
  std::string out;
  for (const Node& node : children_) {
    if (!node.element) out += node.text;
  }
  return out;
}

std::unique_ptr<Element> Element::clone() const {
  auto root = std::make_unique<Element>(ns_, name_);
  root->attrs_ = attrs_;
  // Worklist of (source, copy) pairs whose children still need copying.
  std::vector<std::pair<const Element*, Element*>> work{{this, root.get()}};
  while (!work.empty()) {
    auto [src, dst] = work.back();
    work.pop_back();
    dst->children_.reserve(src->children_.size());
    for (const Node& node : src->children_) {
      if (node.element) {
        auto copy = std::make_unique<Element>(node.element->ns_, node.element->name_);
        copy->attrs_ = node.element->attrs_;
        work.emplace_back(node.element.get(), copy.get());
        dst->children_.push_back(Node{std::move(copy), {}});
      } else {
        dst->children_.push_back(Node{nullptr, node.text});
      }
    }
  }
  return root;
}

namespace {

bool same_attributes(const std::vector<Attribute>& a, const std::vector<Attribute>& b) {
  if (a.size() != b.size()) return false;
  for (const Attribute& x : a) {
    bool found = false;
    for (const Attribute& y : b) {
      if (x.name == y.name && x.ns == y.ns) {
        if (x.value != y.value) return false;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

}  // namespace

bool Element::equals(const Element& other) const {
  std::vector<std::pair<const Element*, const Element*>> work{{this, &other}};
  while (!work.empty()) {
    auto [a, b] = work.back();
    work.pop_back();
    if (a->name_ != b->name_ || a->ns_ != b->ns_) return false;
    if (!same_attributes(a->attrs_, b->attrs_)) return false;
    if (a->children_.size() != b->children_.size()) return false;
    for (size_t i = 0; i < a->children_.size(); ++i) {
      const Node& x = a->children_[i];
      const Node& y = b->children_[i];
      if (x.is_element() != y.is_element()) return false;
      if (x.element) {
        work.emplace_back(x.element.get(), y.element.get());
      } else if (x.text != y.text) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace xd::protocol
