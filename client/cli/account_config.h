// AccountConfig: who the `xmpp` CLI is and where it connects, merged from an
// account file (TOML, mode 0600 because it may hold the password) and
// command-line flags (flags win), plus where the account's local data
// lives. It resolves the server's host name once, before the event loop
// starts (the CLI's only blocking lookup). Never prints; errors are
// returned as one line a person can act on.
#pragma once

#include <cstdint>
#include <string>

#include "client/session/login_session.h"

namespace xd::client {

struct AccountConfig {
  std::string jid;  // bare JID, e.g. "alice@example.org"
  std::string password;
  std::string server;               // "HOST:PORT"; default the JID's domain, port 5222
  std::string ca_file;              // PEM CA bundle; empty: the system's CAs
  std::string tls_host;             // name the certificate must match (default: domain)
  bool direct_tls = false;          // XEP-0368 instead of STARTTLS
  std::string dialect = "compact";  // compact (when offered) | xml
  // A SASL mechanism name, or "auto": the strongest SCRAM offered, with
  // channel binding (-PLUS) when the server offers it.
  std::string mechanism = "auto";
  std::string data_dir;    // the account's local data (store + key file)
  std::string passphrase;  // seals the key file when non-empty
};

// The default account file: $XDG_CONFIG_HOME/xmpp/account.toml or
// ~/.config/xmpp/account.toml.
std::string default_account_file();
// The default data directory of |bare_jid|: $XDG_DATA_HOME/xmpp/JID or
// ~/.local/share/xmpp/JID.
std::string default_data_dir(const std::string& bare_jid);

// Reads |path| into |out| (keys jid, password, server, ca, tls_host,
// direct_tls, dialect, mechanism, data_dir). A missing file is not an error
// when |required| is false. Refuses a file that group or others may read
// when it holds a password.
bool load_account_file(const std::string& path, bool required, AccountConfig& out,
                       std::string& error);
// Writes |config| to |path| (created 0600, parents 0700); refuses to
// overwrite an existing file.
bool save_account_file(const std::string& path, const AccountConfig& config, std::string& error);

// Validates the merged configuration and fills |session| (the server
// resolved to a numeric address; domain, username, resource from the JID).
// |tls| must outlive the session and is created here from ca_file.
bool make_session_config(const AccountConfig& config, const std::string& resource,
                         std::unique_ptr<net::TlsContext>& tls, SessionConfig& session,
                         std::string& error);

}  // namespace xd::client
