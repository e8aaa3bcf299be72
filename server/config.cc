#include "server/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <variant>

#include "net/address.h"
#include "protocol/jid/jid.h"

namespace xd::server {
namespace {

// One row per setting: where it lives in the file, the field, its bounds
// and what it is for. The table is the single source for loading and docs.
struct Setting {
  const char* table;
  const char* key;
  std::variant<std::string ServerConfig::*, bool ServerConfig::*, int64_t ServerConfig::*,
               std::vector<std::string> ServerConfig::*>
      field;
  int64_t min;
  int64_t max;
  const char* doc;
};

constexpr int64_t kMaxI = INT64_MAX;

const Setting kSettings[] = {
    {"server", "domain", &ServerConfig::domain, 0, 0,
     "the XMPP domain served (RFC 7622 domainpart)"},
    {"server", "listen", &ServerConfig::listen, 0, 0, "STARTTLS c2s listeners, HOST:PORT"},
    {"server", "tls_listen", &ServerConfig::tls_listen, 0, 0,
     "direct-TLS c2s listeners (XEP-0368)"},
    {"server", "compact_listen", &ServerConfig::compact_listen, 0, 0,
     "direct compact-dialect listeners (TLS, then the preface; spec/compact.md §3.2)"},
    {"server", "compact", &ServerConfig::compact, 0, 0,
     "offer the compact dialect after TLS and SASL (spec/compact.md §3.1)"},
    {"server", "compact_compression", &ServerConfig::compact_compression, 0, 0,
     "allow per-frame zstd compression in the compact dialect (spec/compact.md §4.3)"},
    {"server", "data_dir", &ServerConfig::data_dir, 0, 0, "LMDB data directory"},
    {"server", "cert", &ServerConfig::cert, 0, 0, "PEM certificate chain"},
    {"server", "key", &ServerConfig::key, 0, 0, "PEM private key"},
    {"server", "allow_registration", &ServerConfig::allow_registration, 0, 0,
     "XEP-0077 in-band registration"},
    {"server", "allow_plaintext", &ServerConfig::allow_plaintext, 0, 0,
     "allow authentication without TLS (loopback tests and benchmarks only)"},
    {"server", "log_level", &ServerConfig::log_level, 0, 0, "debug | info | warn | error | off"},
    {"server", "metrics", &ServerConfig::metrics, 0, 0,
     "Prometheus metrics endpoint HOST:PORT, GET /metrics (empty = off; unauthenticated: keep it "
     "on loopback or a private network)"},
    {"limits", "max_stanza_bytes", &ServerConfig::max_stanza_bytes, 1024, 64 << 20,
     "bytes outstanding in one stanza after authentication"},
    {"limits", "max_stanza_bytes_pre_auth", &ServerConfig::max_stanza_bytes_pre_auth, 512, 1 << 20,
     "bytes outstanding in one stanza before authentication"},
    {"limits", "max_depth", &ServerConfig::max_depth, 2, 256,
     "element nesting depth in a stanza (at most 256: spec/compact.md §11)"},
    {"limits", "max_attributes", &ServerConfig::max_attributes, 4, 4096, "attributes per element"},
    {"limits", "max_elements_pre_auth", &ServerConfig::max_elements_pre_auth, 4, 1 << 16,
     "elements per stanza before authentication"},
    {"limits", "max_elements", &ServerConfig::max_elements, 4, 1 << 20, "elements per stanza"},
    {"limits", "negotiation_timeout_s", &ServerConfig::negotiation_timeout_s, 1, 3600,
     "accept to bound resource deadline"},
    {"limits", "tls_handshake_timeout_s", &ServerConfig::tls_handshake_timeout_s, 1, 600,
     "TLS handshake deadline"},
    {"limits", "idle_ping_s", &ServerConfig::idle_ping_s, 1, 86400,
     "silence before the server pings a client"},
    {"limits", "idle_close_s", &ServerConfig::idle_close_s, 1, 3600,
     "time to answer the idle ping before the connection is closed"},
    {"limits", "write_queue_bytes", &ServerConfig::write_queue_bytes, 4096, 1LL << 32,
     "output queued for one connection before it is closed (policy-violation)"},
    {"limits", "read_rate_bytes", &ServerConfig::read_rate_bytes, 0, kMaxI,
     "sustained read rate per connection in bytes/s (0 = unlimited)"},
    {"limits", "read_burst_s", &ServerConfig::read_burst_s, 1, 3600,
     "read burst in seconds of rate"},
    {"limits", "max_auth_failures", &ServerConfig::max_auth_failures, 1, 100,
     "failed SASL attempts per stream before it is closed"},
    {"limits", "max_auth_failures_per_ip_hour", &ServerConfig::max_auth_failures_per_ip_hour, 1,
     1000000, "failed SASL attempts per IP and hour before auth is refused"},
    {"limits", "sessions_per_account", &ServerConfig::sessions_per_account, 1, 1000,
     "bound resources per account"},
    {"limits", "max_unauthenticated_per_ip", &ServerConfig::max_unauthenticated_per_ip, 1, 1000000,
     "unauthenticated connections per IP"},
    {"limits", "max_unauthenticated", &ServerConfig::max_unauthenticated, 1, 10000000,
     "unauthenticated connections in total"},
    {"limits", "connects_per_ip_second", &ServerConfig::connects_per_ip_second, 0, 1000000,
     "new connections accepted per IP and second, refused at accept beyond it (0 = no rate cap)"},
    {"limits", "connect_burst_per_ip", &ServerConfig::connect_burst_per_ip, 1, 1000000,
     "new connections per IP accepted at once before connects_per_ip_second applies"},
    {"limits", "registrations_per_ip_hour", &ServerConfig::registrations_per_ip_hour, 1, 1000000,
     "in-band registrations per IP and hour"},
    {"limits", "max_recipients_per_minute", &ServerConfig::max_recipients_per_minute, 0, 100000,
     "distinct bare JIDs one session may send messages to in a sliding minute; beyond it "
     "unexpected-request + too-many-stanzas (XEP-0205; 0 = no limit)"},
    {"limits", "max_presence_broadcasts_per_minute",
     &ServerConfig::max_presence_broadcasts_per_minute, 0, 100000,
     "presence broadcasts of one session fanned out per minute (burst of as many); beyond it "
     "they are held back and the latest goes out when allowed (XEP-0205; 0 = no limit)"},
    {"limits", "loopback_exempt", &ServerConfig::loopback_exempt, 0, 0,
     "per-IP caps do not apply to loopback addresses"},
    {"limits", "parser_flush_ms", &ServerConfig::parser_flush_ms, 1, 10000,
     "delay before a partial read is re-parsed (expat reparse deferral)"},
    {"limits", "parser_hibernate_ms", &ServerConfig::parser_hibernate_ms, 0, 3600 * 1000,
     "quiet time after which a bound stream's XML parser memory is released (0 = never)"},
    {"limits", "lmdb_map_mb", &ServerConfig::lmdb_map_mb, 1, 1 << 24, "LMDB map size in MiB"},
    {"limits", "lmdb_max_map_mb", &ServerConfig::lmdb_max_map_mb, 1, 1 << 24,
     "LMDB map growth ceiling in MiB; past it stores answer resource-constraint"},
    {"limits", "offline_quota", &ServerConfig::offline_quota, 1, 100000000,
     "stanzas queued per account before senders get resource-constraint"},
    {"limits", "dedupe_window_s", &ServerConfig::dedupe_window_s, 1, 86400 * 365,
     "how long a sender's origin-id is remembered to drop resends"},
    {"limits", "dedupe_max", &ServerConfig::dedupe_max, 1, 100000000,
     "origin-ids remembered at most"},
    {"limits", "early_delivery", &ServerConfig::early_delivery, 0, 0,
     "write a message to connected recipients before its commit; the sender's ack still waits "
     "for the commit (spec/delivery.md section 1.5)"},
    {"limits", "sm_resume_s", &ServerConfig::sm_resume_s, 0, 86400,
     "stream management resumption window in seconds (0 = no resumption)"},
    {"limits", "sm_max_unacked", &ServerConfig::sm_max_unacked, 1, 1000000,
     "unacknowledged stanzas per stream before it is closed"},
    {"limits", "push_interval_s", &ServerConfig::push_interval_s, 0, 86400,
     "push notifications per account are at most one per interval (coalesced)"},
    {"limits", "push_unacked_s", &ServerConfig::push_unacked_s, 1, 86400,
     "stanzas unacknowledged this long on a live stream trigger a push notification"},
    {"limits", "push_include_body", &ServerConfig::push_include_body, 0, 0,
     "include the message body in push notifications (off: summary only)"},
    {"limits", "e2e_max_devices", &ServerConfig::e2e_max_devices, 1, 64,
     "E2E devices per account; at most 64, what a claim result may list (spec/e2e-keys.md §8)"},
    {"limits", "e2e_max_prekeys", &ServerConfig::e2e_max_prekeys, 1, 1000,
     "E2E one-time prekeys stored per device and accepted in one publish (spec/e2e-keys.md §8)"},
    {"limits", "metrics_max_connections", &ServerConfig::metrics_max_connections, 1, 1024,
     "metrics endpoint connections open at once; more are closed at accept"},
    {"limits", "metrics_request_timeout_ms", &ServerConfig::metrics_request_timeout_ms, 10, 600000,
     "time a metrics connection has to send its request head before it gets 408 and is closed"},
    {"cluster", "url", &ServerConfig::cluster, 0, 0,
     "NATS servers of the cluster, comma-separated nats://HOST:PORT (empty = a single node)"},
    {"cluster", "node_id", &ServerConfig::node_id, 0, 0,
     "this node's id, unique in the cluster: 1-64 of A-Z a-z 0-9 _ -"},
    {"cluster", "replicas", &ServerConfig::cluster_replicas, 1, 5,
     "JetStream replicas of the cluster's streams and buckets (at most the NATS servers)"},
    {"cluster", "heartbeat_ms", &ServerConfig::cluster_heartbeat_ms, 50, 60000,
     "how often a node renews its heartbeat in the session directory"},
    {"cluster", "dead_after_ms", &ServerConfig::cluster_dead_after_ms, 150, 600000,
     "heartbeat silence after which a node counts as dead and its directory entries go"},
    {"cluster", "journal", &ServerConfig::cluster_journal, 0, 0,
     "keep a JetStream copy of each message between two users of the same node until it is "
     "delivered, so a node that dies strands nothing (costs a replicated publish per message)"},
    {"cluster", "publish_timeout_ms", &ServerConfig::cluster_publish_timeout_ms, 100, 600000,
     "time JetStream has to acknowledge a hand-off before the sender gets an error"},
};

// A TOML basic string ("...") that reads back as exactly |v|. toml++'s own
// formatter may choose a multi-line literal, whose leading newline TOML
// then drops (found by the config fuzzer).
std::string toml_quote(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", u);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string where(const std::string& path, const toml::node& node) {
  std::ostringstream s;
  s << path << ":" << node.source().begin.line;
  return s.str();
}

bool known(std::string_view table, std::string_view key) {
  for (const Setting& s : kSettings) {
    if (table == s.table && key == s.key) return true;
  }
  return false;
}

}  // namespace

bool apply_table(const toml::table& root, const std::string& path, ServerConfig& config,
                 std::string& error);

bool load_config_file(const std::string& path, ServerConfig& config, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_text(text.str(), path, config, error);
}

bool load_config_text(std::string_view text, const std::string& path, ServerConfig& config,
                      std::string& error) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << path << ":" << e.source().begin.line << ": " << e.description();
    error = s.str();
    return false;
  }
  // Unknown tables and keys are errors: a typo must not silently fall back
  // to a default limit.
  for (auto&& [tname, tnode] : root) {
    const toml::table* t = tnode.as_table();
    if (!t || (tname.str() != "server" && tname.str() != "limits" && tname.str() != "cluster")) {
      error = where(path, tnode) + ": unknown table '" + std::string(tname.str()) + "'";
      return false;
    }
    for (auto&& [k, v] : *t) {
      if (!known(tname.str(), k.str())) {
        error = where(path, v) + ": unknown key '" + std::string(tname.str()) + "." +
                std::string(k.str()) + "'";
        return false;
      }
    }
  }
  return apply_table(root, path, config, error);
}

