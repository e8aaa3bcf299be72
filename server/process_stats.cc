#include "server/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace xd::server {
namespace {

// The whole of a small procfs file, or "" when it cannot be read.
std::string read_small_file(const char* path) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > 64 * 1024) break;  // procfs stat files are far smaller
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  ::close(fd);
  return out;
}

// The |index|-th (0-based) space-separated field of |line|.
std::string_view field(std::string_view line, size_t index) {
  size_t pos = 0;
  for (size_t i = 0; i <= index; ++i) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const size_t end = line.find(' ', pos);
    if (i == index) return line.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (end == std::string_view::npos) return {};
    pos = end;
  }
  return {};
}

bool to_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// Seconds since the epoch at which the machine booted (/proc/stat btime).
bool boot_time(uint64_t& out) {
  const std::string stat = read_small_file("/proc/stat");
  const size_t at = stat.find("\nbtime ");
  if (at == std::string::npos) return false;
  const size_t begin = at + 7;
  const size_t end = stat.find('\n', begin);
  return to_u64(std::string_view(stat).substr(begin, end - begin), out);
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats p;
  const long page = ::sysconf(_SC_PAGESIZE);
  const long ticks = ::sysconf(_SC_CLK_TCK);

  // statm: size resident shared text lib data dt, in pages.
  const std::string statm = read_small_file("/proc/self/statm");
  uint64_t resident = 0;
  if (page > 0 && to_u64(field(statm, 1), resident)) {
    p.resident_bytes = resident * static_cast<uint64_t>(page);
  }

  // stat: the command name is in parentheses and may hold spaces, so the
  // fields are counted after the last ')': state is field 3 (index 0
  // there), utime 14, stime 15, starttime 22 (proc(5)).
  const std::string stat = read_small_file("/proc/self/stat");
  const size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && ticks > 0) {
    const std::string_view rest = std::string_view(stat).substr(paren + 2);
    uint64_t utime = 0, stime = 0, start = 0, btime = 0;
    if (to_u64(field(rest, 11), utime) && to_u64(field(rest, 12), stime)) {
      p.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
    }
    if (to_u64(field(rest, 19), start) && boot_time(btime)) {
      p.start_time_seconds =
          static_cast<double>(btime) + static_cast<double>(start) / static_cast<double>(ticks);
    }
  }

  // Descriptors: the entries of /proc/self/fd, without the one this read
  // itself holds open.
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    uint64_t n = 0;
    while (const dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      if (std::atoi(e->d_name) == own) continue;
      ++n;
    }
    ::closedir(dir);
    p.open_fds = n;
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    p.max_fds = static_cast<uint64_t>(lim.rlim_cur);
  }
  return p;
}

}  // namespace xd::server
