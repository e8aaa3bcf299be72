#include "client/cli/account_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/address.h"
#include "net/tls_context.h"
#include "protocol/jid/jid.h"

namespace xd::client {
namespace {

std::string home_dir() {
  const char* home = std::getenv("HOME");
  return home && *home ? home : "/";
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// TOML basic string: quotes, backslashes and control characters escaped.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
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
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string default_account_file() {
  return env_or("XDG_CONFIG_HOME", home_dir() + "/.config") + "/xmpp/account.toml";
}

std::string default_data_dir(const std::string& bare_jid) {
  return env_or("XDG_DATA_HOME", home_dir() + "/.local/share") + "/xmpp/" + bare_jid;
}

bool load_account_file(const std::string& path, bool required, AccountConfig& out,
                       std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT && !required) return true;
    error = "cannot read account file " + path + ": " + std::strerror(errno);
    return false;
  }
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    error = "account file " + path + " " + where.str() + ": " + std::string(e.description());
    return false;
  }
  static constexpr const char* kKnown[] = {"jid",     "password",  "server",
                                           "ca",      "tls_host",  "direct_tls",
                                           "dialect", "mechanism", "data_dir"};
  for (const auto& [key, value] : root) {
    bool known = false;
    for (const char* k : kKnown) known = known || key.str() == k;
    if (!known) {
      error = "account file " + path + ": unknown key '" + std::string(key.str()) + "'";
      return false;
    }
    if (std::string(key.str()) == "direct_tls") {
      if (!value.is_boolean()) {
        error = "account file " + path + ": 'direct_tls' must be true or false";
        return false;
      }
      out.direct_tls = value.as_boolean()->get();
      continue;
    }
    if (!value.is_string()) {
      error = "account file " + path + ": '" + std::string(key.str()) + "' must be a string";
      return false;
    }
    const std::string v = value.as_string()->get();
    const std::string k(key.str());
    if (k == "jid") out.jid = v;
    if (k == "password") out.password = v;
    if (k == "server") out.server = v;
    if (k == "ca") out.ca_file = v;
    if (k == "tls_host") out.tls_host = v;
    if (k == "dialect") out.dialect = v;
    if (k == "mechanism") out.mechanism = v;
    if (k == "data_dir") out.data_dir = v;
  }
  if (root.contains("password") && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    error = "account file " + path + " holds a password and others may read it: chmod 600 " + path;
    return false;
  }
  return true;
}

bool save_account_file(const std::string& path, const AccountConfig& config, std::string& error) {
  std::error_code ec;
  const std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    if (!ec) ::chmod(p.parent_path().c_str(), 0700);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create account file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string text = "# xmpp account (written by `xmpp register`)\n";
  text += "jid = " + toml_string(config.jid) + "\n";
  text += "password = " + toml_string(config.password) + "\n";
  if (!config.server.empty()) text += "server = " + toml_string(config.server) + "\n";
  if (!config.ca_file.empty()) text += "ca = " + toml_string(config.ca_file) + "\n";
  if (!config.tls_host.empty()) text += "tls_host = " + toml_string(config.tls_host) + "\n";
  if (config.direct_tls) text += "direct_tls = true\n";
  if (config.dialect != "compact") text += "dialect = " + toml_string(config.dialect) + "\n";
  if (!config.data_dir.empty()) text += "data_dir = " + toml_string(config.data_dir) + "\n";
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "cannot write account file " + path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    error = "cannot write account file " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool make_session_config(const AccountConfig& config, const std::string& resource,
                         std::unique_ptr<net::TlsContext>& tls, SessionConfig& session,
                         std::string& error) {
  protocol::Jid jid;
  if (config.jid.empty()) {
    error = "no account: give --jid (or an account file; see `xmpp register --help`)";
    return false;
  }
  if (protocol::Jid::parse(config.jid, jid) != protocol::JidError::kOk || !jid.has_local() ||
      !jid.is_bare()) {
    error = "'" + config.jid + "' is not a bare JID like alice@example.org";
    return false;
  }
  if (config.password.empty()) {
    error = "no password: give --password-file, XMPP_PASSWORD or the account file's password";
    return false;
  }
  net::HostPort hp;
  const std::string server = config.server.empty()
                                 ? jid.domain() + (config.direct_tls ? ":5223" : ":5222")
                                 : config.server;
  if (!net::parse_host_port(server, hp) || hp.port == 0) {
    error = "'" + server + "' is not HOST:PORT";
    return false;
  }
  // The one blocking lookup, before the loop runs.
  std::string numeric;
  if (net::is_ip_literal(hp.host)) {
    numeric = hp.host.find(':') != std::string::npos ? "[" + hp.host + "]" : hp.host;
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(hp.host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
      error = "cannot resolve server " + hp.host + ": " + ::gai_strerror(rc);
      return false;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (res->ai_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf,
                  sizeof buf);
      numeric = buf;
    } else {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, buf,
                  sizeof buf);
      numeric = std::string("[") + buf + "]";
    }
    ::freeaddrinfo(res);
  }
  session.server = numeric + ":" + std::to_string(hp.port);
  session.domain = jid.domain();
  session.username = jid.local();
  session.password = config.password;
  session.resource = resource;
  session.auto_mech = config.mechanism == "auto";
  if (!session.auto_mech && !sasl_mech_from_name(config.mechanism, session.mech)) {
    error = "unknown SASL mechanism '" + config.mechanism + "'";
    return false;
  }
  net::TlsClientOptions options;
  if (config.direct_tls) options.alpn = {"xmpp-client"};
  tls = net::TlsContext::client(config.ca_file, error, options);
  if (!tls) {
    error = "TLS setup: " + error;
    return false;
  }
  session.tls = tls.get();
  session.direct_tls = config.direct_tls;
  session.tls_host = config.tls_host;
  if (config.dialect != "compact" && config.dialect != "xml") {
    error = "dialect must be compact or xml, not '" + config.dialect + "'";
    return false;
  }
  session.compact = config.dialect == "compact";
  return true;
}

}  // namespace xd::client
