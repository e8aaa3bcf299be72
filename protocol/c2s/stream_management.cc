#include "protocol/c2s/stream_management.h"

namespace xd::protocol {

StreamManagement::AckResult StreamManagement::ack(uint32_t h, std::vector<uint64_t>& tags) {
  // XEP-0198 §4: arithmetic modulo 2^32, so h may wrap past 0.
  const uint32_t delta = h - acked_;
  if (delta > unacked_.size()) {
    // A small step backwards is a counter going back; anything else claims
    // stanzas that were never sent.
    const uint32_t back = acked_ - h;
    return back < (uint32_t{1} << 31) ? AckResult::kBehind : AckResult::kTooHigh;
  }
  for (uint32_t i = 0; i < delta; ++i) {
    if (unacked_.front().tag != 0) tags.push_back(unacked_.front().tag);
    unacked_.pop_front();
  }
  acked_ = h;
  return AckResult::kOk;
}

bool parse_sm_counter(std::string_view text, uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace xd::protocol