bool apply_table(const toml::table& root, const std::string& path, ServerConfig& config,
                 std::string& error) {
  for (const Setting& s : kSettings) {
    const toml::node* node = root.at_path(std::string(s.table) + "." + s.key).node();
    if (!node) continue;
    std::string name = std::string(s.table) + "." + s.key;
    std::string bad = where(path, *node) + ": key '" + name + "': ";
    bool ok = std::visit(
        [&](auto member) -> bool {
          using T = std::remove_cvref_t<decltype(config.*member)>;
          if constexpr (std::is_same_v<T, std::string>) {
            auto v = node->value<std::string>();
            if (!node->is_string()) return error = bad + "expected a string", false;
            config.*member = *v;
          } else if constexpr (std::is_same_v<T, bool>) {
            if (!node->is_boolean()) return error = bad + "expected true or false", false;
            config.*member = *node->value<bool>();
          } else if constexpr (std::is_same_v<T, int64_t>) {
            if (!node->is_integer()) return error = bad + "expected an integer", false;
            int64_t v = *node->value<int64_t>();
            if (v < s.min || v > s.max) {
              return error = bad + "must be between " + std::to_string(s.min) + " and " +
                             std::to_string(s.max),
                     false;
            }
            config.*member = v;
          } else {
            const toml::array* arr = node->as_array();
            if (!arr) return error = bad + "expected an array of strings", false;
            T out;
            for (const toml::node& el : *arr) {
              if (!el.is_string()) return error = bad + "expected an array of strings", false;
              out.push_back(*el.value<std::string>());
            }
            config.*member = std::move(out);
          }
          return true;
        },
        s.field);
    if (!ok) return false;
  }
  return true;
}

