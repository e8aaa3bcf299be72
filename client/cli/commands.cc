#include "client/cli/commands.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string_view>

#include "client/chat/chat_client.h"
#include "client/session/json_string.h"
#include "client/store/client_store.h"
#include "client/store/key_file.h"
#include "net/line_reader.h"
#include "net/net_loop.h"
#include "net/signal_watcher.h"
#include "net/timer.h"
#include "protocol/jid/jid.h"

namespace xd::client {
namespace {

// ---- Output -------------------------------------------------------------

std::string clock_of(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M", &tm);
  return buf;
}

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void print_error(const std::string& line) {
  std::fprintf(stderr, "xmpp: %s\n", line.c_str());
  std::fflush(stderr);
}

std::string message_json(const char* event, const StoredMessage& m) {
  std::string out = "{\"event\":";
  out += json_string(event);
  out += ",\"id\":" + json_string(m.origin_id);
  out += ",\"peer\":" + json_string(m.peer);
  out += ",\"direction\":" + json_string(m.direction == MessageDirection::kIn ? "in" : "out");
  out += ",\"state\":" + json_string(message_state_name(m.state));
  out += ",\"encrypted\":" + std::string(m.encrypted ? "true" : "false");
  out += ",\"ts_ms\":" + std::to_string(m.ts_ms);
  out += ",\"body\":" + json_string(m.body);
  if (!m.error.empty()) out += ",\"error\":" + json_string(m.error);
  return out + "}";
}

std::string message_text(const StoredMessage& m) {
  std::string line = "[" + clock_of(m.ts_ms) + "] ";
  if (m.direction == MessageDirection::kIn) {
    line += m.peer + ": " + m.body;
  } else {
    line +=
        "me -> " + m.peer + ": " + m.body + "  (" + std::string(message_state_name(m.state)) + ")";
  }
  if (!m.encrypted) line += "  [not encrypted]";
  return line;
}

// Turns a session's failure reason into what a person can act on.
std::string explain_failure(std::string_view reason, const AccountConfig& account) {
  const std::string r(reason);
  if (r.find("not-authorized") != std::string::npos) {
    return "login refused: wrong password or no such account (" + account.jid + ")";
  }
  if (r.find("certificate") != std::string::npos || r.find("tls-handshake") != std::string::npos) {
    return "the server's certificate is not trusted for this domain (" + r +
           "); give the right CA with --ca";
  }
  if (r.find("connect-failed") != std::string::npos ||
      r.find("ECONNREFUSED") != std::string::npos) {
    return "cannot reach the server " +
           (account.server.empty() ? "of " + account.jid : account.server) + " (" + r + ")";
  }
  if (r.find("no starttls") != std::string::npos) {
    return "the server (or something between) does not offer STARTTLS: refusing to send the "
           "password in the clear";
  }
  if (r.find("registration refused: conflict") != std::string::npos) {
    return "that account already exists";
  }
  return r;
}

// ---- The local store ----------------------------------------------------

struct OpenedStore {
  std::unique_ptr<ClientStore> store;
};

bool open_store(const AccountConfig& account, bool create, OpenedStore& out, std::string& error) {
  if (account.jid.empty()) {
    error = "no account: give --jid or an account file";
    return false;
  }
  const std::string dir =
      account.data_dir.empty() ? default_data_dir(account.jid) : account.data_dir;
  std::error_code ec;
  if (!std::filesystem::exists(dir)) {
    if (!create) {
      error = "no local data for " + account.jid + " in " + dir +
              " (run `xmpp register` or any online command first)";
      return false;
    }
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      error = "cannot create " + dir + ": " + ec.message();
      return false;
    }
  }
  ::chmod(dir.c_str(), 0700);
  const std::string key_path = dir + "/storage.key";
  StorageKey key;
  KeyFileError ke = open_key_file(key_path, account.passphrase, key);
  if (ke == KeyFileError::kNotFound && create) {
    ke = create_key_file(key_path, account.passphrase, key);
  }
  if (ke != KeyFileError::kOk) {
    error = key_path + ": " + std::string(key_file_error_message(ke));
    if (ke == KeyFileError::kNeedPassphrase || ke == KeyFileError::kWrongPassphrase) {
      error += " (give it with --passphrase-file or XMPP_PASSPHRASE)";
    }
    return false;
  }
  const ClientStoreError se = ClientStore::open(dir + "/history.db", key, out.store);
  if (se != ClientStoreError::kOk) {
    error = dir + "/history.db: " + std::string(client_store_error_message(se));
    return false;
  }
  return true;
}

// ---- One online command -------------------------------------------------

// The parts every online command shares: the loop, the session's TLS, the
// store, the client, a deadline and SIGINT/SIGTERM. A command subclasses
// it and reacts to the ChatObserver calls.
class OnlineCommand : public ChatObserver {
 public:
  explicit OnlineCommand(const CommandOptions& options) : options_(options) {}

