// ChatClient: one account's chat device, the library behind the `xmpp` CLI.
// It owns a LoginSession (TLS with a verified certificate, SCRAM, XEP-0198
// with resumption, the compact dialect when offered) and keeps everything
// in the account's ClientStore: history with per-message state, the outbox
// (resent on every start with the same ids until the server acknowledged
// them), contacts, and the end-to-end keys and sessions of E2eDevice.
//
// Delivery states (architecture.md §8): queued (in the outbox) -> sent (the
// server's XEP-0198 <a h/> covers it: stored durably or delivered) ->
// delivered (an XEP-0184 receipt or XEP-0333 <received/>) -> read (XEP-0333
// <displayed/>); failed when the server bounced it. States only move
// forward.
//
// Incoming messages are decrypted, stored, de-duplicated by id, answered
// with a receipt, and reported. It ignores carbons and IQ replies whose
// sender is not who it must be (catalogue 76). It never throws, never
// blocks, and calls its observer only from the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/chat/e2e_device.h"
#include "client/chat/iq_tracker.h"
#include "client/session/login_session.h"
#include "client/store/client_store.h"
#include "net/net_loop.h"
#include "net/timer.h"

namespace xd::client {

struct ChatConfig {
  SessionConfig session;  // server, domain, username, password, TLS ...
  // Send initial presence: the server then delivers the offline backlog
  // (spec/delivery.md §4) and live messages to this device. `xmpp send`
  // does not, so it never consumes messages it would not show.
  bool available = false;
  // XEP-0280: ask for copies of this account's messages to and from other
  // devices.
  bool carbons = false;
  // Seconds an IQ may take before it counts as failed.
  unsigned iq_timeout_s = 15;
};

// What the owner is told. Strings are valid during the call only.
class ChatObserver {
 public:
  virtual ~ChatObserver() = default;
  // Logged in, keys published, outbox resent; send_text() may be called.
  virtual void on_ready() = 0;
  // A message to show: incoming (also carbons of messages other devices
  // of ours sent or received).
  virtual void on_message(const StoredMessage& message) = 0;
  // An outgoing message changed state (queued -> sent -> delivered -> read,
  // or failed).
  virtual void on_state(const StoredMessage& message) = 0;
  // The server finished sending the offline backlog (spec/delivery.md §4).
  virtual void on_caught_up(unsigned /*count*/) {}
  // Something a person should know that is not fatal: an undecryptable
  // message, a changed identity key, an ignored spoofed stanza.
  virtual void on_notice(std::string_view /*text*/) {}
  // The session ended; |error| empty after close(), else why.
  virtual void on_ended(std::string_view error) = 0;
};

class ChatClient final : private SessionObserver {
 public:
  // |loop|, |store| and |observer| must outlive the client.
  ChatClient(net::NetLoop& loop, const ChatConfig& config, ClientStore& store,
             ChatObserver& observer);
  ~ChatClient() override;
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // Connects. False with |error| set on a synchronous failure (no observer
  // call then).
  bool start(std::string& error);

  // Queues |text| for |peer| (a bare JID): end-to-end encrypted to every
  // device of the peer and our other devices. A peer without published keys
  // gets it in the clear only with |allow_plaintext|; otherwise |done| gets
  // an error and nothing is stored. |done| runs once the message is in the
  // outbox (with its id) or refused.
  using SendDone = std::function<void(const std::string& id, const std::string& error)>;
  void send_text(const std::string& peer, const std::string& text, bool allow_plaintext,
                 SendDone done);

  // XEP-0333: tells |peer| the message |id| was displayed (read).
  void mark_displayed(const std::string& peer, const std::string& id);

  // True while nothing we sent awaits the server's acknowledgement.
  bool all_acknowledged() const { return unacked_.empty() && sending_.empty() && !busy_; }
  // Runs |fn| once everything sent so far (receipts and markers too) is
  // acknowledged by the server; asks for the acknowledgement now.
  void when_acknowledged(std::function<void()> fn);

  // Closes the stream; on_ended("") follows.
  void close();

  const std::string& jid() const { return full_jid_; }
  const std::string& bare_jid() const { return bare_jid_; }
  std::uint32_t device_id() const { return device_.device_id(); }
  const E2eDevice& device() const { return device_; }

