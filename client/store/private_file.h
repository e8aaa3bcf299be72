// File-system helpers shared by the key file and the client database: make
// the directories that hold account secrets owner-only, check that a file
// is not readable by anyone else, and make a rename or link durable. Plain
// POSIX calls with errno results; this unit never reads or writes file
// contents and never follows a policy of its own beyond the mode checks.
#pragma once

#include <string>

namespace xd::client {

// The directory part of |path| ("." when |path| has no slash, "/" for a
// file in the root).
std::string parent_directory(const std::string& path);

// Creates |dir| and any missing parents with mode 0700 (directories that
// already exist are left as they are). Returns 0 or an errno value.
int make_private_directories(const std::string& dir);

// fsync()s the directory |dir| so a file created, linked or renamed in it
// survives a crash. Returns 0 or an errno value.
int sync_directory(const std::string& dir);

// True when the file open as |fd| is a regular file owned by the effective
// user with no group or other permission bits (mode & 077 == 0). |why| gets
// a one-line English reason when it returns false.
bool private_regular_file(int fd, std::string& why);

}  // namespace xd::client
