// server/metrics.h: the counters and their Prometheus text exposition
// (format 0.0.4). The rendering is checked line by line with a small
// parser of the format: every sample belongs to a family announced by
// # HELP and # TYPE, counters end in _total, label values are escaped,
// histogram buckets are cumulative and end with +Inf == _count.
#include "server/metrics.h"

#include <doctest/doctest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace xd::server;
using xd::protocol::StanzaCondition;
using xd::protocol::StreamCondition;

namespace {

struct Family {
  std::string type;
  std::string help;
};

struct Exposition {
  std::map<std::string, Family> families;
  std::vector<std::string> order;             // family names as announced
  std::map<std::string, std::string> values;  // "name{labels}" -> value
  std::vector<std::string> series;            // in output order
};

// The family a sample named |name| belongs to, given the announced ones
// (a histogram's series carry a suffix).
std::string family_of(const Exposition& e, const std::string& name) {
  if (e.families.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      auto it = e.families.find(base);
      if (it != e.families.end() && it->second.type == "histogram") return base;
    }
  }
  return {};
}

// Parses |text| strictly enough to catch format mistakes; every violation
// fails the calling test.
Exposition parse(const std::string& text) {
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$)");
  static const std::regex kType(
      R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  // name, optional {label="value",...} with escaped values, one space, value.
  static const std::regex kSample(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"\})? ([-+]?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|Inf|NaN))$)re");
  Exposition e;
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::istringstream in(text);
  std::string line;
  std::string pending_help;
  std::string current;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      INFO(line);
      CHECK(pending_help.empty());
      CHECK(e.families.count(m[1]) == 0);  // each family once
      pending_help = m[1];
      e.families[m[1]].help = m[2];
      continue;
    }
    if (std::regex_match(line, m, kType)) {
      INFO(line);
      CHECK(m[1] == pending_help);  // HELP, then TYPE, for the same name
      pending_help.clear();
      e.families[m[1]].type = m[2];
      e.order.push_back(m[1]);
      current = m[1];
      continue;
    }
    INFO(line);
    REQUIRE(std::regex_match(line, m, kSample));
    CHECK(pending_help.empty());
    const std::string name = m[1];
    // Samples follow their own family's TYPE line.
    CHECK(family_of(e, name) == current);
    const std::string key = name + std::string(m[2]);
    CHECK(e.values.count(key) == 0);  // no duplicate series
    e.values[key] = m[5];
    e.series.push_back(key);
  }
  CHECK(pending_help.empty());
  return e;
}

std::string render(const Metrics& m, const MetricsSnapshot& s = {}) {
  std::string out;
  render_metrics(m, s, out);
  return out;
}

std::string value(const Exposition& e, const std::string& series) {
  auto it = e.values.find(series);
  return it == e.values.end() ? std::string("<absent>") : it->second;
}

}  // namespace

