// Writes an Element tree as XML text. Escaping is total: whatever the tree
// holds, the output parses back as exactly one element with the same
// content, so a stanza can never smuggle a second stanza to a recipient
// (hostile-inputs.md decision 4). Iterative; never performs I/O.
#pragma once

#include <string>
#include <string_view>

namespace xd::protocol {

class Element;

// Appends the XML form of |element| to |out|. |default_ns| is the default
// namespace already in effect where the element is written (for a stanza
// inside a c2s stream, "jabber:client"), so it is not declared again.
// Returns false and leaves |out| unchanged when the tree cannot be written
// as well-formed XML: an element or attribute name that is not a plausible
// NCName, or a character XML 1.0 cannot carry (C0 controls other than tab,
// LF and CR). Trees built by the stream parser always serialize.
bool serialize(const Element& element, std::string& out, std::string_view default_ns = {});

// Convenience: the XML for |element| as a new string ("" if unserializable).
std::string to_xml(const Element& element, std::string_view default_ns = {});

// Escapes character data: & < > and CR (as &#13; so it survives end-of-line
// normalization). Returns false if |text| holds a character XML cannot carry.
bool append_escaped_text(std::string& out, std::string_view text);
// Escapes an attribute value for single or double quotes: & < > " ' and
// TAB/LF/CR as character references (attribute-value normalization would
// otherwise turn them into spaces). Same return contract.
bool append_escaped_attr(std::string& out, std::string_view value);

}  // namespace xd::protocol
