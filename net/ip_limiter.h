// IpLimiter: per-source-address admission policy for unauthenticated
// connections (XEP-0205 §4.1-4.2, hostile-inputs.md catalogue 56 and 59): a
// cap on concurrent connections and a token-bucket cap on the connect rate
// per IP, with loopback exempt by default. The server calls admit() from its
// accept callback and release() when that connection authenticates or
// closes. Pure bookkeeping: never performs I/O and never reads a clock (the
// time is an argument).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace xd::net {

struct IpLimiterOptions {
  // Unauthenticated connections open at once per IP; 0 = no cap.
  std::uint32_t max_concurrent_per_ip = 16;
  // New connections per IP: |connect_burst| at once, refilled at
  // |connects_per_second|. 0 per second = no rate cap.
  double connects_per_second = 5;
  double connect_burst = 20;
  // Loopback peers (127.0.0.0/8, ::1) are never limited.
  bool exempt_loopback = true;
  // Distinct addresses tracked at most; when full and nothing idle can be
  // forgotten, new addresses are refused (the global connection cap is the
  // server's).
  std::size_t max_tracked = 100'000;
};

class IpLimiter {
 public:
  enum class Verdict { kAdmit, kTooManyConcurrent, kTooFast, kTableFull };

  explicit IpLimiter(const IpLimiterOptions& options = {}) : options_(options) {}

  // Decides whether a new connection from |ip| (format_ip() text) may stay.
  // On kAdmit it counts the connection, and the caller must later call
  // release(ip) exactly once. Other verdicts count nothing.
  Verdict admit(std::string_view ip, std::uint64_t now_ms);
  // Ends the count of one admitted connection from |ip|.
  void release(std::string_view ip);
  // Open connections currently counted for |ip| (0 for exempt addresses).
  std::uint32_t concurrent(std::string_view ip) const;
  // Addresses with state (for tests and metrics).
  std::size_t tracked() const { return entries_.size(); }

  // The accounting key of |ip|: the address itself for IPv4, its /64 prefix
  // for IPv6 (one subscriber usually holds a whole /64), "" if unparsable.
  static std::string key_for(std::string_view ip);

 private:
  struct Entry {
    std::uint32_t concurrent = 0;
    double tokens = 0;
    std::uint64_t at_ms = 0;
  };
  void refill(Entry& e, std::uint64_t now_ms) const;
  void prune(std::uint64_t now_ms);
  bool exempt(std::string_view ip) const;

  IpLimiterOptions options_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t last_prune_ms_ = 0;
  bool pruned_once_ = false;
};

}  // namespace xd::net