TEST_SUITE("server.metrics") {
  TEST_CASE("every family has HELP and TYPE, names are prefixed, counters end in _total") {
    MetricsSnapshot s;
    s.queue_depth = 0;
    s.process.resident_bytes = 1;
    s.process.open_fds = 1;
    s.process.max_fds = 1;
    s.process.cpu_seconds = 0.5;
    s.process.start_time_seconds = 1.5e9;
    const Exposition e = parse(render(Metrics{}, s));
    REQUIRE(e.families.size() >= 20);
    for (const auto& [name, family] : e.families) {
      INFO(name);
      CHECK(!family.help.empty());
      const bool ours = name.rfind("xmppd_", 0) == 0;
      const bool process = name.rfind("process_", 0) == 0;
      CHECK((ours || process));
      const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
      CHECK((family.type == "counter") == total);
    }
    // The families an operator graphs are all there.
    for (const char* name :
         {"xmppd_c2s_connections", "xmppd_c2s_connections_accepted_total",
          "xmppd_c2s_connections_refused_total", "xmppd_logins_total", "xmppd_login_failures_total",
          "xmppd_sessions_bound", "xmppd_stanzas_in_total", "xmppd_stanzas_out_total",
          "xmppd_delivery_queue_depth", "xmppd_messages_stored_offline_total",
          "xmppd_messages_delivered_total", "xmppd_commits_total", "xmppd_commit_seconds",
          "xmppd_stream_errors_total", "xmppd_stanza_errors_total", "xmppd_uptime_seconds",
          "process_resident_memory_bytes", "process_open_fds"}) {
      INFO(name);
      CHECK(e.families.count(name) == 1);
    }
    CHECK(e.families.at("xmppd_commit_seconds").type == "histogram");
    CHECK(kMetricsContentType == "text/plain; version=0.0.4; charset=utf-8");
  }

  TEST_CASE("fixed label sets are rendered in full, zeros included") {
    const Exposition e = parse(render(Metrics{}));
    for (const char* t : {"plain", "starttls", "direct_tls", "compact"}) {
      CHECK(value(e, std::string("xmppd_c2s_connections{transport=\"") + t + "\"}") == "0");
    }
    for (const char* k : {"message", "presence", "iq"}) {
      CHECK(value(e, std::string("xmppd_stanzas_in_total{kind=\"") + k + "\"}") == "0");
      CHECK(value(e, std::string("xmppd_stanzas_out_total{kind=\"") + k + "\"}") == "0");
    }
    size_t stream = 0, stanza = 0;
    for (const std::string& s : e.series) {
      if (s.rfind("xmppd_stream_errors_total{condition=", 0) == 0) ++stream;
      if (s.rfind("xmppd_stanza_errors_total{condition=", 0) == 0) ++stanza;
    }
    CHECK(stream == kStreamConditions);
    CHECK(stanza == kStanzaConditions);
    CHECK(kStreamConditions == 25);  // RFC 6120 §4.9.3
    CHECK(kStanzaConditions == 22);  // RFC 6120 §8.3.3
    // Without a readable queue or /proc, those samples are left out, not 0.
    CHECK(e.families.count("xmppd_delivery_queue_depth") == 0);
    CHECK(e.families.count("process_open_fds") == 0);
  }

  TEST_CASE("counter values reach their series") {
    Metrics m;
    m.connections_accepted = 7;
    ++m.connections_refused[static_cast<size_t>(RefusalReason::kPerIpConcurrent)];
    ++m.connections_refused[static_cast<size_t>(RefusalReason::kGlobalCap)];
    ++m.connections_refused[static_cast<size_t>(RefusalReason::kGlobalCap)];
    ++m.logins[static_cast<size_t>(sasl_mechanism_from_name("SCRAM-SHA-256"))];
    ++m.logins[static_cast<size_t>(sasl_mechanism_from_name("SCRAM-SHA-256"))];
    ++m.logins[static_cast<size_t>(sasl_mechanism_from_name("X-UNKNOWN"))];
    m.login_failures = 3;
    m.count_stanza_in("message");
    m.count_stanza_in("message");
    m.count_stanza_in("iq");
    m.count_stanza_in("stream");  // not a stanza: not counted
    m.count_stanza_out("presence");
    m.count_stanza_out(StanzaKind::kMessage);
    m.messages_stored = 5;
    m.messages_stored_offline = 2;
    m.messages_delivered = 4;
    ++m.messages_not_stored[static_cast<size_t>(NotStoredReason::kQuota)];
    m.count_stream_error(StreamCondition::kPolicyViolation);
    m.count_stream_error(StreamCondition::kBadFormat);           // the first condition
    m.count_stream_error(StreamCondition::kUnsupportedVersion);  // the last one
    m.count_stanza_error(StanzaCondition::kServiceUnavailable);
    m.count_stanza_error(StanzaCondition::kServiceUnavailable);
    m.count_stanza_error(StanzaCondition::kUnexpectedRequest);  // the last one
    MetricsSnapshot s;
    s.connections[static_cast<size_t>(C2sTransport::kStartTls)] = 3;
    s.connections_shed = 4;
    s.sessions_bound = 2;
    s.queue_depth = 9;
    s.uptime_ms = 12'345;
    const Exposition e = parse(render(m, s));
    CHECK(value(e, "xmppd_c2s_connections_accepted_total") == "7");
    CHECK(value(e, "xmppd_c2s_connections_refused_total{reason=\"per_ip_concurrent\"}") == "1");
    CHECK(value(e, "xmppd_c2s_connections_refused_total{reason=\"global_cap\"}") == "2");
    CHECK(value(e, "xmppd_c2s_connections_refused_total{reason=\"fd_exhausted\"}") == "4");
    CHECK(value(e, "xmppd_c2s_connections_refused_total{reason=\"per_ip_rate\"}") == "0");
    CHECK(value(e, "xmppd_c2s_connections{transport=\"starttls\"}") == "3");
    CHECK(value(e, "xmppd_logins_total{mechanism=\"SCRAM-SHA-256\"}") == "2");
    CHECK(value(e, "xmppd_logins_total{mechanism=\"other\"}") == "1");
    CHECK(value(e, "xmppd_logins_total{mechanism=\"PLAIN\"}") == "0");
    CHECK(value(e, "xmppd_login_failures_total") == "3");
    CHECK(value(e, "xmppd_sessions_bound") == "2");
    CHECK(value(e, "xmppd_stanzas_in_total{kind=\"message\"}") == "2");
    CHECK(value(e, "xmppd_stanzas_in_total{kind=\"iq\"}") == "1");
    CHECK(value(e, "xmppd_stanzas_in_total{kind=\"presence\"}") == "0");
    CHECK(value(e, "xmppd_stanzas_out_total{kind=\"presence\"}") == "1");
    CHECK(value(e, "xmppd_stanzas_out_total{kind=\"message\"}") == "1");
    CHECK(value(e, "xmppd_messages_stored_total") == "5");
    CHECK(value(e, "xmppd_messages_stored_offline_total") == "2");
    CHECK(value(e, "xmppd_messages_delivered_total") == "4");
    CHECK(value(e, "xmppd_messages_not_stored_total{reason=\"quota\"}") == "1");
    CHECK(value(e, "xmppd_delivery_queue_depth") == "9");
    CHECK(value(e, "xmppd_stream_errors_total{condition=\"policy-violation\"}") == "1");
    CHECK(value(e, "xmppd_stream_errors_total{condition=\"bad-format\"}") == "1");
    CHECK(value(e, "xmppd_stream_errors_total{condition=\"unsupported-version\"}") == "1");
    CHECK(value(e, "xmppd_stream_errors_total{condition=\"conflict\"}") == "0");
    CHECK(value(e, "xmppd_stanza_errors_total{condition=\"service-unavailable\"}") == "2");
    CHECK(value(e, "xmppd_stanza_errors_total{condition=\"unexpected-request\"}") == "1");
    CHECK(value(e, "xmppd_stanza_errors_total{condition=\"bad-request\"}") == "0");
    CHECK(value(e, "xmppd_uptime_seconds") == "12.345");
  }

  TEST_CASE("histogram buckets are cumulative, le is inclusive, +Inf equals _count") {
    Metrics m;
    LatencyHistogram& h = m.commit_seconds;
    h.observe_ns(0);
    h.observe_ns(100'000);  // exactly 0.0001 s: in le="0.0001"
    h.observe_ns(100'001);  // just above: le="0.00025"
    h.observe_ns(3'000'000);
    h.observe_ns(3'000'000);
    h.observe_ns(60'000'000'000);  // a minute: only +Inf
    m.commits = 6;
    const Exposition e = parse(render(m));
    auto bucket = [&](const char* le) {
      return value(e, std::string("xmppd_commit_seconds_bucket{le=\"") + le + "\"}");
    };
    CHECK(bucket("0.0001") == "2");
    CHECK(bucket("0.00025") == "3");
    CHECK(bucket("0.0025") == "3");
    CHECK(bucket("0.005") == "5");
    CHECK(bucket("10") == "5");
    CHECK(bucket("+Inf") == "6");
    CHECK(value(e, "xmppd_commit_seconds_count") == "6");
    CHECK(value(e, "xmppd_commit_seconds_sum") == "60.006200001");
    CHECK(value(e, "xmppd_commits_total") == "6");
    // Every bound in order, each count at least the one before, +Inf last.
    std::vector<std::string> les;
    uint64_t previous = 0;
    for (const std::string& s : e.series) {
      if (s.rfind("xmppd_commit_seconds_bucket", 0) != 0) continue;
      const size_t q = s.find('"');
      les.push_back(s.substr(q + 1, s.rfind('"') - q - 1));
      const uint64_t v = std::stoull(e.values.at(s));
      CHECK(v >= previous);
      previous = v;
    }
    REQUIRE(les.size() == LatencyHistogram::kBuckets.size() + 1);
    CHECK(les.back() == "+Inf");
    for (size_t i = 0; i < LatencyHistogram::kBuckets.size(); ++i) {
      INFO(les[i]);
      // The label and the nanosecond bound name the same number.
      CHECK(std::stod(les[i]) * 1e9 == doctest::Approx(LatencyHistogram::kBuckets[i].le_ns));
      if (i > 0) CHECK(std::stod(les[i]) > std::stod(les[i - 1]));
    }
  }

  TEST_CASE("an empty histogram still has every bucket, a zero sum and count") {
    const Exposition e = parse(render(Metrics{}));
    CHECK(value(e, "xmppd_commit_seconds_bucket{le=\"+Inf\"}") == "0");
    CHECK(value(e, "xmppd_commit_seconds_sum") == "0");
    CHECK(value(e, "xmppd_commit_seconds_count") == "0");
  }

  TEST_CASE("label values and help text are escaped as the format requires") {
    CHECK(escape_label_value("plain") == "plain");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(escape_label_value("two\nlines") == "two\\nlines");
    CHECK(escape_label_value("\\\"\n") == "\\\\\\\"\\n");
    // HELP escapes backslash and newline only; quotes stay.
    CHECK(escape_help("say \"hi\"\\\n") == "say \"hi\"\\\\\\n");
    CHECK(escape_label_value("") == "");
  }

  TEST_CASE("process samples: present when read, standard names, exact values") {
    MetricsSnapshot s;
    s.process.resident_bytes = 123'456'789;
    s.process.open_fds = 42;
    s.process.max_fds = 1024;
    s.process.cpu_seconds = 1.25;
    s.process.start_time_seconds = 1'700'000'000.5;
    const Exposition e = parse(render(Metrics{}, s));
    CHECK(value(e, "process_resident_memory_bytes") == "123456789");
    CHECK(value(e, "process_open_fds") == "42");
    CHECK(value(e, "process_max_fds") == "1024");
    CHECK(value(e, "process_cpu_seconds_total") == "1.25");
    CHECK(value(e, "process_start_time_seconds") == "1700000000.5");
    CHECK(e.families.at("process_cpu_seconds_total").type == "counter");
    CHECK(e.families.at("process_open_fds").type == "gauge");
  }

  TEST_CASE("mechanism and stanza-kind lookups") {
    CHECK(sasl_mechanism_from_name("PLAIN") == SaslMechanism::kPlain);
    CHECK(sasl_mechanism_from_name("SCRAM-SHA-1") == SaslMechanism::kScramSha1);
    CHECK(sasl_mechanism_from_name("SCRAM-SHA-1-PLUS") == SaslMechanism::kScramSha1Plus);
    CHECK(sasl_mechanism_from_name("SCRAM-SHA-256") == SaslMechanism::kScramSha256);
    CHECK(sasl_mechanism_from_name("SCRAM-SHA-256-PLUS") == SaslMechanism::kScramSha256Plus);
    CHECK(sasl_mechanism_from_name("") == SaslMechanism::kOther);
    CHECK(sasl_mechanism_from_name("other") == SaslMechanism::kOther);
    CHECK(sasl_mechanism_from_name("scram-sha-1") == SaslMechanism::kOther);
    CHECK(stanza_kind("message") == StanzaKind::kMessage);
    CHECK(stanza_kind("presence") == StanzaKind::kPresence);
    CHECK(stanza_kind("iq") == StanzaKind::kIq);
    CHECK_FALSE(stanza_kind("messages").has_value());
    CHECK_FALSE(stanza_kind("i").has_value());
    CHECK_FALSE(stanza_kind("").has_value());
  }

  TEST_CASE("rendering appends and is repeatable") {
    Metrics m;
    m.commits = 1;
    std::string out = "prefix\n";
    render_metrics(m, {}, out);
    CHECK(out.rfind("prefix\n# HELP ", 0) == 0);
    CHECK(out.substr(7) == render(m));
    CHECK(render(m) == render(m));
  }
}
