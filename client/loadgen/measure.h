// Small measuring helpers shared by the xd-loadgen runners: a monotonic
// nanosecond clock, process CPU time and percentiles. Reads clocks; never
// touches the loop.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xd::client {

// Monotonic nanoseconds; senders and receivers share the process, so
// timestamps carried in bodies are directly comparable.
inline std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline double seconds_between(std::uint64_t from_ns, std::uint64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e9;
}

// User plus system CPU time of this process in microseconds.
inline std::uint64_t process_cpu_us() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000ull +
           static_cast<std::uint64_t>(tv.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// The |p| quantile (0..1) of |values| in microseconds, 0 when empty.
// Reorders |values|.
inline double percentile_us(std::vector<std::uint64_t>& values, double p) {
  if (values.empty()) return 0;
  const std::size_t k = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return static_cast<double>(values[k]) / 1e3;
}

}  // namespace xd::client
