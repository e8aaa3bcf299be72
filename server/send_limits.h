// Per-session send limits against amplification (hostile-inputs.md case
// 51, XEP-0205 §4.8-4.9): how many distinct bare JIDs a session messages in
// a sliding window, and how often its presence is fanned out to its
// contacts. Each holds a small state bounded by its configured limit and
// takes time as an argument; never performs I/O and never reads a clock.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace xd::server {

// The limits, from [limits] in the configuration (server/config.h). Zero
// turns a limit off.
struct SendLimits {
  uint64_t max_recipients_per_minute = 200;
  uint64_t max_presence_broadcasts_per_minute = 30;
};

// The distinct recipients a session sent messages to within the last
// |window_ms|, at most |limit| of them. Memory is 16 bytes per recipient,
// never more than |limit| entries.
class RecipientWindow {
 public:
  // The key of the bare JID |local|@|domain| (a hash: a collision only
  // merges two recipients, which is more lenient, never stricter).
  static uint64_t key(std::string_view local, std::string_view domain);
  // True when a message to the recipient |key| may go at |now_ms|: it was
  // messaged within the window, or fewer than |limit| distinct recipients
  // were. An admitted recipient is recorded (its window starts again); a
  // refused one is not. |limit| 0 admits everything and records nothing.
  bool admit(uint64_t key, uint64_t now_ms, uint64_t limit, uint64_t window_ms = 60000);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t key;
    uint64_t last_ms;
  };
  std::vector<Entry> entries_;
};

// A token bucket of |per_minute| presence broadcasts: a full minute's worth
// at once, then one every 60000 / |per_minute| ms.
class BroadcastBucket {
 public:
  // Takes one broadcast at |now_ms|; false when none is left. |per_minute|
  // 0 always allows.
  bool take(uint64_t now_ms, uint64_t per_minute);
  // Milliseconds from |now_ms| until take() succeeds (0 if it would now).
  uint64_t wait_ms(uint64_t now_ms, uint64_t per_minute);

  // A broadcast was dropped and the session's latest presence is still to
  // be sent when the bucket allows (PresenceManager::flush_deferred).
  bool deferred = false;

 private:
  void refill(uint64_t now_ms, uint64_t per_minute);
  bool started_ = false;
  uint64_t last_ms_ = 0;
  // Available broadcasts in 1/60000 units: one broadcast = 60000, the
  // bucket holds 60000 * |per_minute| and gains |per_minute| per ms.
  uint64_t credit_ = 0;
};

}  // namespace xd::server