bool apply_overrides(const std::vector<std::string>& overrides, ServerConfig& config,
                     std::string& error) {
  for (const std::string& o : overrides) {
    size_t eq = o.find('=');
    if (eq == std::string::npos) {
      error = "--set " + o + ": expected NAME=VALUE";
      return false;
    }
    std::string key = o.substr(0, eq);
    std::string value = o.substr(eq + 1);
    std::string table = "limits";
    if (!known(table, key)) {
      error = "--set: unknown key 'limits." + key + "'";
      return false;
    }
    // Reuse the file loader so the bounds and types are checked the same
    // way: parse "[limits]\nKEY = VALUE" from memory.
    std::string doc = "[limits]\n" + key + " = " + value + "\n";
    toml::table root;
    try {
      root = toml::parse(std::string_view(doc), std::string_view("--set"));
    } catch (const toml::parse_error& e) {
      error = "--set " + o + ": " + std::string(e.description());
      return false;
    }
    if (!apply_table(root, "--set", config, error)) return false;
  }
  return true;
}

bool validate_config(ServerConfig& config, std::string& error) {
  protocol::Jid domain;
  if (protocol::Jid::parse(config.domain, domain) != protocol::JidError::kOk ||
      domain.has_local() || !domain.is_bare()) {
    error = "server.domain: '" + config.domain + "' is not a valid domain";
    return false;
  }
  config.domain = domain.domain();
  if (config.cert.empty() != config.key.empty()) {
    error = "server.cert and server.key must be given together";
    return false;
  }
  if (!config.compact_listen.empty() && config.cert.empty()) {
    error = "server.compact_listen needs server.cert and server.key";
    return false;
  }
  if (!config.tls_listen.empty() && config.cert.empty()) {
    error = "server.tls_listen needs server.cert and server.key";
    return false;
  }
  if (config.cert.empty() && !config.allow_plaintext) {
    error = "no certificate: give server.cert/server.key, or allow_plaintext for loopback tests";
    return false;
  }
  if (config.listen.empty() && config.tls_listen.empty()) {
    error = "no listeners: give server.listen or server.tls_listen";
    return false;
  }
  net::HostPort metrics;
  if (!config.metrics.empty() && !net::parse_host_port(config.metrics, metrics)) {
    error = "server.metrics: '" + config.metrics + "' is not HOST:PORT";
    return false;
  }
  if (!config.cluster.empty()) {
    // The id is a NATS subject token and a KV key part (docs/cluster.md §2).
    const std::string& id = config.node_id;
    const bool id_ok =
        !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        });
    if (!id_ok) {
      error = "cluster.node_id: '" + id + "' must be 1-64 of A-Z a-z 0-9 _ - (cluster.url is set)";
      return false;
    }
    // Flags bypass the table's bounds; the same bounds again.
    if (config.cluster_replicas < 1 || config.cluster_replicas > 5 ||
        config.cluster_heartbeat_ms < 50 || config.cluster_heartbeat_ms > 60000) {
      error = "cluster: replicas must be 1-5 and heartbeat_ms 50-60000";
      return false;
    }
    if (config.cluster_dead_after_ms < 3 * config.cluster_heartbeat_ms) {
      error = "cluster.dead_after_ms must be at least 3 heartbeats";
      return false;
    }
  }
  return true;
}

std::string describe_config(const ServerConfig& config) {
  std::ostringstream out;
  const char* current = "";
  for (const Setting& s : kSettings) {
    if (std::string_view(current) != s.table) {
      out << (current[0] ? "\n" : "") << "[" << s.table << "]\n";
      current = s.table;
    }
    out << "# " << s.doc << "\n" << s.key << " = ";
    std::visit(
        [&](auto member) {
          using T = std::remove_cvref_t<decltype(config.*member)>;
          const T& v = config.*member;
          if constexpr (std::is_same_v<T, std::string>) {
            out << toml_quote(v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out << (v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, int64_t>) {
            out << v;
          } else {
            out << "[";
            for (size_t i = 0; i < v.size(); ++i) out << (i ? ", " : "") << toml_quote(v[i]);
            out << "]";
          }
        },
        s.field);
    out << "\n";
  }
  return out.str();
}

}  // namespace xd::server
