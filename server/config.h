// xmppd's configuration: every setting with its default, bounds and doc
// string in one table, read from a TOML file (toml++) and overridden by
// command-line flags. Loading may fail hard at start-up with a message that
// names the key and line; nothing here runs on the data path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xd::server {

// What a c2s listener speaks first.
enum class C2sPort {
  kStartTls,   // XML, TLS negotiated with STARTTLS (RFC 6120 §5)
  kDirectTls,  // XML inside TLS from the first byte (XEP-0368)
  kCompact,    // the compact dialect inside TLS (spec/compact.md §3.2)
};

struct ServerConfig {
  // [server]
  std::string domain = "localhost";
  std::vector<std::string> listen;          // STARTTLS ports, "HOST:PORT"
  std::vector<std::string> tls_listen;      // direct TLS ports (XEP-0368)
  std::vector<std::string> compact_listen;  // direct compact-dialect ports (spec/compact.md §3.2)
  bool compact = true;                      // offer the compact dialect after TLS and SASL (§3.1)
  bool compact_compression = true;          // allow zstd frames when a client asks (§4.3)
  std::string data_dir = "var/data";
  std::string cert;
  std::string key;
  bool allow_registration = false;
  bool allow_plaintext = false;  // authenticate without TLS (loopback tests, benchmarks)
  std::string log_level = "info";
  // The Prometheus endpoint (server/metrics_endpoint.h), "HOST:PORT"; empty
  // = off. It has no authentication: bind it to loopback or a private
  // network.
  std::string metrics;

  // [limits] — architecture.md §5 defaults.
  int64_t max_stanza_bytes = 256 * 1024;
  int64_t max_stanza_bytes_pre_auth = 8 * 1024;
  int64_t max_depth = 64;
  int64_t max_attributes = 64;
  int64_t max_elements_pre_auth = 32;
  int64_t max_elements = 4096;
  int64_t negotiation_timeout_s = 60;
  int64_t tls_handshake_timeout_s = 30;
  int64_t idle_ping_s = 840;
  int64_t idle_close_s = 60;
  int64_t write_queue_bytes = 1024 * 1024;
  int64_t read_rate_bytes = 10 * 1000;  // per second, per connection; 0 disables
  int64_t read_burst_s = 2;
  int64_t max_auth_failures = 3;               // per stream, then close
  int64_t max_auth_failures_per_ip_hour = 20;  // then refuse auth from that IP for a while
  int64_t sessions_per_account = 10;
  int64_t max_unauthenticated_per_ip = 50;
  int64_t max_unauthenticated = 10000;
  int64_t connects_per_ip_second = 5;  // new connections per IP and second; 0 = no rate cap
  int64_t connect_burst_per_ip = 20;   // ... of which this many at once (token bucket)
  int64_t registrations_per_ip_hour = 10;
  // Amplification (hostile-inputs.md case 51, XEP-0205 §4.8-4.9); 0 = off.
  int64_t max_recipients_per_minute = 200;          // distinct bare JIDs messaged per session
  int64_t max_presence_broadcasts_per_minute = 30;  // per session, token bucket
  bool loopback_exempt = true;  // per-IP caps do not apply to 127.0.0.0/8 and ::1
  int64_t parser_flush_ms = 100;
  int64_t parser_hibernate_ms = 1000;  // 0 = keep the parser's memory
  int64_t lmdb_map_mb = 1024;
  int64_t lmdb_max_map_mb = 16384;  // the map grows up to this, then storage is full
  // Delivery (spec/delivery.md).
  int64_t offline_quota = 10000;
  int64_t dedupe_window_s = 86400;
  int64_t dedupe_max = 1000000;
  int64_t sm_resume_s = 300;  // 0 = streams are not resumable
  int64_t sm_max_unacked = 500;
  // spec/delivery.md §1.5: write to connected recipients before the commit.
  bool early_delivery = true;
  // Push (XEP-0357).
  int64_t push_interval_s = 10;  // at most one notification per account per interval
  int64_t push_unacked_s = 30;   // stanzas unacknowledged this long on a live stream: notify
  bool push_include_body = false;
  // End-to-end key directory (spec/e2e-keys.md §8).
  int64_t e2e_max_devices = 16;   // devices per account
  int64_t e2e_max_prekeys = 100;  // one-time prekeys stored per device
  // The metrics endpoint (server/metrics_endpoint.h).
  int64_t metrics_max_connections = 8;
  int64_t metrics_request_timeout_ms = 5000;

  // [cluster] — architecture.md §6, docs/cluster.md. Empty |cluster| = one
  // node, nothing changes.
  std::string cluster;           // NATS URLs, comma-separated: nats://HOST:PORT,...
  std::string node_id;           // unique per node: [A-Za-z0-9_-]{1,64}
  int64_t cluster_replicas = 3;  // JetStream replicas of every stream and bucket
  int64_t cluster_heartbeat_ms = 1000;
  int64_t cluster_dead_after_ms = 5000;  // silence after which a node's sessions are dropped
  // docs/cluster.md §4: a copy of every same-node message in JetStream
  // until delivered, so a node that dies strands nothing.
  bool cluster_journal = true;
  int64_t cluster_publish_timeout_ms = 15000;  // a hand-off not acknowledged in time is refused
};

// Reads |path| into |config| (keys absent from the file keep their value).
// Returns false and sets |error| to "FILE:LINE: key 'x': problem" on any
// unknown key, wrong type or out-of-bounds value.
bool load_config_file(const std::string& path, ServerConfig& config, std::string& error);
// The same for TOML |text| already in memory; |path| only names it in
// errors. Never throws: toml++'s parse errors become |error|.
bool load_config_text(std::string_view text, const std::string& path, ServerConfig& config,
                      std::string& error);

// Checks cross-field rules (a cert without a key, TLS listeners without a
// cert, an unparsable domain). Returns false with |error| set.
bool validate_config(ServerConfig& config, std::string& error);

// Applies "NAME=VALUE" overrides of [limits] keys given on the command
// line, with the same bounds as the file. Returns false with |error| set.
bool apply_overrides(const std::vector<std::string>& overrides, ServerConfig& config,
                     std::string& error);

// A TOML rendering of every setting with its doc string, for --print-config.
std::string describe_config(const ServerConfig& config);

}  // namespace xd::server
