// IpLimiter: per-IP concurrency and connect-rate caps.
#include "net/ip_limiter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "net/address.h"

namespace xd::net {
namespace {

// A full table is scanned for idle entries at most this often, so a flood of
// distinct addresses costs O(1) per connection on average.
constexpr std::uint64_t kPruneIntervalMs = 1000;

}  // namespace

std::string IpLimiter::key_for(std::string_view ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ip.empty() || ip.size() >= sizeof buf) return {};
  std::memcpy(buf, ip.data(), ip.size());
  in_addr v4;
  if (inet_pton(AF_INET, buf, &v4) == 1) return std::string(ip);
  in6_addr v6;
  if (inet_pton(AF_INET6, buf, &v6) != 1) return {};
  std::memset(&v6.s6_addr[8], 0, 8);  // keep the /64 prefix
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &v6, out, sizeof out) == nullptr) return {};
  return std::string(out) + "/64";
}

bool IpLimiter::exempt(std::string_view ip) const {
  return options_.exempt_loopback && is_loopback_ip(ip);
}

void IpLimiter::refill(Entry& e, std::uint64_t now_ms) const {
  if (now_ms > e.at_ms) {
    e.tokens = std::min(
        options_.connect_burst,
        e.tokens + options_.connects_per_second * static_cast<double>(now_ms - e.at_ms) / 1000.0);
  }
  e.at_ms = std::max(e.at_ms, now_ms);
}

void IpLimiter::prune(std::uint64_t now_ms) {
  if (pruned_once_ && now_ms - last_prune_ms_ < kPruneIntervalMs) return;
  pruned_once_ = true;
  last_prune_ms_ = now_ms;
  for (auto it = entries_.begin(); it != entries_.end();) {
    refill(it->second, now_ms);
    // Forgetting an address with no open connection and a full bucket loses
    // nothing: a new entry would start in exactly that state.
    if (it->second.concurrent == 0 && it->second.tokens >= options_.connect_burst) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

IpLimiter::Verdict IpLimiter::admit(std::string_view ip, std::uint64_t now_ms) {
  if (exempt(ip)) return Verdict::kAdmit;
  std::string key = key_for(ip);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= options_.max_tracked) prune(now_ms);
    if (entries_.size() >= options_.max_tracked) return Verdict::kTableFull;
    Entry fresh;
    fresh.tokens = options_.connect_burst;
    fresh.at_ms = now_ms;
    it = entries_.emplace(std::move(key), fresh).first;
  }
  Entry& e = it->second;
  if (options_.max_concurrent_per_ip > 0 && e.concurrent >= options_.max_concurrent_per_ip) {
    return Verdict::kTooManyConcurrent;
  }
  if (options_.connects_per_second > 0) {
    refill(e, now_ms);
    if (e.tokens < 1) return Verdict::kTooFast;
    e.tokens -= 1;
  }
  ++e.concurrent;
  return Verdict::kAdmit;
}

void IpLimiter::release(std::string_view ip) {
  if (exempt(ip)) return;
  auto it = entries_.find(key_for(ip));
  if (it == entries_.end() || it->second.concurrent == 0) return;
  --it->second.concurrent;
}

std::uint32_t IpLimiter::concurrent(std::string_view ip) const {
  if (exempt(ip)) return 0;
  auto it = entries_.find(key_for(ip));
  return it == entries_.end() ? 0 : it->second.concurrent;
}

}  // namespace xd::net
