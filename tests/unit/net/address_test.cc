// HOST:PORT parsing and address formatting.
#include "net/address.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace xd::net {
namespace {

TEST_SUITE("net.address") {
  TEST_CASE("accepted spellings") {
    HostPort hp;
    REQUIRE(parse_host_port("127.0.0.1:5222", hp));
    CHECK(hp.host == "127.0.0.1");
    CHECK(hp.port == 5222);
    REQUIRE(parse_host_port("[::1]:0", hp));
    CHECK(hp.host == "::1");
    CHECK(hp.port == 0);
    REQUIRE(parse_host_port("[2001:db8::5]:65535", hp));
    CHECK(hp.host == "2001:db8::5");
    CHECK(hp.port == 65535);
    REQUIRE(parse_host_port("xmpp.example.com:5269", hp));
    CHECK(hp.host == "xmpp.example.com");
    CHECK(hp.port == 5269);
  }

  TEST_CASE("refused spellings") {
    HostPort hp;
    for (const char* bad : {"", ":5222", "host", "host:", "host:65536", "host:-1", "host:+1",
                            "host:52a", "host:123456", "::1:5222", "[::1]", "[::1]5222",
                            "[::1:5222", "[]:5222", "[not-v6]:5222", "[1.2.3.4]:5222", "a:b:c"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_host_port(bad, hp));
    }
  }

  TEST_CASE("IP literals and sockaddr conversion") {
    CHECK(is_ip_literal("10.0.0.1"));
    CHECK(is_ip_literal("fe80::1"));
    CHECK_FALSE(is_ip_literal("localhost"));
    CHECK_FALSE(is_ip_literal("[::1]"));
    CHECK_FALSE(is_ip_literal("1.2.3"));

    sockaddr_storage ss;
    REQUIRE(to_sockaddr(HostPort{"192.0.2.7", 5222}, ss));
    CHECK(format_address(reinterpret_cast<sockaddr*>(&ss)) == "192.0.2.7:5222");
    CHECK(format_ip(reinterpret_cast<sockaddr*>(&ss)) == "192.0.2.7");
    REQUIRE(to_sockaddr(HostPort{"2001:db8::1", 443}, ss));
    CHECK(format_address(reinterpret_cast<sockaddr*>(&ss)) == "[2001:db8::1]:443");
    CHECK_FALSE(to_sockaddr(HostPort{"example.com", 1}, ss));
  }

  TEST_CASE("IPv4-mapped IPv6 peers are shown as IPv4") {
    sockaddr_storage ss;
    REQUIRE(to_sockaddr(HostPort{"::ffff:198.51.100.9", 1234}, ss));
    CHECK(format_ip(reinterpret_cast<sockaddr*>(&ss)) == "198.51.100.9");
    CHECK(format_address(reinterpret_cast<sockaddr*>(&ss)) == "198.51.100.9:1234");
  }

  TEST_CASE("loopback detection") {
    CHECK(is_loopback_ip("127.0.0.1"));
    CHECK(is_loopback_ip("127.255.0.3"));
    CHECK(is_loopback_ip("::1"));
    CHECK(is_loopback_ip("::ffff:127.0.0.1"));
    CHECK_FALSE(is_loopback_ip("128.0.0.1"));
    CHECK_FALSE(is_loopback_ip("::2"));
    CHECK_FALSE(is_loopback_ip("localhost"));
    CHECK_FALSE(is_loopback_ip(""));
  }
}

}  // namespace
}  // namespace xd::net
