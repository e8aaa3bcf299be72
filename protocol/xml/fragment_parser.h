// Parses one complete element from a string (a stanza the server stored in
// serialized form, a persisted data form) with the same restricted XML
// parser and limits as a live stream, as if it had arrived in a jabber:client
// stream. Pure; never throws. Not for peer input that needs the stream's
// error reporting: it returns null on anything but exactly one element.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "protocol/xml/element.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol {

std::unique_ptr<Element> parse_fragment(std::string_view xml,
                                        const ParserLimits& limits = post_auth_parser_limits());

// The same for a sequence of complete elements (our own output, such as
// <stream:features/>: the 'stream' prefix is bound). Appends each to |out|;
// false, with |out| unchanged, unless every byte belongs to an element or
// to whitespace between them.
bool parse_fragments(std::string_view xml, std::vector<std::unique_ptr<Element>>& out,
                     const ParserLimits& limits = post_auth_parser_limits());

}  // namespace xd::protocol
