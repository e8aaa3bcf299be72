// What a decoded compact string may contain (spec/compact.md §5.9): the
// rules expat applies to XML input, restated for bytes that never went
// through expat, so nothing a compact client sends can make the XML
// serialization of a stanza ill-formed or smuggle markup into an XML
// client's stream (catalogue J64, J65). Pure functions.
#pragma once

#include <string_view>

namespace xd::protocol::compact {

// Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF) whose every character is an XML 1.0 Char (§2.2): no NUL, no
// C0 control but TAB, LF and CR, no U+FFFE or U+FFFF.
bool valid_xml_text(std::string_view s);

// An NCName (Namespaces in XML §3) as this server's XML parser accepts it:
// ASCII names by the XML 1.0 rules directly; a name with other characters
// is handed to expat, whose name tables (XML 1.0 fourth edition) are
// narrower than the fifth edition's, so a compact client cannot send a name
// that an XML peer of the same server could not (catalogue J65).
bool valid_ncname(std::string_view s);

}  // namespace xd::protocol::compact
