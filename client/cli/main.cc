// xmpp: the command-line client (architecture.md §8). How a person tries
// xmppd: register an account, send, chat with delivery states, read the
// local history, listen. Messages are end-to-end encrypted by default
// (spec/e2e.md); history, outbox and keys live in the account's local data
// directory (SQLite and a key file only the user can read).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "client/cli/account_config.h"
#include "client/cli/commands.h"

namespace {

bool read_first_line(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return false;
  }
  std::getline(in, out);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xd::client;
  CLI::App app{
      "xmpp: an XMPP client with end-to-end encryption, local history and delivery states.\n"
      "The account comes from --account (default ~/.config/xmpp/account.toml) and flags."};
  app.require_subcommand(1);
  app.fallthrough();

  CommandOptions options;
  options.account_file = default_account_file();
  std::string jid, password_file, passphrase_file, server, ca, data_dir, dialect, mechanism;
  bool direct_tls = false;
  app.add_option("--account", options.account_file, "account file (TOML)")->capture_default_str();
  app.add_option("--jid", jid, "the account, e.g. alice@example.org");
  app.add_option("--password-file", password_file,
                 "file whose first line is the password (or set XMPP_PASSWORD)");
  app.add_option("--server", server, "HOST:PORT to connect to (default: the JID's domain:5222)");
  app.add_option("--ca", ca,
                 "CA certificates (PEM) the server's certificate must chain to "
                 "(default: the system's)");
  app.add_flag("--direct-tls", direct_tls,
               "TLS from the first byte (XEP-0368) instead of STARTTLS");
  app.add_option("--dialect", dialect, "compact (when the server offers it) or xml")
      ->check(CLI::IsMember({"compact", "xml"}));
  app.add_option("--mechanism", mechanism,
                 "SASL mechanism, e.g. SCRAM-SHA-256-PLUS (default auto: the strongest SCRAM "
                 "the server offers, with channel binding when offered)");
  app.add_option("--data", data_dir, "local data directory (default ~/.local/share/xmpp/JID)");
  app.add_option("--passphrase-file", passphrase_file,
                 "file whose first line seals the local key file (or set XMPP_PASSPHRASE)");
  app.add_flag("--json", options.json, "one JSON object per line on stdout");
  app.add_option("--timeout", options.timeout_s, "seconds to wait for the server")
      ->capture_default_str();

  bool save = false;
  auto* reg = app.add_subcommand("register",
                                 "create the account on the server (in-band, "
                                 "XEP-0077), make this device's keys and publish them");
  reg->add_flag("--save", save, "write the account (with its password) to the account file");

  std::string peer, text;
  bool plaintext = false;
  auto* send = app.add_subcommand("send",
                                  "send one message; exits 0 once the server "
                                  "acknowledged it");
  send->add_option("jid", peer, "recipient")->required();
  send->add_option("text", text, "message text")->required();
  send->add_flag("--plaintext", plaintext,
                 "allow sending unencrypted when the recipient has no end-to-end keys");

  auto* chat = app.add_subcommand("chat",
                                  "live chat: each line of input is sent; shows incoming "
                                  "messages and each message's state (sent, delivered, "
                                  "read)");
  chat->add_option("jid", peer, "the other person")->required();
  chat->add_flag("--plaintext", plaintext,
                 "allow sending unencrypted when the other person has no end-to-end keys");
  chat->add_option("--linger", options.linger_s,
                   "at end of input, seconds to stay for receipts and read markers")
      ->capture_default_str();

  unsigned count = 0;
  bool catch_up = false;
  auto* listen = app.add_subcommand("listen", "receive and show messages (and send receipts)");
  listen->add_option("--count", count, "exit after this many messages");
  listen->add_flag("--catch-up", catch_up, "exit once the messages stored while offline are in");

  int limit = 50;
  auto* history = app.add_subcommand("history", "show the local history with someone (offline)");
  history->add_option("jid", peer, "the other person")->required();
  history->add_option("--limit", limit, "last N messages")->capture_default_str();

  std::string action = "list", contact, name;
  auto* contacts = app.add_subcommand("contacts", "list, add or remove local contacts");
  contacts->add_option("action", action, "list | add | remove")
      ->check(CLI::IsMember({"list", "add", "remove"}));
  contacts->add_option("contact", contact, "JID to add or remove");
  contacts->add_option("name", name, "display name (add)");

  auto* whoami = app.add_subcommand("whoami", "this device's id and identity fingerprint");

  CLI11_PARSE(app, argc, argv);

  std::string error;
  const bool explicit_file = app.count("--account") > 0;
  if (!load_account_file(options.account_file, explicit_file && !reg->parsed(), options.account,
                         error)) {
    std::fprintf(stderr, "xmpp: %s\n", error.c_str());
    return 1;
  }
  if (!jid.empty()) options.account.jid = jid;
  if (!server.empty()) options.account.server = server;
  if (!ca.empty()) options.account.ca_file = ca;
  if (direct_tls) options.account.direct_tls = true;
  if (!dialect.empty()) options.account.dialect = dialect;
  if (!mechanism.empty()) options.account.mechanism = mechanism;
  if (!data_dir.empty()) options.account.data_dir = data_dir;
  if (!password_file.empty()) {
    if (!read_first_line(password_file, options.account.password, error)) {
      std::fprintf(stderr, "xmpp: %s\n", error.c_str());
      return 1;
    }
  } else if (const char* p = std::getenv("XMPP_PASSWORD"); p && *p) {
    options.account.password = p;
  }
  if (!passphrase_file.empty()) {
    if (!read_first_line(passphrase_file, options.account.passphrase, error)) {
      std::fprintf(stderr, "xmpp: %s\n", error.c_str());
      return 1;
    }
  } else if (const char* p = std::getenv("XMPP_PASSPHRASE"); p && *p) {
    options.account.passphrase = p;
  }

  if (reg->parsed()) return run_register(options, save);
  if (send->parsed()) return run_send(options, peer, text, plaintext);
  if (chat->parsed()) return run_chat(options, peer, plaintext);
  if (listen->parsed()) return run_listen(options, count, catch_up);
  if (history->parsed()) return run_history(options, peer, limit);
  if (contacts->parsed()) {
    if (action != "list" && contact.empty()) {
      std::fprintf(stderr, "xmpp: contacts %s needs a JID\n", action.c_str());
      return 1;
    }
    return run_contacts(options, action, contact, name);
  }
  if (whoami->parsed()) return run_whoami(options);
  return 1;
}
