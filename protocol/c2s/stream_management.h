// XEP-0198 stream management state of one stream, server side: the count
// of stanzas received from the client, and the stanzas sent to it that it
// has not acknowledged yet, each with the owner's tag (for the server, the
// queue sequence number of a durable stanza, 0 for anything else) and its
// serialized bytes so they can be sent again on resumption. Counters are
// modulo 2^32 (XEP-0198 §4). Pure data and arithmetic: no I/O, no clock.
// Movable as a whole, because a resumed stream takes it over from the
// stream (or hibernated session) it replaces.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xd::protocol {

inline constexpr std::string_view kSmNs = "urn:xmpp:sm:3";

class StreamManagement {
 public:
  struct Sent {
    uint64_t tag = 0;
    std::string xml;       // the bytes as written: XML, or a compact frame
    bool compact = false;  // |xml| is a compact frame (spec/compact.md §4)
  };
  enum class AckResult {
    kOk,
    // More acknowledged than was ever sent (XEP-0198 §4
    // <handled-count-too-high/>).
    kTooHigh,
    // Less than an earlier ack: a counter going backwards.
    kBehind,
  };

  StreamManagement() = default;
  // Starts counting at |base| sent-and-acknowledged stanzas (resumption of
  // a stream whose unacknowledged stanzas are not known, e.g. after a
  // server restart: the client's h is taken as the base).
  explicit StreamManagement(uint32_t base) : sent_(base), acked_(base) {}

  // A stanza was sent (or, while detached, would have been).
  void record(uint64_t tag, std::string xml, bool compact = false) {
    ++sent_;
    unacked_.push_back(Sent{tag, std::move(xml), compact});
  }

  // The client acknowledged |h| stanzas in total. On kOk appends the tags
  // (non-zero only) of the newly acknowledged stanzas to |tags| and drops
  // them; otherwise changes nothing.
  AckResult ack(uint32_t h, std::vector<uint64_t>& tags);

  // A stanza from the client was received; returns its number (1-based,
  // modulo 2^32), which is what h becomes once it is handled.
  uint32_t count_inbound() { return ++inbound_; }
  uint32_t inbound() const { return inbound_; }
  void set_inbound(uint32_t n) { inbound_ = n; }

  uint32_t sent() const { return sent_; }
  uint32_t acked() const { return acked_; }
  size_t unacked_count() const { return unacked_.size(); }
  const std::deque<Sent>& unacked() const { return unacked_; }
  // Removes and returns the unacknowledged stanzas (the stream ended for
  // good and the owner re-queues them).
  std::deque<Sent> take_unacked() { return std::exchange(unacked_, {}); }

  // The resumption id handed out in <enabled/>, empty when not resumable.
  const std::string& id() const { return id_; }
  void set_id(std::string id) { id_ = std::move(id); }

 private:
  uint32_t sent_ = 0;
  uint32_t acked_ = 0;
  uint32_t inbound_ = 0;
  std::string id_;
  std::deque<Sent> unacked_;
};

// Parses the decimal h attribute of <a/>, <resumed/> or <resume/>
// (xs:unsignedInt). False for anything else (empty, sign, > 2^32-1).
bool parse_sm_counter(std::string_view text, uint32_t& out);

}  // namespace xd::protocol
