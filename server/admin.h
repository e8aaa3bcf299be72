// `xmppd user add|del|passwd|list`: account administration on the same
// LMDB store the server uses. LMDB is multi-process safe, so this works
// while the server runs; it never holds a write transaction for longer
// than one command.
#pragma once

#include <string>

#include "server/config.h"

namespace xd::server {

struct AdminCommand {
  enum class Kind { kAdd, kDel, kPasswd, kList };
  Kind kind = Kind::kList;
  std::string username;
  std::string password;
  bool password_given = false;
};

// Runs |cmd| against config.data_dir. Returns the process exit code and
// prints the outcome (never a password).
int run_admin(const ServerConfig& config, const AdminCommand& cmd);

}  // namespace xd::server
