#include "server/send_limits.h"

#include <algorithm>
#include <functional>

namespace xd::server {

uint64_t RecipientWindow::key(std::string_view local, std::string_view domain) {
  const uint64_t l = std::hash<std::string_view>{}(local);
  const uint64_t d = std::hash<std::string_view>{}(domain);
  return l * 0x9e3779b97f4a7c15ULL ^ d;
}

bool RecipientWindow::admit(uint64_t h, uint64_t now_ms, uint64_t limit, uint64_t window_ms) {
  if (limit == 0) return true;
  std::erase_if(entries_, [&](const Entry& e) { return now_ms - e.last_ms >= window_ms; });
  for (Entry& e : entries_) {
    if (e.key == h) {
      e.last_ms = now_ms;
      return true;
    }
  }
  if (entries_.size() >= limit) return false;
  entries_.push_back(Entry{h, now_ms});
  return true;
}

namespace {
constexpr uint64_t kUnit = 60000;  // credit of one broadcast
}  // namespace

void BroadcastBucket::refill(uint64_t now_ms, uint64_t per_minute) {
  const uint64_t cap = kUnit * per_minute;
  if (!started_) {
    started_ = true;
    credit_ = cap;
  } else {
    const uint64_t gained = now_ms > last_ms_ ? (now_ms - last_ms_) * per_minute : 0;
    credit_ = std::min(cap, credit_ + gained);
  }
  last_ms_ = std::max(last_ms_, now_ms);
}

bool BroadcastBucket::take(uint64_t now_ms, uint64_t per_minute) {
  if (per_minute == 0) return true;
  refill(now_ms, per_minute);
  if (credit_ < kUnit) return false;
  credit_ -= kUnit;
  return true;
}

uint64_t BroadcastBucket::wait_ms(uint64_t now_ms, uint64_t per_minute) {
  if (per_minute == 0) return 0;
  refill(now_ms, per_minute);
  if (credit_ >= kUnit) return 0;
  return (kUnit - credit_ + per_minute - 1) / per_minute;
}

}  // namespace xd::server
