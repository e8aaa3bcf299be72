// IpLimiter: concurrency and rate caps per IP, IPv6 /64 grouping, loopback
// exemption and the bounded table.
#include "net/ip_limiter.h"

#include <doctest/doctest.h>

#include <string>

namespace xd::net {
namespace {

using V = IpLimiter::Verdict;

TEST_SUITE("net.ip_limiter") {
  TEST_CASE("concurrent connections per IP are capped and released") {
    IpLimiterOptions o;
    o.max_concurrent_per_ip = 2;
    o.connects_per_second = 0;  // rate cap off
    IpLimiter l(o);
    CHECK(l.admit("203.0.113.1", 0) == V::kAdmit);
    CHECK(l.admit("203.0.113.1", 0) == V::kAdmit);
    CHECK(l.admit("203.0.113.1", 0) == V::kTooManyConcurrent);
    CHECK(l.admit("203.0.113.2", 0) == V::kAdmit);  // other IPs unaffected
    CHECK(l.concurrent("203.0.113.1") == 2);
    l.release("203.0.113.1");
    CHECK(l.admit("203.0.113.1", 0) == V::kAdmit);
    l.release("198.51.100.1");  // unknown: ignored
  }

  TEST_CASE("the connect rate is a token bucket") {
    IpLimiterOptions o;
    o.max_concurrent_per_ip = 0;
    o.connects_per_second = 2;
    o.connect_burst = 3;
    IpLimiter l(o);
    for (int i = 0; i < 3; ++i) CHECK(l.admit("203.0.113.9", 1000) == V::kAdmit);
    CHECK(l.admit("203.0.113.9", 1000) == V::kTooFast);
    CHECK(l.admit("203.0.113.9", 1499) == V::kTooFast);
    CHECK(l.admit("203.0.113.9", 1500) == V::kAdmit);  // one token per 500 ms
    CHECK(l.admit("203.0.113.9", 1500) == V::kTooFast);
    CHECK(l.admit("203.0.113.9", 100000) == V::kAdmit);
  }

  TEST_CASE("IPv6 addresses count per /64") {
    IpLimiterOptions o;
    o.max_concurrent_per_ip = 1;
    o.connects_per_second = 0;
    IpLimiter l(o);
    CHECK(IpLimiter::key_for("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64");
    CHECK(l.admit("2001:db8:1:2::1", 0) == V::kAdmit);
    CHECK(l.admit("2001:db8:1:2:ffff::7", 0) == V::kTooManyConcurrent);
    CHECK(l.admit("2001:db8:1:3::1", 0) == V::kAdmit);
    CHECK(IpLimiter::key_for("not an ip").empty());
  }

  TEST_CASE("loopback is exempt by default, not when configured otherwise") {
    IpLimiterOptions o;
    o.max_concurrent_per_ip = 1;
    IpLimiter exempt(o);
    for (int i = 0; i < 100; ++i) CHECK(exempt.admit("127.0.0.1", 0) == V::kAdmit);
    CHECK(exempt.admit("::1", 0) == V::kAdmit);
    CHECK(exempt.tracked() == 0);
    o.exempt_loopback = false;
    IpLimiter strict(o);
    CHECK(strict.admit("127.0.0.1", 0) == V::kAdmit);
    CHECK(strict.admit("127.0.0.1", 0) == V::kTooManyConcurrent);
  }

  TEST_CASE("the table is bounded and forgets idle addresses") {
    IpLimiterOptions o;
    o.max_tracked = 4;
    o.connects_per_second = 1;
    o.connect_burst = 1;
    IpLimiter l(o);
    for (int i = 0; i < 4; ++i) {
      const std::string ip = "192.0.2." + std::to_string(i);
      REQUIRE(l.admit(ip, 0) == V::kAdmit);
      l.release(ip);
    }
    CHECK(l.tracked() == 4);
    // Full, and every bucket is still empty at t=0: nothing can be forgotten.
    CHECK(l.admit("192.0.2.200", 0) == V::kTableFull);
    // Two seconds later the idle entries have full buckets and are pruned.
    CHECK(l.admit("192.0.2.200", 2000) == V::kAdmit);
    CHECK(l.tracked() == 1);
  }
}

}  // namespace
}  // namespace xd::net
