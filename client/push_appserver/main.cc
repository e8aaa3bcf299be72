// xd-push-appserver: a reference XEP-0357 app server. It logs in to xmppd
// (or any XMPP server) as an ordinary client and turns every push
// notification the server publishes to it into one JSON line: on stdout,
// or on the stdin of a command run through /bin/sh. See app_server.h.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "client/push_appserver/app_server.h"
#include "net/net_loop.h"
#include "protocol/jid/jid.h"

namespace {

std::uint64_t to_ms(double seconds) {
  return seconds <= 0 ? 0 : static_cast<std::uint64_t>(seconds * 1000 + 0.5);
}

}  // namespace

int main(int argc, char** argv) {
  xd::client::AppServerOptions options;
  CLI::App app{
      "xd-push-appserver: XEP-0357 app server; prints one JSON line per push notification"};
  std::string jid_text;
  std::string password_file;
  std::string mech = "scram-sha-256";
  bool tls = false;
  bool plaintext = false;
  double command_timeout = 30;
  double reconnect_min = 1;
  double reconnect_max = 60;
  double keepalive = 60;
  double login_timeout = 30;
  app.add_option("--server", options.server, "HOST:PORT of the XMPP server")->required();
  app.add_option("--jid", jid_text, "the app server's JID, e.g. push@localhost/app")->required();
  auto* password = app.add_option("--password", options.password, "password of the account");
  app.add_option("--password-file", password_file,
                 "read the password from this file (first line) instead")
      ->excludes(password);
  app.add_flag("--tls", tls, "STARTTLS before authenticating (the default)");
  app.add_flag("--plaintext", plaintext,
               "no TLS, for servers started with --allow-plaintext (loopback tests)");
  app.add_option("--ca", options.ca_file, "CA file (PEM) to verify the server; default system");
  app.add_option("--tls-host", options.tls_host,
                 "name the certificate must match (default: the JID's domain)");
  app.add_option("--mech,--mechanism", mech,
                 "SASL mechanism: scram-sha-1 | scram-sha-256 | scram-sha-1-plus | "
                 "scram-sha-256-plus | plain")
      ->capture_default_str();
  app.add_option("--command", options.command,
                 "run this via /bin/sh for each notification, the JSON line on its stdin "
                 "(default: print the line on stdout)");
  app.add_option("--command-timeout", command_timeout, "seconds before a command is killed")
      ->capture_default_str();
  app.add_option("--max-running", options.max_running, "commands running at once")
      ->capture_default_str();
  app.add_option("--max-queued", options.max_queued,
                 "notifications waiting for a command slot before resource-constraint")
      ->capture_default_str();
  app.add_option("--reconnect-min", reconnect_min, "first reconnect delay, seconds")
      ->capture_default_str();
  app.add_option("--reconnect-max", reconnect_max, "largest reconnect delay, seconds")
      ->capture_default_str();
  app.add_option("--keepalive", keepalive,
                 "ping the server after this many quiet seconds; no answer by the next "
                 "tick reconnects (0: off)")
      ->capture_default_str();
  app.add_option("--login-timeout", login_timeout,
                 "seconds from connecting to a bound session before the attempt is retried")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (tls && plaintext) {
    std::fprintf(stderr, "xd-push-appserver: --tls and --plaintext exclude each other\n");
    return 2;
  }
  options.tls = !plaintext;
  xd::protocol::Jid jid;
  if (xd::protocol::Jid::parse(jid_text, jid) != xd::protocol::JidError::kOk || !jid.has_local()) {
    std::fprintf(stderr, "xd-push-appserver: --jid must be user@domain[/resource]\n");
    return 2;
  }
  options.username = jid.local();
  options.domain = jid.domain();
  options.resource = jid.resource();
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    if (!in || !std::getline(in, options.password)) {
      std::fprintf(stderr, "xd-push-appserver: cannot read %s\n", password_file.c_str());
      return 2;
    }
  }
  if (options.password.empty()) {
    std::fprintf(stderr, "xd-push-appserver: --password or --password-file is required\n");
    return 2;
  }
  if (!xd::client::sasl_mech_from_name(mech, options.mech)) {
    std::fprintf(stderr, "xd-push-appserver: unknown --mech %s\n", mech.c_str());
    return 2;
  }
  if (xd::client::sasl_mech_is_plus(options.mech) && !options.tls) {
    std::fprintf(stderr, "xd-push-appserver: %s binds to TLS: drop --plaintext\n", mech.c_str());
    return 2;
  }
  if (reconnect_min <= 0 || reconnect_max < reconnect_min) {
    std::fprintf(stderr, "xd-push-appserver: need 0 < --reconnect-min <= --reconnect-max\n");
    return 2;
  }
  if (login_timeout <= 0) {
    std::fprintf(stderr, "xd-push-appserver: --login-timeout must be positive\n");
    return 2;
  }
  if (command_timeout <= 0) {
    std::fprintf(stderr, "xd-push-appserver: --command-timeout must be positive\n");
    return 2;
  }
  options.command_timeout_ms = to_ms(command_timeout);
  options.reconnect_min_ms = std::max<std::uint64_t>(to_ms(reconnect_min), 1);
  options.reconnect_max_ms = std::max(to_ms(reconnect_max), options.reconnect_min_ms);
  options.keepalive_ms = to_ms(keepalive);
  options.login_timeout_ms = to_ms(login_timeout);

  int code = 0;
  xd::net::NetLoop loop;
  {
    xd::client::AppServer server(loop, options);
    std::string error;
    if (!server.start(error)) {
      std::fprintf(stderr, "xd-push-appserver: %s\n", error.c_str());
      code = 2;
    } else {
      loop.run();
    }
    server.shutdown();
  }
  if (!loop.close()) std::fprintf(stderr, "xd-push-appserver: loop did not close cleanly\n");
  return code;
}