  int run(bool available, bool carbons, bool register_account, std::uint64_t deadline_s) {
    std::string error;
    if (!open_store(options_.account, /*create=*/true, store_, error)) {
      print_error(error);
      return 1;
    }
    ChatConfig config;
    if (!make_session_config(options_.account, resource(), tls_, config.session, error)) {
      print_error(error);
      return 1;
    }
    config.session.register_account = register_account;
    config.available = available;
    config.carbons = carbons;
    client_ = std::make_unique<ChatClient>(loop_, config, *store_.store, *this);
    if (!client_->start(error)) {
      print_error(explain_failure(error, options_.account));
      return 2;
    }
    if (deadline_s > 0) {
      deadline_ = std::make_unique<net::Timer>(loop_, [this] { on_deadline(); });
      deadline_->start(deadline_s * 1000);
    }
    sigint_ = std::make_unique<net::SignalWatcher>(loop_, SIGINT, [this] { finish(exit_code_); });
    sigterm_ = std::make_unique<net::SignalWatcher>(loop_, SIGTERM, [this] { finish(exit_code_); });
    sigint_->unref();
    sigterm_->unref();
    before_run();
    loop_.run();
    return exit_code_;
  }

 protected:
  // The resource: the host name and a short random tag, so two CLI runs
  // of one account on one machine are two devices to the server.
  static std::string resource() {
    char host[64] = "cli";
    ::gethostname(host, sizeof host - 1);
    unsigned char r[3];
    randombytes_buf(r, sizeof r);
    char tag[8];
    std::snprintf(tag, sizeof tag, "%02x%02x%02x", r[0], r[1], r[2]);
    return std::string("xmpp-") + host + "-" + tag;
  }

  virtual void before_run() {}
  virtual void on_deadline() {
    print_error("timed out");
    finish(3);
  }

  void on_notice(std::string_view text) override {
    if (options_.json) {
      print_line("{\"event\":\"notice\",\"text\":" + json_string(text) + "}");
    } else {
      std::fprintf(stderr, "xmpp: %.*s\n", static_cast<int>(text.size()), text.data());
    }
  }

  void on_ended(std::string_view error) override {
    if (!error.empty() && !finishing_) {
      print_error(explain_failure(error, options_.account));
      exit_code_ = 2;
    }
    stop_handles();
  }

  // Ends the run with |code|: closes the stream, and the loop then ends.
  void finish(int code) {
    if (finishing_) return;
    finishing_ = true;
    exit_code_ = code;
    if (client_) client_->close();
  }

  void stop_handles() {
    deadline_.reset();
    sigint_.reset();
    sigterm_.reset();
    extra_stop();
  }
  virtual void extra_stop() {}

  const CommandOptions& options_;
  net::NetLoop loop_;
  OpenedStore store_;
  std::unique_ptr<net::TlsContext> tls_;
  std::unique_ptr<ChatClient> client_;
  std::unique_ptr<net::Timer> deadline_;
  std::unique_ptr<net::SignalWatcher> sigint_;
  std::unique_ptr<net::SignalWatcher> sigterm_;
  int exit_code_ = 0;
  bool finishing_ = false;
};

// ---- register -----------------------------------------------------------

class RegisterCommand : public OnlineCommand {
 public:
  RegisterCommand(const CommandOptions& options, bool save) : OnlineCommand(options), save_(save) {}

