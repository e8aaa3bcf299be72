// server/process_stats.h against this very process: the values exist on
// Linux, and they follow what the test does (one more descriptor open is
// one more counted, touched memory is resident).
#include "server/process_stats.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <memory>

using namespace xd::server;

TEST_SUITE("server.process_stats") {
  TEST_CASE("open descriptors are counted exactly") {
    const ProcessStats before = read_process_stats();
    REQUIRE(before.open_fds.has_value());
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const ProcessStats during = read_process_stats();
    ::close(fd);
    const ProcessStats after = read_process_stats();
    REQUIRE(during.open_fds.has_value());
    REQUIRE(after.open_fds.has_value());
    CHECK(*during.open_fds == *before.open_fds + 1);
    CHECK(*after.open_fds == *before.open_fds);
  }

  TEST_CASE("the descriptor limit is getrlimit's") {
    rlimit lim{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    const ProcessStats p = read_process_stats();
    if (lim.rlim_cur == RLIM_INFINITY) {
      CHECK_FALSE(p.max_fds.has_value());
    } else {
      REQUIRE(p.max_fds.has_value());
      CHECK(*p.max_fds == lim.rlim_cur);
    }
  }

  TEST_CASE("resident memory, CPU time and start time are read") {
    // Touch 8 MiB so it is certainly resident.
    constexpr size_t kBytes = 8 << 20;
    std::unique_ptr<char[]> block(new char[kBytes]);
    std::memset(block.get(), 1, kBytes);
    const ProcessStats p = read_process_stats();
    REQUIRE(p.resident_bytes.has_value());
    CHECK(*p.resident_bytes >= kBytes);
    REQUIRE(p.cpu_seconds.has_value());
    CHECK(*p.cpu_seconds >= 0.0);
    REQUIRE(p.start_time_seconds.has_value());
    // This process started before now.
    CHECK(*p.start_time_seconds <= static_cast<double>(std::time(nullptr)) + 1);
    CHECK(*p.start_time_seconds > 1e9);  // after 2001: a time since the epoch
    CHECK(block[kBytes - 1] == 1);
  }
}
