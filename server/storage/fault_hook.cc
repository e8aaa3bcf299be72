#include "server/storage/fault_hook.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace xd::server {
namespace {

struct FaultSpec {
  bool armed = false;
  std::string point;
  long remaining = 1;
};

FaultSpec& spec() {
  static FaultSpec s = [] {
    FaultSpec f;
    const char* env = std::getenv("XMPPD_CRASH_AT");
    if (!env || !*env) return f;
    std::string v(env);
    if (size_t colon = v.find(':'); colon != std::string::npos) {
      long n = std::strtol(v.c_str() + colon + 1, nullptr, 10);
      f.remaining = n > 0 ? n : 1;
      v.resize(colon);
    }
    f.point = v;
    f.armed = true;
    return f;
  }();
  return s;
}

}  // namespace

void fault_point(std::string_view point) {
  FaultSpec& f = spec();
  if (!f.armed || point != f.point) return;
  if (--f.remaining > 0) return;
  // SIGKILL, as kill -9 from outside: no handler, no flush, no atexit.
  kill(getpid(), SIGKILL);
  _exit(137);
}

}  // namespace xd::server
