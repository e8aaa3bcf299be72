// Leveled, line-oriented logging for xmppd: one line per event on stderr,
// with a UTC timestamp. Message bodies and credentials are never logged;
// callers pass identifiers (JIDs, addresses, conditions) only.
#pragma once

#include <cstdarg>
#include <string_view>

namespace xd::server {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Parses "debug", "info", "warn", "error" or "off"; false for anything else.
bool parse_log_level(std::string_view name, LogLevel& out);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

// printf-style; a trailing newline is added.
void log_line(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define XD_LOG(level, ...)                                                            \
  do {                                                                                \
    if (::xd::server::log_enabled(level)) ::xd::server::log_line(level, __VA_ARGS__); \
  } while (0)
#define XD_DEBUG(...) XD_LOG(::xd::server::LogLevel::kDebug, __VA_ARGS__)
#define XD_INFO(...) XD_LOG(::xd::server::LogLevel::kInfo, __VA_ARGS__)
#define XD_WARN(...) XD_LOG(::xd::server::LogLevel::kWarn, __VA_ARGS__)
#define XD_ERROR(...) XD_LOG(::xd::server::LogLevel::kError, __VA_ARGS__)

}  // namespace xd::server