  void on_ready() override {
    std::string saved;
    if (save_) {
      std::string error;
      if (!save_account_file(options_.account_file, options_.account, error)) {
        print_error(error);
      } else {
        saved = options_.account_file;
      }
    }
    if (options_.json) {
      print_line("{\"event\":\"registered\",\"jid\":" + json_string(client_->bare_jid()) +
                 ",\"device\":" + std::to_string(client_->device_id()) +
                 ",\"fingerprint\":" + json_string(client_->device().fingerprint()) +
                 ",\"account_file\":" + json_string(saved) + "}");
    } else {
      print_line("registered " + client_->bare_jid() + ", device " +
                 std::to_string(client_->device_id()));
      print_line("fingerprint: " + client_->device().fingerprint());
      if (!saved.empty()) print_line("account saved in " + saved);
    }
    finish(0);
  }
  void on_message(const StoredMessage&) override {}
  void on_state(const StoredMessage&) override {}

 private:
  bool save_;
};

// ---- send ---------------------------------------------------------------

class SendCommand : public OnlineCommand {
 public:
  SendCommand(const CommandOptions& options, std::string peer, std::string text, bool plaintext)
      : OnlineCommand(options),
        peer_(std::move(peer)),
        text_(std::move(text)),
        plaintext_(plaintext) {}

  void on_ready() override {
    client_->send_text(peer_, text_, plaintext_,
                       [this](const std::string& id, const std::string& error) {
                         if (!error.empty()) {
                           print_error(error);
                           finish(4);
                           return;
                         }
                         id_ = id;
                       });
  }
  void on_state(const StoredMessage& m) override {
    if (m.origin_id != id_) return;
    if (m.state == MessageState::kFailed) {
      print_error("the server refused the message: " + m.error);
      finish(4);
    } else if (m.state != MessageState::kQueued) {
      // XEP-0198: the server took responsibility for it.
      if (options_.json) {
        print_line(message_json("sent", m));
      } else {
        print_line("sent " + m.origin_id +
                   (m.encrypted ? " (end-to-end encrypted)" : " (NOT encrypted)"));
      }
      finish(0);
    }
  }
  void on_message(const StoredMessage&) override {}
  void on_deadline() override {
    if (id_.empty()) {
      print_error("timed out before the message could be queued");
    } else {
      print_error("the server did not acknowledge message " + id_ +
                  " in time; it stays in the outbox and is resent next time");
    }
    finish(3);
  }

 private:
  std::string peer_;
  std::string text_;
  bool plaintext_;
  std::string id_;
};

// ---- listen -------------------------------------------------------------

class ListenCommand : public OnlineCommand {
 public:
  ListenCommand(const CommandOptions& options, unsigned count, bool catch_up)
      : OnlineCommand(options), count_(count), catch_up_(catch_up) {}

  void on_ready() override {
    if (options_.json) {
      print_line("{\"event\":\"ready\",\"jid\":" + json_string(client_->jid()) + "}");
    } else {
      print_line("listening as " + client_->jid());
    }
  }
  void on_message(const StoredMessage& m) override {
    print_line(options_.json ? message_json("message", m) : message_text(m));
    if (count_ > 0 && ++seen_ >= count_) done();
  }
  // Exits once the server acknowledged what we sent (the outbox resent at
  // start, receipts), so nothing is left half-done in the local state.
  void done() {
    if (done_) return;
    done_ = true;
    client_->when_acknowledged([this] { finish(0); });
  }
  void on_state(const StoredMessage& m) override {
    if (options_.json) {
      print_line(message_json("state", m));
    } else {
      print_line("  " + m.origin_id + " to " + m.peer + ": " +
                 std::string(message_state_name(m.state)));
    }
  }
  void on_caught_up(unsigned count) override {
    if (options_.json) {
      print_line("{\"event\":\"caught-up\",\"count\":" + std::to_string(count) + "}");
    }
    if (catch_up_) done();
  }
  void on_deadline() override { finish(count_ > 0 || catch_up_ ? 3 : 0); }

