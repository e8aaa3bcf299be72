// xmppd: the server's entry point. Reads the configuration (TOML file and
// flags), then either checks it, runs an admin command on the account
// store, or runs the server until SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "server/admin.h"
#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

int main(int argc, char** argv) {
  using xd::server::ServerConfig;
  CLI::App app{"xmppd: an XMPP server for 1:1 chat"};
  ServerConfig config;
  std::string config_file;
  bool check_config = false;
  bool print_config = false;
  std::vector<std::string> listen, tls_listen, compact_listen;
  app.add_option("--config", config_file, "TOML configuration file");
  app.add_option("--domain", config.domain, "XMPP domain served");
  app.add_option("--listen", listen, "STARTTLS listener HOST:PORT (repeatable)");
  app.add_option("--tls-listen", tls_listen, "direct-TLS listener HOST:PORT (repeatable)");
  app.add_option("--compact-listen", compact_listen,
                 "direct compact-dialect listener HOST:PORT (repeatable; spec/compact.md §3.2)");
  std::string metrics;
  app.add_option("--metrics", metrics,
                 "Prometheus metrics endpoint HOST:PORT serving GET /metrics (off by default)");
  app.add_option("--data", config.data_dir, "LMDB data directory");
  std::string cluster, node_id;
  int64_t heartbeat_ms = 0, dead_after_ms = 0, replicas = 0;
  app.add_option("--cluster", cluster,
                 "run as a cluster node: NATS JetStream servers nats://HOST:PORT,... "
                 "(docs/cluster.md)");
  app.add_option("--node-id", node_id, "this node's id in the cluster");
  app.add_option("--cluster-replicas", replicas, "JetStream replicas (default 3)");
  app.add_option("--cluster-heartbeat-ms", heartbeat_ms, "directory heartbeat interval");
  bool no_journal = false;
  app.add_flag("--cluster-no-journal", no_journal,
               "no JetStream copy of same-node messages (faster; a dead node's disk then holds "
               "them until it returns)");
  app.add_option("--cluster-dead-after-ms", dead_after_ms,
                 "heartbeat silence after which a node counts as dead");
  app.add_option("--cert", config.cert, "PEM certificate chain");
  app.add_option("--key", config.key, "PEM private key");
  bool allow_registration = false, allow_plaintext = false;
  app.add_flag("--allow-registration", allow_registration, "open XEP-0077 in-band registration");
  app.add_flag("--allow-plaintext", allow_plaintext,
               "allow authentication without TLS (loopback tests, benchmarks)");
  std::string log_level;
  app.add_option("--log-level", log_level, "debug | info | warn | error | off");
  app.add_flag("--check-config", check_config, "validate the configuration and exit");
  app.add_flag("--print-config", print_config, "print every setting with its value and exit");
  std::vector<std::string> set_limits;
  app.add_option("--set", set_limits, "override a [limits] key: NAME=VALUE (repeatable)");

  auto* user = app.add_subcommand("user", "manage accounts in the store (also while running)");
  user->require_subcommand(1);
  std::string username, password;
  auto* add = user->add_subcommand("add", "create an account");
  add->add_option("username", username)->required();
  add->add_option("password", password, "password (read from stdin if omitted)");
  auto* del =
      user->add_subcommand("del", "remove an account, its roster, queue and end-to-end keys");
  del->add_option("username", username)->required();
  auto* passwd = user->add_subcommand("passwd", "set a new password");
  passwd->add_option("username", username)->required();
  passwd->add_option("password", password, "password (read from stdin if omitted)");
  user->add_subcommand("list", "list accounts");

  CLI11_PARSE(app, argc, argv);

  std::string error;
  if (!config_file.empty() && !xd::server::load_config_file(config_file, config, error)) {
    std::fprintf(stderr, "xmppd: %s\n", error.c_str());
    return 2;
  }
  // Flags override the file.
  if (!listen.empty()) config.listen = listen;
  if (!tls_listen.empty()) config.tls_listen = tls_listen;
  if (!compact_listen.empty()) config.compact_listen = compact_listen;
  if (!metrics.empty()) config.metrics = metrics;
  if (!cluster.empty()) config.cluster = cluster;
  if (!node_id.empty()) config.node_id = node_id;
  if (replicas > 0) config.cluster_replicas = replicas;
  if (heartbeat_ms > 0) config.cluster_heartbeat_ms = heartbeat_ms;
  if (dead_after_ms > 0) config.cluster_dead_after_ms = dead_after_ms;
  if (no_journal) config.cluster_journal = false;
  if (allow_registration) config.allow_registration = true;
  if (allow_plaintext) config.allow_plaintext = true;
  if (!log_level.empty()) config.log_level = log_level;
  if (!xd::server::apply_overrides(set_limits, config, error)) {
    std::fprintf(stderr, "xmppd: %s\n", error.c_str());
    return 2;
  }
  xd::server::LogLevel level;
  if (!xd::server::parse_log_level(config.log_level, level)) {
    std::fprintf(stderr, "xmppd: log_level: unknown level '%s'\n", config.log_level.c_str());
    return 2;
  }
  xd::server::set_log_level(level);

  if (user->parsed()) {
    xd::server::AdminCommand cmd;
    cmd.username = username;
    cmd.password = password;
    cmd.password_given = !password.empty();
    if (add->parsed()) cmd.kind = xd::server::AdminCommand::Kind::kAdd;
    if (del->parsed()) cmd.kind = xd::server::AdminCommand::Kind::kDel;
    if (passwd->parsed()) cmd.kind = xd::server::AdminCommand::Kind::kPasswd;
    if (user->got_subcommand("list")) cmd.kind = xd::server::AdminCommand::Kind::kList;
    return xd::server::run_admin(config, cmd);
  }

  if (config.listen.empty() && config.tls_listen.empty()) config.listen.push_back("127.0.0.1:5222");
  if (!xd::server::validate_config(config, error)) {
    std::fprintf(stderr, "xmppd: %s\n", error.c_str());
    return 2;
  }
  if (print_config) {
    std::fputs(xd::server::describe_config(config).c_str(), stdout);
    return 0;
  }
  if (check_config) {
    std::printf("configuration ok\n");
    return 0;
  }
  return xd::server::run_server(config);
}