 private:
  struct PendingText {
    std::string peer;
    std::string text;
    bool allow_plaintext;
    SendDone done;
  };
  // One stanza sent since <enabled/>: its position in our count and the
  // outgoing message it carries (empty for others).
  struct Unacked {
    std::uint32_t seq;
    std::string message_id;
  };

  // SessionObserver.
  void on_bound(LoginSession& session) override;
  void on_message(LoginSession& session, const protocol::Element& message) override;
  bool on_iq_request(LoginSession& session, const protocol::Element& iq) override;
  void on_iq_response(LoginSession& session, const protocol::Element& iq) override;
  void on_resumed(LoginSession& session, bool resumed, std::uint32_t h) override;
  void on_sm_enabled(LoginSession& session, bool enabled) override;
  void on_sm_ack(LoginSession& session, std::uint32_t h) override;
  void on_ended(LoginSession& session, std::string_view reason) override;

  // Sends one stanza, counting it for XEP-0198; |message_id| names the
  // outgoing message it carries.
  void write(std::string_view xml, const std::string& message_id = {});
  // Sends an IQ (to |to|, or with no 'to' when empty) and tracks its reply.
  void send_iq(protocol::Element& iq, std::string to, IqCallback callback);
  // Publishes our keys when the server lacks them or holds few prekeys.
  void ensure_published(std::function<void(bool ok)> next);
  void publish(std::size_t new_prekeys, std::function<void(bool ok)> next);
  // After keys: resend the outbox, carbons, presence, then on_ready().
  void finish_start();
  void pump_sends();
  // Makes sure sessions exist with every device of |peer| and of our own
  // account (spec/e2e-keys.md §4-5), then runs |next|.
  void prepare_sessions(const std::string& peer, std::function<void()> next);
  // Once per run and JID: the device list, and a claimed bundle and a new
  // session for each device without a session.
  void refresh_devices(const std::string& jid, std::function<void()> next);
  void claim_and_start(const std::string& jid, std::uint32_t device, std::function<void()> next);
  // Claims and starts a session with each of |devices| in turn.
  void claim_each(const std::string& jid, std::vector<std::uint32_t> devices,
                  std::function<void()> next);
  void encrypt_and_queue(PendingText pending);
  // |carbon_sent|: a copy of what another device of ours sent (XEP-0280).
  void handle_incoming(const protocol::Element& message, bool carbon_sent, bool carbon);
  void handle_carbon(const protocol::Element& message);
  void handle_retry(const std::string& peer, const std::string& id, std::uint32_t device);
  // Counts pre-key envelopes to us and checks the server's prekey stock
  // every kReplenishEvery of them.
  void replenish_after_prekey_use(const protocol::e2e::EncryptedMessage& message);
  void send_receipt(const std::string& to, const std::string& id);
  void report_state(const std::string& peer, const std::string& id);
  void tick();
  void reconnect();
  void run_ack_waiters();
  std::string new_id();

  static constexpr unsigned kMaxReconnects = 5;
  static constexpr unsigned kReplenishEvery = 10;

  net::NetLoop* loop_;
  ChatConfig config_;
  ClientStore* store_;
  ChatObserver* observer_;
  E2eDevice device_;
  std::unique_ptr<LoginSession> session_;
  std::unique_ptr<net::Timer> timer_;
  IqTracker iqs_;
  std::string full_jid_;
  std::string bare_jid_;
  std::deque<PendingText> sending_;
  std::deque<Unacked> unacked_;
  std::uint32_t sent_count_ = 0;  // stanzas since <enabled/>, mod 2^32
  // JIDs whose device list was refreshed during this run, and the lists.
  std::set<std::string> refreshed_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> devices_;
  // XEP-0198 resumption after a dropped connection.
  std::unique_ptr<net::Timer> reconnect_timer_;
  std::string resume_id_;
  std::uint32_t resume_h_ = 0;
  unsigned reconnects_ = 0;
  bool reported_end_ = false;
  unsigned prekey_sessions_ = 0;
  std::vector<std::function<void()>> ack_waiters_;
  // Message ids a retry receipt was sent for (one per message and run).
  std::set<std::string> retried_;
  bool sm_ = false;
  bool ready_ = false;
  bool busy_ = false;  // a send is between its IQs
  bool closing_ = false;
  bool ended_ = false;
};

}  // namespace xd::client