 private:
  unsigned count_;
  bool catch_up_;
  unsigned seen_ = 0;
  bool done_ = false;
};

// ---- chat ---------------------------------------------------------------

class ChatCommand : public OnlineCommand {
 public:
  ChatCommand(const CommandOptions& options, std::string peer, bool plaintext)
      : OnlineCommand(options), peer_(std::move(peer)), plaintext_(plaintext) {
    protocol::Jid jid;
    if (protocol::Jid::parse(peer_, jid) == protocol::JidError::kOk) peer_ = jid.bare_str();
  }

  void before_run() override {}

  void on_ready() override {
    if (options_.json) {
      print_line("{\"event\":\"ready\",\"jid\":" + json_string(client_->jid()) +
                 ",\"peer\":" + json_string(peer_) + "}");
    } else {
      print_line("chatting with " + peer_ + " as " + client_->jid() +
                 " (type a line to send it; Ctrl-D or /quit ends)");
    }
    if (reader_) return;
    reader_ = std::make_unique<net::LineReader>(
        loop_, [this](std::string_view line) { on_line(line); },
        [this](net::NetStatus) { input_done(); });
    net::NetStatus status;
    if (!reader_->start(STDIN_FILENO, status)) {
      print_error("cannot read standard input: " + status.to_string());
      finish(1);
    }
  }

  void on_line(std::string_view line) {
    if (line == "/quit") {
      input_done();
      return;
    }
    if (line.empty()) return;
    ++in_flight_;
    client_->send_text(peer_, std::string(line), plaintext_,
                       [this](const std::string& /*id*/, const std::string& error) {
                         --in_flight_;
                         if (!error.empty()) print_error(error);
                         maybe_finish();
                       });
  }

  void input_done() {
    eof_ = true;
    reader_.reset();
    maybe_finish();
  }

  // At the end of input: stay until every message was acknowledged, and
  // then for --linger seconds to show receipts and markers.
  void maybe_finish() {
    if (!eof_ || in_flight_ > 0 || waiting_ || finishing_) return;
    waiting_ = true;
    client_->when_acknowledged([this] {
      linger_ = std::make_unique<net::Timer>(loop_, [this] { finish(0); });
      linger_->start(static_cast<std::uint64_t>(linger_ms_));
    });
  }

  void on_message(const StoredMessage& m) override {
    if (m.peer != peer_) {
      if (!options_.json) print_line("(from " + m.peer + ") " + m.body);
    } else {
      print_line(options_.json ? message_json("message", m) : message_text(m));
      // XEP-0333: shown in the chat window: read.
      if (m.direction == MessageDirection::kIn && m.id != 0)
        client_->mark_displayed(m.peer, m.origin_id);
    }
  }
  void on_state(const StoredMessage& m) override {
    if (options_.json) {
      print_line(message_json("state", m));
    } else if (m.state == MessageState::kQueued) {
      print_line(message_text(m));
    } else {
      print_line("  " + m.origin_id.substr(0, 8) + " " + std::string(message_state_name(m.state)) +
                 (m.error.empty() ? "" : ": " + m.error));
    }
    maybe_finish();
  }
  void on_deadline() override {}
  void extra_stop() override {
    reader_.reset();
    linger_.reset();
  }

  void set_linger_ms(long ms) { linger_ms_ = ms; }

 private:
  std::string peer_;
  bool plaintext_;
  std::unique_ptr<net::LineReader> reader_;
  std::unique_ptr<net::Timer> linger_;
  long linger_ms_ = 0;
  int in_flight_ = 0;
  bool eof_ = false;
  bool waiting_ = false;  // for the server's acks before lingering
};

}  // namespace

