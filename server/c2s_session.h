// One client connection: the net::Connection (bytes, TLS) joined to the
// sans-I/O protocol::C2sStream (XMPP negotiation and stanzas), acting as
// the stream's host (accounts, binding, throttles, resumption) and, once
// bound, as a Session in the table. With resumable stream management
// (XEP-0198 §5) it outlives its connection: a lost connection hibernates
// the session, which keeps its place in the table and collects stanzas
// until a new stream resumes it or the window ends. Owns its connection
// and its timers; destroyed by the server after it has ended.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "net/connection.h"
#include "net/timer.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/c2s/c2s_stream.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/session.h"

namespace xd::server {

class Server;

class C2sSession final : public Session, private protocol::C2sHost, private net::ConnectionHandler {
 public:
  // Takes the accepted socket. Returns null when the socket cannot be
  // adopted (it is closed then).
  static std::unique_ptr<C2sSession> start(Server& server, net::AcceptedSocket&& socket,
                                           C2sPort port);
  ~C2sSession() override;

  const std::string& peer_ip() const { return peer_ip_; }
  bool authenticated() const { return authenticated_; }
  // How the connection is carried now (metrics; a connection counts until
  // its close completed), or nullopt while the session hibernates without
  // one.
  std::optional<C2sTransport> transport() const;

  // Session.
  const protocol::Jid& jid() const override { return jid_; }
  void deliver(const protocol::Element& stanza) override;
  void kick(protocol::StreamCondition condition, std::string_view text) override;
  bool deliver_queued(const QueuedStanza& stanza, bool delayed,
                      const protocol::Element* live = nullptr) override;
  bool connected() const override { return !hibernating_; }
  size_t queue_room() override;
  // Since when (loop ms) a queued stanza waits for this stream's ack, 0 if
  // none; whether that was already pushed (XEP-0357 for half-dead links).
  uint64_t unacked_since_ms() const { return unacked_since_ms_; }
  bool stall_notified() const { return stall_notified_; }
  void set_stall_notified() { stall_notified_ = true; }
  uint64_t hold_ack() override;
  void release_ack(uint64_t token) override;
  void committed(const protocol::Element& message, std::string_view stanza_id,
                 uint64_t stamp_ms) override;

  // The resumption id (empty when not resumable) and whether the session is
  // waiting, without a connection, to be resumed.
  const std::string& sm_id() const { return sm_id_; }
  bool hibernating() const { return hibernating_; }
  // Stream management state for persistence (spec/delivery.md §5).
  SmRecord sm_record() const;
  // Closes the connection at once, without a goodbye (shutdown deadline).
  void abort();

 private:
  C2sSession(Server& server, C2sPort port, std::string peer_ip);

  // net::ConnectionHandler.
  void on_read(net::Connection& connection, std::string_view plaintext) override;
  void on_tls_ready(net::Connection& connection) override;
  void on_closed(net::Connection& connection, std::string_view reason) override;
  void on_delivered(net::Connection& connection) override;
  void on_writable(net::Connection& connection) override;

  // protocol::C2sHost.
  bool find_credentials(std::string_view username, protocol::ScramHash hash,
                        protocol::ScramCredentials& out) override;
  std::optional<protocol::StanzaCondition> register_account(std::string_view username,
                                                            std::string_view password) override;
  std::optional<protocol::StanzaCondition> bind_resource(const protocol::Jid& full) override;
  void random_bytes(uint8_t* out, size_t n) override;
  bool auth_allowed() override;
  void auth_failed(std::string_view mechanism) override;
  void auth_succeeded(const protocol::Jid& bare, std::string_view mechanism) override;
  void stanza_error_sent(protocol::StanzaCondition condition) override;
  bool resume_session(std::string_view previd, uint32_t client_h,
                      protocol::C2sResumption& out) override;

  // Moves the stream's output to the connection and handles its events.
  void pump();
  void send_output();
  void on_idle_timer();
  void arm_parser_timer();
  void on_parser_timer();
  // Removes the session from the table and tells its contacts it is gone.
  void leave_table();
  // The session is over for good: out of the table, queued stanzas it held
  // given back, its resumption state dropped (or kept for a restart during
  // shutdown). Idempotent.
  void end_session();
  // The connection died under a resumable stream (XEP-0198 §5).
  void hibernate();
  // Another stream resumed this session and took its state.
  void detach_for_resume();
  void on_resumed(const protocol::C2sEvent& ev);
  // XEP-0198 h: client stanzas handled (the oldest waiting for a commit
  // bounds it).
  uint32_t handled() const;
  // Sends what XEP-0352 held back, in order.
  void flush_csi();
  bool resumable() const;

  Server& server_;
  C2sPort port_;
  std::string peer_ip_;
  std::unique_ptr<net::Connection> connection_;
  protocol::C2sStream stream_;
  protocol::Jid jid_;
  net::Timer negotiation_timer_;
  net::Timer flush_timer_;
  net::Timer idle_timer_;
  bool authenticated_ = false;
  bool in_table_ = false;
  bool closing_ = false;
  bool ping_outstanding_ = false;
  bool in_pump_ = false;
  bool hibernating_ = false;
  bool ended_ = false;
  bool ack_requested_ = false;  // an <r/> was answered while commits were pending
  bool restored_from_disk_ = false;
  uint32_t routing_seq_ = 0;      // inbound number of the stanza being routed
  bool routing_counted_ = false;  // ... and stream management counts it
  // Inbound numbers waiting for a commit, oldest first. A vector, not a
  // deque: libstdc++'s deque allocates even when empty, and every idle
  // connection would pay for it.
  std::vector<uint32_t> pending_acks_;
  // Queued stanzas written to a client without stream management, deleted
  // once the connection's delivered mark passes |mark|.
  struct PendingWrite {
    uint64_t mark = 0;
    uint64_t seq = 0;
  };
  std::vector<PendingWrite> pending_writes_;
  std::string sm_id_;
  std::string restored_presence_;
  uint64_t unacked_since_ms_ = 0;
  uint64_t backlog_mark_ = 0;    // write mark after the last backlog stanza
  bool room_requested_ = false;  // an <r/> went out because the window is full
  bool stall_notified_ = false;
  // XEP-0352: while the client is inactive, stanzas that can wait
  // (presence updates, chat states) are held, the latest presence per
  // sender only, and go out before the next urgent one or on <active/>.
  bool csi_inactive_ = false;
  struct Held {
    std::string presence_from;  // empty for anything but presence
    std::string xml;
    StanzaKind kind = StanzaKind::kMessage;
  };
  std::vector<Held> csi_held_;  // from the SM record, after a restart
};

}  // namespace xd::server
