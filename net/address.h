// Socket addresses as text: parsing the "HOST:PORT" and "[IPv6]:PORT"
// spellings used in configuration and on command lines, and formatting a
// peer's sockaddr for logs and per-IP policy. Never performs I/O and never
// resolves names (resolution belongs to the listener at startup and to the
// client's resolver).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace xd::net {

// A parsed endpoint. |host| is a name, a dotted IPv4 literal or an IPv6
// literal without brackets; |port| may be 0 ("any port" for a listener).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
};

// Parses |text| as "HOST:PORT" or "[V6]:PORT" into |out|. Returns false and
// leaves |out| unspecified when the port is missing, not decimal, has a
// leading '+'/'-' or exceeds 65535, the host is empty, a bracketed host is
// not an IPv6 literal, or an IPv6 literal is given without brackets (it would
// be ambiguous: "::1:5222").
bool parse_host_port(std::string_view text, HostPort& out);

// True when |host| is an IPv4 or IPv6 literal (no brackets, no zone ids).
bool is_ip_literal(std::string_view host);

// Fills |out| with the numeric address |host_port| names; returns false when
// the host is not an IP literal (names are never looked up here).
bool to_sockaddr(const HostPort& host_port, sockaddr_storage& out);

// "1.2.3.4:5222", "[2001:db8::1]:5222", or "unknown" for other families.
std::string format_address(const sockaddr* addr);
// Only the IP part: "1.2.3.4", "2001:db8::1" (IPv4-mapped IPv6 addresses are
// shown as IPv4), or "" for other families.
std::string format_ip(const sockaddr* addr);

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback, given as text in the
// format_ip() form.
bool is_loopback_ip(std::string_view ip);

}  // namespace xd::net