int run_register(const CommandOptions& options, bool save_account) {
  RegisterCommand command(options, save_account);
  return command.run(false, false, /*register_account=*/true, options.timeout_s);
}

int run_send(const CommandOptions& options, const std::string& peer, const std::string& text,
             bool plaintext) {
  SendCommand command(options, peer, text, plaintext);
  return command.run(false, false, false, options.timeout_s);
}

int run_listen(const CommandOptions& options, unsigned count, bool catch_up) {
  ListenCommand command(options, count, catch_up);
  // Without an exit condition, listen runs until interrupted.
  return command.run(true, true, false, count > 0 || catch_up ? options.timeout_s : 0);
}

int run_chat(const CommandOptions& options, const std::string& peer, bool plaintext) {
  ChatCommand command(options, peer, plaintext);
  command.set_linger_ms(static_cast<long>(options.linger_s * 1000));
  return command.run(true, true, false, 0);
}

int run_history(const CommandOptions& options, const std::string& peer, int limit) {
  OpenedStore opened;
  std::string error;
  if (!open_store(options.account, false, opened, error)) {
    print_error(error);
    return 1;
  }
  protocol::Jid jid;
  if (protocol::Jid::parse(peer, jid) != protocol::JidError::kOk) {
    print_error("'" + peer + "' is not a JID");
    return 1;
  }
  std::vector<StoredMessage> messages;
  const ClientStoreError e = opened.store->history(jid.bare_str(), limit, messages);
  if (e != ClientStoreError::kOk) {
    print_error(std::string(client_store_error_message(e)));
    return 1;
  }
  for (const StoredMessage& m : messages) {
    print_line(options.json ? message_json("message", m) : message_text(m));
  }
  return 0;
}

int run_contacts(const CommandOptions& options, const std::string& action,
                 const std::string& jid_text, const std::string& name) {
  OpenedStore opened;
  std::string error;
  if (!open_store(options.account, action != "list", opened, error)) {
    print_error(error);
    return 1;
  }
  if (action == "list") {
    std::vector<Contact> contacts;
    if (opened.store->contacts(contacts) != ClientStoreError::kOk) {
      print_error("cannot read contacts");
      return 1;
    }
    for (const Contact& c : contacts) {
      print_line(options.json
                     ? "{\"jid\":" + json_string(c.jid) + ",\"name\":" + json_string(c.name) + "}"
                     : c.jid + (c.name.empty() ? "" : "  " + c.name));
    }
    return 0;
  }
  protocol::Jid jid;
  if (protocol::Jid::parse(jid_text, jid) != protocol::JidError::kOk || !jid.has_local()) {
    print_error("'" + jid_text + "' is not a JID like bob@example.org");
    return 1;
  }
  const ClientStoreError e = action == "add" ? opened.store->add_contact(jid.bare_str(), name)
                                             : opened.store->remove_contact(jid.bare_str());
  if (e != ClientStoreError::kOk) {
    print_error(jid.bare_str() + ": " + std::string(client_store_error_message(e)));
    return 1;
  }
  return 0;
}

int run_whoami(const CommandOptions& options) {
  OpenedStore opened;
  std::string error;
  if (!open_store(options.account, false, opened, error)) {
    print_error(error);
    return 1;
  }
  E2eDevice device(*opened.store.get(), protocol::e2e::system_random());
  if (!protocol::e2e::init() || device.load_or_create(0) != ClientStoreError::kOk) {
    print_error("cannot read this device's keys");
    return 1;
  }
  if (options.json) {
    print_line("{\"jid\":" + json_string(options.account.jid) +
               ",\"device\":" + std::to_string(device.device_id()) +
               ",\"fingerprint\":" + json_string(device.fingerprint()) + "}");
  } else {
    print_line(options.account.jid + " device " + std::to_string(device.device_id()));
    print_line("fingerprint: " + device.fingerprint());
  }
  return 0;
}

}  // namespace xd::client
