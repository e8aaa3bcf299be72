// JSON text for the clients' machine-readable output (xd-push-appserver's
// notification lines, the `xmpp` CLI's --json): a string with its quotes.
// Pure; never fails.
#pragma once

#include <string>
#include <string_view>

namespace xd::client {

// Appends |text| (UTF-8) to |out| as a JSON string with its quotes: '"',
// '\' and every control character below U+0020 are escaped (RFC 8259 §7).
void append_json_string(std::string& out, std::string_view text);

// The same, as a new string.
std::string json_string(std::string_view text);

}  // namespace xd::client
