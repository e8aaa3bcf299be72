// The crash-test fault hook (spec/delivery.md §6, hostile-inputs.md "Crash
// test protocol"): XMPPD_CRASH_AT=POINT[:N] makes the process kill itself
// with SIGKILL the N-th time it reaches POINT, so the crash test can stop
// the server exactly between two durability steps. Without the variable
// every call is one branch on a cached flag. Never used for anything else.
#pragma once

#include <string_view>

namespace xd::server {

// Reaching |point|: dies there if XMPPD_CRASH_AT names it and its count is
// reached. Reads the environment once, on the first call.
void fault_point(std::string_view point);

}  // namespace xd::server
