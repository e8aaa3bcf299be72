#include "server/metrics.h"

#include <cassert>
#include <charconv>

namespace xd::server {
namespace {

// Label values, in enum order. They are fixed strings, so the hot path
// only ever indexes an array; render time escapes them like any other.
constexpr std::array<std::string_view, kC2sTransports> kTransportNames = {"plain", "starttls",
                                                                          "direct_tls", "compact"};
constexpr std::array<std::string_view, kRefusalReasons> kRefusalNames = {
    "global_cap", "per_ip_concurrent", "per_ip_rate", "ip_table_full", "fd_exhausted"};
constexpr std::array<std::string_view, kSaslMechanisms> kMechanismNames = {
    "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "other"};
constexpr std::array<std::string_view, kStanzaKinds> kKindNames = {"message", "presence", "iq"};
constexpr std::array<std::string_view, kNotStoredReasons> kNotStoredNames = {
    "duplicate", "quota", "storage_full", "storage_error"};

size_t stream_index(protocol::StreamCondition c) {
  return static_cast<size_t>(static_cast<int>(c) -
                             static_cast<int>(protocol::StreamCondition::kFirst_) - 1);
}

size_t stanza_index(protocol::StanzaCondition c) {
  return static_cast<size_t>(static_cast<int>(c) -
                             static_cast<int>(protocol::StanzaCondition::kFirst_) - 1);
}

// Builds the exposition text family by family. Label values are escaped
// here, always, so a future label fed from data cannot break the format.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  // |name|{|label|="|value|"} or |name| alone when |label| is empty.
  void begin(std::string_view name, std::string_view label = {}, std::string_view value = {}) {
    out_ += name;
    if (!label.empty()) {
      out_ += '{';
      out_ += label;
      out_ += "=\"";
      out_ += escape_label_value(value);
      out_ += "\"}";
    }
    out_ += ' ';
  }

  void sample(std::string_view name, uint64_t v) { sample(name, {}, {}, v); }
  void sample(std::string_view name, std::string_view label, std::string_view value, uint64_t v) {
    begin(name, label, value);
    append_uint(v);
    out_ += '\n';
  }
  void sample_double(std::string_view name, double v) {
    begin(name);
    char buf[64];
    // Shortest text that reads back as |v| (what Go's strconv does); 64
    // bytes hold any double.
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    assert(ec == std::errc());
    out_.append(buf, static_cast<size_t>(end - buf));
    out_ += '\n';
  }
  // A duration given in |units| per second as a decimal number of seconds,
  // exact (no binary floating point in between).
  void sample_fixed(std::string_view name, uint64_t value, uint64_t units) {
    begin(name);
    append_fixed(value, units);
    out_ += '\n';
  }

  void append_uint(uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    assert(ec == std::errc());
    out_.append(buf, static_cast<size_t>(end - buf));
  }

  void append_fixed(uint64_t value, uint64_t units) {
    append_uint(value / units);
    uint64_t frac = value % units;
    if (frac == 0) return;
    // |units| is a power of ten: one digit per factor of ten, leading zeros
    // kept, trailing zeros dropped.
    char digits[20];
    size_t n = 0;
    for (uint64_t u = units; u > 1; u /= 10) {
      digits[n++] = static_cast<char>('0' + frac * 10 / units);
      frac = frac * 10 % units;
    }
    while (n > 0 && digits[n - 1] == '0') --n;
    out_ += '.';
    out_.append(digits, n);
  }

  template <size_t N>
  void labelled(std::string_view name, std::string_view label,
                const std::array<std::string_view, N>& values, const std::array<uint64_t, N>& v) {
    for (size_t i = 0; i < N; ++i) sample(name, label, values[i], v[i]);
  }

 private:
  std::string& out_;
};

std::string escape(std::string_view in, bool quote) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        if (quote) {
          out += "\\\"";
        } else {
          out += c;
        }
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

SaslMechanism sasl_mechanism_from_name(std::string_view name) {
  for (size_t i = 0; i + 1 < kMechanismNames.size(); ++i) {
    if (name == kMechanismNames[i]) return static_cast<SaslMechanism>(i);
  }
  return SaslMechanism::kOther;
}

std::optional<StanzaKind> stanza_kind(std::string_view name) {
  // The first letter decides among the three; the full compare guards
  // against anything else.
  if (name.empty()) return std::nullopt;
  switch (name[0]) {
    case 'm':
      if (name == "message") return StanzaKind::kMessage;
      break;
    case 'p':
      if (name == "presence") return StanzaKind::kPresence;
      break;
    case 'i':
      if (name == "iq") return StanzaKind::kIq;
      break;
    default:
      break;
  }
  return std::nullopt;
}

void LatencyHistogram::observe_ns(uint64_t ns) {
  size_t i = 0;
  while (i < kBuckets.size() && ns > kBuckets[i].le_ns) ++i;
  ++counts_[i];
  sum_ns_ += ns;
  ++count_;
}

void Metrics::count_stream_error(protocol::StreamCondition condition) {
  const size_t i = stream_index(condition);
  assert(i < kStreamConditions);
  if (i < kStreamConditions) ++stream_errors[i];
}

void Metrics::count_stanza_error(protocol::StanzaCondition condition) {
  const size_t i = stanza_index(condition);
  assert(i < kStanzaConditions);
  if (i < kStanzaConditions) ++stanza_errors[i];
}

std::string escape_label_value(std::string_view value) { return escape(value, true); }

std::string escape_help(std::string_view text) { return escape(text, false); }

void render_metrics(const Metrics& m, const MetricsSnapshot& s, std::string& out) {
  Writer w(out);

  // Connections.
  w.family("xmppd_c2s_connections", "gauge",
           "Client connections open now, by transport (a STARTTLS connection counts as plain "
           "until its TLS handshake completed).");
  for (size_t i = 0; i < kC2sTransports; ++i) {
    w.sample("xmppd_c2s_connections", "transport", kTransportNames[i], s.connections[i]);
  }
  w.family("xmppd_c2s_connections_unauthenticated", "gauge",
           "Client connections open now that have not authenticated yet.");
  w.sample("xmppd_c2s_connections_unauthenticated", s.connections_unauthenticated);
  w.family("xmppd_c2s_connections_accepted_total", "counter",
           "Client connections accepted into a c2s session.");
  w.sample("xmppd_c2s_connections_accepted_total", m.connections_accepted);
  w.family("xmppd_c2s_connections_refused_total", "counter",
           "Client connections closed at accept, by the cap that refused them.");
  std::array<uint64_t, kRefusalReasons> refused = m.connections_refused;
  refused[static_cast<size_t>(RefusalReason::kFdExhausted)] += s.connections_shed;
  w.labelled("xmppd_c2s_connections_refused_total", "reason", kRefusalNames, refused);

  // Logins and sessions.
  w.family("xmppd_logins_total", "counter", "Successful SASL authentications, by mechanism.");
  w.labelled("xmppd_logins_total", "mechanism", kMechanismNames, m.logins);
  w.family("xmppd_login_failures_total", "counter",
           "Failed SASL authentications (wrong credentials or malformed exchanges).");
  w.sample("xmppd_login_failures_total", m.login_failures);
  w.family("xmppd_logins_throttled_total", "counter",
           "SASL attempts refused unchecked by the per-IP failed-login throttle.");
  w.sample("xmppd_logins_throttled_total", m.logins_throttled);
  w.family("xmppd_sessions_bound", "gauge",
           "Bound resources in the session table, hibernating ones included.");
  w.sample("xmppd_sessions_bound", s.sessions_bound);
  w.family("xmppd_sessions_hibernating", "gauge",
           "Bound sessions without a connection, waiting for an XEP-0198 resumption.");
  w.sample("xmppd_sessions_hibernating", s.sessions_hibernating);

  // Stanzas.
  w.family("xmppd_stanzas_in_total", "counter",
           "Stanzas from bound clients handed to the router, by kind.");
  w.labelled("xmppd_stanzas_in_total", "kind", kKindNames, m.stanzas_in);
  w.family("xmppd_stanzas_out_total", "counter", "Stanzas written to clients, by kind.");
  w.labelled("xmppd_stanzas_out_total", "kind", kKindNames, m.stanzas_out);

  // The durable queue.
  if (s.queue_depth) {
    w.family("xmppd_delivery_queue_depth", "gauge",
             "Messages in the durable queue, waiting for a login or an acknowledgement.");
    w.sample("xmppd_delivery_queue_depth", *s.queue_depth);
  }
  w.family("xmppd_delivery_in_flight", "gauge",
           "Queue entries handed to a session and not yet acknowledged or written.");
  w.sample("xmppd_delivery_in_flight", s.queue_in_flight);
  w.family("xmppd_messages_stored_total", "counter", "Messages committed to the durable queue.");
  w.sample("xmppd_messages_stored_total", m.messages_stored);
  w.family("xmppd_messages_stored_offline_total", "counter",
           "Messages committed while no connected session of the recipient took them.");
  w.sample("xmppd_messages_stored_offline_total", m.messages_stored_offline);
  w.family("xmppd_messages_delivered_total", "counter",
           "Queue entries that reached a client (acknowledged, or written without stream "
           "management), once per entry.");
  w.sample("xmppd_messages_delivered_total", m.messages_delivered);
  w.family("xmppd_messages_not_stored_total", "counter",
           "Storable messages that were not queued, by reason.");
  w.labelled("xmppd_messages_not_stored_total", "reason", kNotStoredNames, m.messages_not_stored);

  // Storage.
  w.family("xmppd_commits_total", "counter",
           "Group commits of the delivery queue (one synchronous LMDB transaction each).");
  w.sample("xmppd_commits_total", m.commits);
  w.family("xmppd_commit_errors_total", "counter",
           "Group commits that failed without stopping the server (storage full).");
  w.sample("xmppd_commit_errors_total", m.commit_errors);
  w.family("xmppd_commit_seconds", "histogram",
           "Duration of a delivery-queue group commit, fsync included.");
  uint64_t cumulative = 0;
  const LatencyHistogram& h = m.commit_seconds;
  for (size_t i = 0; i < LatencyHistogram::kBuckets.size(); ++i) {
    cumulative += h.in_bucket(i);
    w.sample("xmppd_commit_seconds_bucket", "le", LatencyHistogram::kBuckets[i].le, cumulative);
  }
  w.sample("xmppd_commit_seconds_bucket", "le", "+Inf", h.count());
  w.sample_fixed("xmppd_commit_seconds_sum", h.sum_ns(), 1'000'000'000);
  w.sample("xmppd_commit_seconds_count", h.count());

  // Errors.
  w.family("xmppd_stream_errors_total", "counter",
           "Stream errors the server ended a client stream with, by RFC 6120 condition.");
  for (size_t i = 0; i < kStreamConditions; ++i) {
    const auto c = static_cast<protocol::StreamCondition>(
        static_cast<int>(protocol::StreamCondition::kFirst_) + 1 + static_cast<int>(i));
    w.sample("xmppd_stream_errors_total", "condition", protocol::stream_condition_name(c),
             m.stream_errors[i]);
  }
  w.family("xmppd_stanza_errors_total", "counter",
           "Stanza errors the server generated, by RFC 6120 condition.");
  for (size_t i = 0; i < kStanzaConditions; ++i) {
    const auto c = static_cast<protocol::StanzaCondition>(
        static_cast<int>(protocol::StanzaCondition::kFirst_) + 1 + static_cast<int>(i));
    w.sample("xmppd_stanza_errors_total", "condition", protocol::stanza_condition_name(c),
             m.stanza_errors[i]);
  }

  // Process.
  w.family("xmppd_uptime_seconds", "gauge", "Time since the server started, on the loop clock.");
  w.sample_fixed("xmppd_uptime_seconds", s.uptime_ms, 1000);
  const ProcessStats& p = s.process;
  if (p.cpu_seconds) {
    w.family("process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.");
    w.sample_double("process_cpu_seconds_total", *p.cpu_seconds);
  }
  if (p.open_fds) {
    w.family("process_open_fds", "gauge", "Number of open file descriptors.");
    w.sample("process_open_fds", *p.open_fds);
  }
  if (p.max_fds) {
    w.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    w.sample("process_max_fds", *p.max_fds);
  }
  if (p.resident_bytes) {
    w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    w.sample("process_resident_memory_bytes", *p.resident_bytes);
  }
  if (p.start_time_seconds) {
    w.family("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.");
    w.sample_double("process_start_time_seconds", *p.start_time_seconds);
  }
}

}  // namespace xd::server
