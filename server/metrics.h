// The metrics registry: the counters xmppd's hot paths bump, and the
// rendering of those counters plus the values sampled at scrape time as
// Prometheus text exposition format 0.0.4. Counting is a plain uint64_t
// increment on the loop thread into a fixed array indexed by an enum, so a
// stanza never costs a map lookup or a string; every string is built by
// render_metrics() when a scraper asks. It never performs I/O, never reads
// a clock and never throws (the endpoint and /proc reading live in
// metrics_endpoint.h and process_stats.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/stanza_error.h"
#include "protocol/stream_error.h"

namespace xd::server {

// How a client connection is carried: the label `transport`. A STARTTLS
// connection is counted as plain until its handshake completed; a stream
// that switched to the compact dialect (spec/compact.md §3) counts as
// compact whichever port it came in on.
enum class C2sTransport : uint8_t { kPlain, kStartTls, kDirectTls, kCompact };
inline constexpr size_t kC2sTransports = 4;

// Why a connection was refused at accept (XEP-0205 §4.1-4.2, catalogue I56,
// I59, I60): the label `reason`.
enum class RefusalReason : uint8_t {
  kGlobalCap,        // max_unauthenticated connections in total
  kPerIpConcurrent,  // max_unauthenticated_per_ip
  kPerIpRate,        // connects_per_ip_second / connect_burst_per_ip
  kIpTableFull,      // the per-IP table is full
  kFdExhausted,      // out of descriptors: accepted and shed by the listener
};
inline constexpr size_t kRefusalReasons = 5;

// The SASL mechanisms xmppd offers, plus a catch-all: the label `mechanism`.
enum class SaslMechanism : uint8_t {
  kPlain,
  kScramSha1,
  kScramSha1Plus,
  kScramSha256,
  kScramSha256Plus,
  kOther,
};
inline constexpr size_t kSaslMechanisms = 6;
// The mechanism named |name| (its IANA name), kOther for anything else.
SaslMechanism sasl_mechanism_from_name(std::string_view name);

// RFC 6120 §8 stanza kinds: the label `kind`.
enum class StanzaKind : uint8_t { kMessage, kPresence, kIq };
inline constexpr size_t kStanzaKinds = 3;
// The kind of a stanza element named |name| in jabber:client, or nullopt.
std::optional<StanzaKind> stanza_kind(std::string_view name);

// Why a storable message was not queued (spec/delivery.md §1.4, §2.2): the
// label `reason`.
enum class NotStoredReason : uint8_t { kDuplicate, kQuota, kStorageFull, kStorageError };
inline constexpr size_t kNotStoredReasons = 4;

inline constexpr size_t kStreamConditions =
    static_cast<size_t>(static_cast<int>(protocol::StreamCondition::kLast_) -
                        static_cast<int>(protocol::StreamCondition::kFirst_) - 1);
inline constexpr size_t kStanzaConditions =
    static_cast<size_t>(static_cast<int>(protocol::StanzaCondition::kLast_) -
                        static_cast<int>(protocol::StanzaCondition::kFirst_) - 1);

// A Prometheus histogram of durations with fixed buckets (seconds), kept as
// per-bucket counts and a sum in nanoseconds so no rounding accumulates; the
// cumulative `le` series are formed at render time.
class LatencyHistogram {
 public:
  struct Bucket {
    uint64_t le_ns;
    const char* le;  // the `le` label, the same bound in seconds
  };
  // From 100 µs (an fsync on fast flash) to 10 s (a disk in trouble).
  static constexpr std::array<Bucket, 16> kBuckets = {{
      {100'000, "0.0001"},
      {250'000, "0.00025"},
      {500'000, "0.0005"},
      {1'000'000, "0.001"},
      {2'500'000, "0.0025"},
      {5'000'000, "0.005"},
      {10'000'000, "0.01"},
      {25'000'000, "0.025"},
      {50'000'000, "0.05"},
      {100'000'000, "0.1"},
      {250'000'000, "0.25"},
      {500'000'000, "0.5"},
      {1'000'000'000, "1"},
      {2'500'000'000, "2.5"},
      {5'000'000'000, "5"},
      {10'000'000'000, "10"},
  }};

  // Records one observation of |ns| nanoseconds: it falls in the first
  // bucket whose bound is >= |ns| (Prometheus `le` is inclusive), or past
  // the last one (+Inf only).
  void observe_ns(uint64_t ns);
  uint64_t count() const { return count_; }
  uint64_t sum_ns() const { return sum_ns_; }
  // Observations in bucket |i| alone (not cumulative); i == kBuckets.size()
  // is the overflow above the last bound.
  uint64_t in_bucket(size_t i) const { return counts_[i]; }

 private:
  std::array<uint64_t, kBuckets.size() + 1> counts_{};
  uint64_t sum_ns_ = 0;
  uint64_t count_ = 0;
};

// The counters. One instance per server, bumped on the loop thread only
// (the server is single-threaded per loop), so plain integers suffice.
// Counters only ever grow; gauges are not kept here but sampled at scrape
// time (MetricsSnapshot), so they can never drift.
struct Metrics {
  // Connections handed to a c2s session / refused at accept.
  uint64_t connections_accepted = 0;
  std::array<uint64_t, kRefusalReasons> connections_refused{};
  // SASL successes by mechanism; failed exchanges (wrong password, unknown
  // user, malformed message; refusals by the per-IP throttle are not
  // exchanges and are counted apart).
  std::array<uint64_t, kSaslMechanisms> logins{};
  uint64_t login_failures = 0;
  uint64_t logins_throttled = 0;
  // Stanzas from bound clients handed to the router / written to clients.
  std::array<uint64_t, kStanzaKinds> stanzas_in{};
  std::array<uint64_t, kStanzaKinds> stanzas_out{};
  // The durable queue (spec/delivery.md): messages committed, of which no
  // connected session took at once; entries that reached a client (once
  // per entry, however many resources took it); messages not queued.
  uint64_t messages_stored = 0;
  uint64_t messages_stored_offline = 0;
  uint64_t messages_delivered = 0;
  std::array<uint64_t, kNotStoredReasons> messages_not_stored{};
  // Group commits of the delivery queue (one LMDB write transaction each)
  // and how long each took, fsync included; commits that failed without
  // stopping the process (storage full).
  uint64_t commits = 0;
  uint64_t commit_errors = 0;
  LatencyHistogram commit_seconds;
  // Errors the server sent, by RFC 6120 condition.
  std::array<uint64_t, kStreamConditions> stream_errors{};
  std::array<uint64_t, kStanzaConditions> stanza_errors{};

  void count_stream_error(protocol::StreamCondition condition);
  void count_stanza_error(protocol::StanzaCondition condition);
  void count_stanza_in(std::string_view name) {
    if (std::optional<StanzaKind> k = stanza_kind(name)) ++stanzas_in[static_cast<size_t>(*k)];
  }
  void count_stanza_out(StanzaKind kind) { ++stanzas_out[static_cast<size_t>(kind)]; }
  void count_stanza_out(std::string_view name) {
    if (std::optional<StanzaKind> k = stanza_kind(name)) count_stanza_out(*k);
  }
};

// What /proc/self says about the process; a field is nullopt when it could
// not be read (a sample is then left out rather than reported as 0).
struct ProcessStats {
  std::optional<uint64_t> resident_bytes;
  std::optional<uint64_t> open_fds;
  std::optional<uint64_t> max_fds;
  std::optional<double> cpu_seconds;
  std::optional<double> start_time_seconds;  // since the Unix epoch
};

// Values that are read, not counted, when a scraper asks: they describe
// the present and are taken from the owning structures at that moment.
struct MetricsSnapshot {
  std::array<uint64_t, kC2sTransports> connections{};
  uint64_t connections_unauthenticated = 0;
  // Descriptors the listeners shed while out of them (a counter kept by
  // net::Listener; added to the refused family as reason fd_exhausted).
  uint64_t connections_shed = 0;
  uint64_t sessions_bound = 0;          // resources in the session table
  uint64_t sessions_hibernating = 0;    // ... of which waiting for a resumption
  std::optional<uint64_t> queue_depth;  // entries in the durable queue
  uint64_t queue_in_flight = 0;         // ... handed to a session, not yet delivered
  uint64_t uptime_ms = 0;               // on the loop clock
  ProcessStats process;
};

// Appends the exposition of |metrics| and |snapshot| to |out|: every family
// with its # HELP and # TYPE lines, every fixed label value (zeros
// included, so rates work from the first scrape), names prefixed xmppd_
// except the standard process_* ones. Never fails.
void render_metrics(const Metrics& metrics, const MetricsSnapshot& snapshot, std::string& out);

// The content type of render_metrics()'s output.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposition-format escaping: in a label value \, " and newline become \\,
// \" and \n; in HELP text \ and newline become \\ and \n.
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view text);

}  // namespace xd::server
