// Address parsing and formatting with inet_pton / inet_ntop.
#include "net/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace xd::net {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

bool parse_v4(std::string_view host, in_addr& out) {
  if (host.empty() || host.size() >= INET_ADDRSTRLEN) return false;
  char buf[INET_ADDRSTRLEN];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  return inet_pton(AF_INET, buf, &out) == 1;
}

bool parse_v6(std::string_view host, in6_addr& out) {
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  return inet_pton(AF_INET6, buf, &out) == 1;
}

}  // namespace

bool parse_host_port(std::string_view text, HostPort& out) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr scratch;
    if (!parse_v6(host, scratch)) return false;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // A second colon means an unbracketed IPv6 literal: ambiguous, refused.
    if (host.find(':') != std::string_view::npos) return false;
    if (host.empty()) return false;
  }
  if (!parse_port(port, out.port)) return false;
  out.host.assign(host);
  return true;
}

bool is_ip_literal(std::string_view host) {
  in_addr v4;
  in6_addr v6;
  return parse_v4(host, v4) || parse_v6(host, v6);
}

bool to_sockaddr(const HostPort& host_port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  in_addr v4;
  in6_addr v6;
  if (parse_v4(host_port.host, v4)) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(host_port.port);
    sin->sin_addr = v4;
    return true;
  }
  if (parse_v6(host_port.host, v6)) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(host_port.port);
    sin6->sin6_addr = v6;
    return true;
  }
  return false;
}

std::string format_ip(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr == nullptr) return {};
  if (addr->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf) == nullptr) return {};
    return buf;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; per-IP
      // policy must count them as the IPv4 address they are.
      if (inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, sizeof buf) == nullptr) return {};
      return buf;
    }
    if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf) == nullptr) return {};
    return buf;
  }
  return {};
}

std::string format_address(const sockaddr* addr) {
  std::string ip = format_ip(addr);
  if (ip.empty()) return "unknown";
  unsigned port = 0;
  if (addr->sa_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  } else {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
  }
  if (ip.find(':') != std::string::npos) ip = "[" + ip + "]";
  return ip + ":" + std::to_string(port);
}

bool is_loopback_ip(std::string_view ip) {
  in_addr v4;
  if (parse_v4(ip, v4)) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (parse_v6(ip, v6)) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace xd::net
