// The `xmpp` CLI's commands: each runs one ChatClient (or only the local
// store) on its own NetLoop and returns the process exit code. Output goes
// to stdout, one line per event, as text for people or as one JSON object
// per line with --json; errors go to stderr as one line. Exit codes:
// 0 success, 1 usage or local error, 2 cannot log in (unreachable server,
// untrusted certificate, wrong password), 3 the server did not acknowledge
// in time, 4 the message was refused (no keys without --plaintext, bounce).
#pragma once

#include <string>

#include "client/cli/account_config.h"

namespace xd::client {

struct CommandOptions {
  AccountConfig account;
  std::string account_file;  // where register writes the account
  bool json = false;
  unsigned timeout_s = 20;
  // chat: seconds to stay after the input ended and everything was
  // acknowledged, to show receipts and read markers.
  double linger_s = 0;
};

int run_register(const CommandOptions& options, bool save_account);
int run_send(const CommandOptions& options, const std::string& peer, const std::string& text,
             bool plaintext);
int run_chat(const CommandOptions& options, const std::string& peer, bool plaintext);
// |count| > 0: exit after that many messages; |catch_up|: exit once the
// offline backlog is in.
int run_listen(const CommandOptions& options, unsigned count, bool catch_up);
int run_history(const CommandOptions& options, const std::string& peer, int limit);
int run_contacts(const CommandOptions& options, const std::string& action, const std::string& jid,
                 const std::string& name);
int run_whoami(const CommandOptions& options);

}  // namespace xd::client
