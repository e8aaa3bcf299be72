#include "client/store/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace xd::client {

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int make_private_directories(const std::string& dir) {
  if (dir.empty() || dir == "." || dir == "/") return 0;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  if (errno != ENOENT) return errno;
  if (const int rc = make_private_directories(parent_directory(dir)); rc != 0) return rc;
  // mkdir applies the umask, which can only remove bits from 0700.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno;
  return 0;
}

int sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int rc = 0;
  if (::fsync(fd) != 0) rc = errno;
  ::close(fd);
  return rc;
}

bool private_regular_file(int fd, std::string& why) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    why = "cannot stat the file";
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
    return false;
  }
  if (st.st_uid != ::geteuid()) {
    why = "the file is owned by another user";
    return false;
  }
  if ((st.st_mode & 077) != 0) {
    char text[96];
    std::snprintf(text, sizeof text,
                  "mode %04o gives group or other access; it must be 0600 (chmod 600)",
                  static_cast<unsigned>(st.st_mode & 07777));
    why = text;
    return false;
  }
  return true;
}

}  // namespace xd::client
