/* An LD_PRELOAD fault injector for hostile-inputs.md catalogue 71 (fsync
 * EIO): while the file named by XD_FAIL_FSYNC_TRIGGER exists, fsync() and
 * fdatasync() fail with EIO without syncing; otherwise they pass through.
 * The trigger is a file so a test can arm it after the server started (the
 * server syncs its secret file at startup). Test tool only. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int armed(void) {
  const char* path = getenv("XD_FAIL_FSYNC_TRIGGER");
  return path && *path && access(path, F_OK) == 0;
}

int fdatasync(int fd) {
  if (armed()) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  return real ? real(fd) : -1;
}

int fsync(int fd) {
  if (armed()) {
    errno = EIO;
    return -1;
  }
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  return real ? real(fd) : -1;
}
