// Units of server/server.h that need no running server: the per-IP hourly
// counter behind the failed-login throttle (hostile-inputs.md catalogue
// E37, ejabberd mod_fail2ban) and the registration limit, with the time
// injected (no sleeping), and the loopback test behind the exemption.
#include "server/server.h"

#include <doctest/doctest.h>

#include <string>

using namespace xd::server;

namespace {

constexpr uint64_t kMinute = 60 * 1000;
constexpr uint64_t kHour = 60 * kMinute;
constexpr uint64_t kT0 = 5'000'000'000;  // any loop time

// |n| events for |ip| at |at|.
void add_n(HourlyIpCounter& c, const std::string& ip, int n, uint64_t at) {
  for (int i = 0; i < n; ++i) c.add(ip, at);
}

}  // namespace

TEST_CASE("E37: HourlyIpCounter refuses an address at its limit, others are unaffected") {
  HourlyIpCounter c(3, /*exempt_loopback=*/true);
  const std::string ip = "192.0.2.7";
  CHECK(c.allowed(ip, kT0));
  add_n(c, ip, 2, kT0);
  CHECK(c.allowed(ip, kT0 + 1));  // 2 of 3
  c.add(ip, kT0 + 2);
  CHECK_FALSE(c.allowed(ip, kT0 + 3));  // 3 of 3
  CHECK_FALSE(c.allowed(ip, kT0 + 30 * kMinute));
  // allowed() counts nothing: asking again changes no answer.
  CHECK_FALSE(c.allowed(ip, kT0 + 30 * kMinute));
  CHECK(c.allowed("192.0.2.8", kT0 + 3));
  CHECK(c.allowed("2001:db8::1", kT0 + 3));
  CHECK(c.tracked_for_test() == 1);
}

TEST_CASE("E37: HourlyIpCounter forgets an hour after the last event, not the first") {
  HourlyIpCounter c(3, false);
  const std::string ip = "198.51.100.1";
  c.add(ip, kT0);
  add_n(c, ip, 2, kT0 + 59 * kMinute);  // the limit, reached late in the hour
  CHECK_FALSE(c.allowed(ip, kT0 + 59 * kMinute));
  // An hour after the first failure the count must not start over: that
  // would let 2 x limit failures through within minutes.
  CHECK_FALSE(c.allowed(ip, kT0 + kHour));
  CHECK_FALSE(c.allowed(ip, kT0 + 61 * kMinute));
  CHECK_FALSE(c.allowed(ip, kT0 + 59 * kMinute + kHour - 1));
  // An hour of quiet: the address starts clean.
  CHECK(c.allowed(ip, kT0 + 59 * kMinute + kHour));
  CHECK(c.tracked_for_test() == 0);  // the expired entry is gone
  add_n(c, ip, 2, kT0 + 2 * kHour);
  CHECK(c.allowed(ip, kT0 + 2 * kHour));  // 2 of 3 again, not 5
  c.add(ip, kT0 + 2 * kHour);
  CHECK_FALSE(c.allowed(ip, kT0 + 2 * kHour + 1));
}

TEST_CASE("E37: HourlyIpCounter under the limit restarts its count after an hour of quiet") {
  HourlyIpCounter c(3, false);
  const std::string ip = "203.0.113.9";
  add_n(c, ip, 2, kT0);
  // One more just inside the hour: 3 within 60 minutes, refused.
  c.add(ip, kT0 + kHour - 1);
  CHECK_FALSE(c.allowed(ip, kT0 + kHour));
  HourlyIpCounter d(3, false);
  add_n(d, ip, 2, kT0);
  // One more an hour later: the two old ones no longer count.
  d.add(ip, kT0 + kHour);
  CHECK(d.allowed(ip, kT0 + kHour));
  d.add(ip, kT0 + kHour);
  CHECK(d.allowed(ip, kT0 + kHour));
  d.add(ip, kT0 + kHour);
  CHECK_FALSE(d.allowed(ip, kT0 + kHour));
}

TEST_CASE("E37: HourlyIpCounter's loopback exemption") {
  for (bool exempt : {true, false}) {
    CAPTURE(exempt);
    HourlyIpCounter c(1, exempt);
    for (const char* ip : {"127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"}) {
      CAPTURE(ip);
      c.add(ip, kT0);
      CHECK(c.allowed(ip, kT0) == exempt);
    }
    CHECK(c.tracked_for_test() == (exempt ? 0 : 4));
    // Never exempt, whatever the setting.
    c.add("10.0.0.1", kT0);
    CHECK_FALSE(c.allowed("10.0.0.1", kT0));
  }
}

TEST_CASE("is_loopback_ip: 127.0.0.0/8, ::1 and their mapped form only") {
  for (const char* ip : {"127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"}) {
    CAPTURE(ip);
    CHECK(is_loopback_ip(ip));
  }
  for (const char* ip : {"128.0.0.1", "10.127.0.1", "::2", "::ffff:10.0.0.1", "", "1.127.0.0"}) {
    CAPTURE(ip);
    CHECK_FALSE(is_loopback_ip(ip));
  }
}
