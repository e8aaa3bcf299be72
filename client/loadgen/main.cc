// xd-loadgen: a load generator that speaks standard XMPP (RFC 6120/6121) to
// any server: in-band registration and login rates, message throughput with
// loss/duplicate/reorder accounting, latency at a fixed rate, idle
// connections for memory measurements, and
// the durable queue: store rate to offline accounts bounded by XEP-0198
// acks, and the delivery time of an offline backlog. One process, one
// thread, one NetLoop; see load_runner.h and delivery_runner.h for the
// output.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "client/loadgen/delivery_runner.h"
#include "client/loadgen/load_runner.h"
#include "net/net_loop.h"

int main(int argc, char** argv) {
  using xd::client::LoadMode;
  using xd::client::LoadOptions;
  LoadOptions options;
  CLI::App app{"xd-loadgen: XMPP load generator"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string mech = "scram-sha-1";
  app.add_option("--server", options.server, "numeric IP:PORT of the server")
      ->capture_default_str();
  app.add_option("--receiver-server", options.receiver_server,
                 "throughput, latency: receivers connect to this IP:PORT (another cluster node)");
  app.add_option("--domain", options.domain, "XMPP domain")->capture_default_str();
  app.add_option("--users", options.users, "accounts PREFIX0..PREFIX{N-1}")->capture_default_str();
  app.add_option("--user-prefix", options.user_prefix, "account name prefix")
      ->capture_default_str();
  app.add_option("--password", options.password, "password of every account")
      ->capture_default_str();
  app.add_option("--mech,--mechanism", mech,
                 "SASL mechanism, any case: scram-sha-1 | scram-sha-256 | scram-sha-1-plus | "
                 "scram-sha-256-plus | plain (-plus needs --tls or --direct-tls)")
      ->capture_default_str();
  bool plain = false;
  app.add_flag("--plain", plain, "shorthand for --mech plain");
  app.add_flag("--tls", options.tls, "STARTTLS before authenticating");
  app.add_flag("--direct-tls", options.direct_tls,
               "TLS from the first byte (XEP-0368, ALPN xmpp-client) instead of STARTTLS");
  app.add_option("--channel-binding", options.channel_binding,
                 "channel binding of -plus mechanisms: tls-exporter | tls-server-end-point")
      ->capture_default_str();
  app.add_option("--dialect", options.dialect,
                 "compact (when offered, over TLS), xml, or mixed (senders compact, receivers "
                 "XML; spec/compact.md)")
      ->check(CLI::IsMember({"compact", "xml", "mixed"}))
      ->capture_default_str();
  bool no_compression = false;
  app.add_flag("--no-compression", no_compression, "no zstd frames in the compact dialect");
  app.add_option("--ca", options.ca_file, "CA file (PEM) to verify the server; default system");
  app.add_option("--tls-host", options.tls_host,
                 "name the certificate must match (default domain)");
  app.add_option("--concurrency", options.concurrency, "logins in progress at once")
      ->capture_default_str();
  app.add_option("--login-timeout", options.login_timeout, "seconds before giving up on logins")
      ->capture_default_str();
  bool no_key_cache = false;
  app.add_flag("--no-key-cache", no_key_cache,
               "derive SCRAM's SaltedPassword (PBKDF2) at every login instead of caching it "
               "per account as real clients do (RFC 5802 section 5.1)");
  app.add_option("--first-index", options.first_index,
                 "first account (register) or connection number, to split a run over processes")
      ->capture_default_str();

  auto* reg = app.add_subcommand(
      "register", "XEP-0077 in-band registration rate: PREFIX<first>.. each created and logged in");
  reg->add_option("--connections", options.connections, "accounts to register")
      ->capture_default_str();

  auto* login = app.add_subcommand("login", "measure completed logins per second");
  login->add_option("--connections", options.connections, "logins to perform")
      ->capture_default_str();
  auto* throughput = app.add_subcommand("throughput", "closed-loop message throughput");
  throughput->add_option("--pairs", options.pairs, "sender/receiver pairs")->capture_default_str();
  throughput->add_option("--window", options.window, "messages in flight per pair")
      ->capture_default_str();
  throughput->add_option("--seconds", options.seconds, "measurement window")->capture_default_str();
  throughput->add_option("--grace", options.grace_seconds, "seconds to wait for stragglers")
      ->capture_default_str();
  throughput->add_flag("--per-pair", options.per_pair, "print every pair with an anomaly");
  auto* latency = app.add_subcommand(
      "latency", "open-loop latency at a fixed rate (p50/p90/p99/p99.9/max from body stamps)");
  latency->add_option("--pairs", options.pairs, "sender/receiver pairs")->capture_default_str();
  latency->add_option("--rate", options.rate, "messages per second over all pairs")
      ->capture_default_str();
  latency->add_option("--seconds", options.seconds, "sending window")->capture_default_str();
  latency->add_option("--grace", options.grace_seconds, "seconds to wait for stragglers")
      ->capture_default_str();
  latency->add_flag("--per-pair", options.per_pair, "print every pair with an anomaly");
  auto* idle = app.add_subcommand("idle", "log in and hold connections");
  idle->add_option("--connections", options.connections, "connections to hold")
      ->capture_default_str();
  idle->add_option("--hold", options.hold_seconds, "seconds to hold (0: until SIGINT)")
      ->capture_default_str();

  auto* store = app.add_subcommand(
      "store", "offline store rate: senders with XEP-0198 to accounts nobody logs in to");
  store->add_option("--senders", options.senders, "sender connections (XEP-0198 enabled)")
      ->capture_default_str();
  store->add_option("--window", options.sm_window, "unacknowledged messages per sender")
      ->capture_default_str();
  store
      ->add_option("--offline-prefix", options.offline_prefix,
                   "offline accounts PREFIX0..PREFIX{M-1} (must exist, never logged in)")
      ->capture_default_str();
  store->add_option("--offline-users", options.offline_users, "offline accounts written to")
      ->capture_default_str();
  store->add_option("--seconds", options.seconds, "measurement window")->capture_default_str();
  store->add_option("--grace", options.grace_seconds, "seconds to wait for the last acks")
      ->capture_default_str();
  auto* backlog = app.add_subcommand(
      "backlog", "store messages for one offline account, log it in, time the catch-up");
  backlog->add_option("--senders", options.senders, "sender connections (XEP-0198 enabled)")
      ->capture_default_str();
  backlog->add_option("--window", options.sm_window, "unacknowledged messages per sender")
      ->capture_default_str();
  backlog
      ->add_option("--offline-prefix", options.offline_prefix,
                   "the receiver is account PREFIX0 (must exist, not logged in)")
      ->capture_default_str();
  backlog->add_option("--messages", options.backlog, "messages stored before the login")
      ->capture_default_str();
  backlog
      ->add_option("--timeout", options.backlog_timeout,
                   "seconds for each of storing and catching up")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  options.compression = !no_compression;
  options.key_cache = !no_key_cache;
  if (reg->parsed()) options.mode = LoadMode::kRegister;
  if (latency->parsed()) options.mode = LoadMode::kLatency;
  if (login->parsed()) options.mode = LoadMode::kLogin;
  if (throughput->parsed()) options.mode = LoadMode::kThroughput;
  if (idle->parsed()) options.mode = LoadMode::kIdle;
  if (store->parsed()) options.mode = LoadMode::kStore;
  if (backlog->parsed()) options.mode = LoadMode::kBacklog;
  if (plain) mech = "plain";
  if (!xd::client::sasl_mech_from_name(mech, options.mech)) {
    std::fprintf(stderr, "xd-loadgen: unknown --mech %s\n", mech.c_str());
    return 2;
  }
  if (xd::client::sasl_mech_is_plus(options.mech) && !options.tls && !options.direct_tls) {
    std::fprintf(stderr, "xd-loadgen: %s binds to TLS: add --tls or --direct-tls\n", mech.c_str());
    return 2;
  }
  if (options.channel_binding != "tls-exporter" &&
      options.channel_binding != "tls-server-end-point") {
    std::fprintf(stderr, "xd-loadgen: unknown --channel-binding %s\n",
                 options.channel_binding.c_str());
    return 2;
  }
  if (options.concurrency == 0) options.concurrency = 1;

  int code = 0;
  xd::net::NetLoop loop;
  auto run = [&](auto& runner) {
    std::string error;
    if (!runner.start(error)) {
      std::fprintf(stderr, "xd-loadgen: %s\n", error.c_str());
      code = 2;
    } else {
      loop.run();
      code = runner.exit_code();
    }
    runner.shutdown();
  };
  if (options.mode == LoadMode::kStore || options.mode == LoadMode::kBacklog) {
    xd::client::DeliveryRunner runner(loop, options);
    run(runner);
  } else {
    xd::client::LoadRunner runner(loop, options);
    run(runner);
  }
  if (!loop.close()) std::fprintf(stderr, "xd-loadgen: loop did not close cleanly\n");
  return code;
}
