// One client connection: the net::Connection (bytes, TLS) joined to the
// sans-I/O protocol::C2sStream (XMPP negotiation and stanzas), acting as
// the stream's host (accounts, binding, throttles) and, once bound, as a
// Session in the table. Owns its connection and its timers; destroyed by
// the server after the connection has closed.
#pragma once

#include <memory>
#include <string>

#include "net/connection.h"
#include "net/timer.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/c2s/c2s_stream.h"
#include "server/session.h"

namespace xd::server {

class Server;

class C2sSession final : public Session, private protocol::C2sHost, private net::ConnectionHandler {
 public:
  // Takes the accepted socket. Returns null when the socket cannot be
  // adopted (it is closed then).
  static std::unique_ptr<C2sSession> start(Server& server, net::AcceptedSocket&& socket,
                                           bool direct_tls);
  ~C2sSession() override;

  const std::string& peer_ip() const { return peer_ip_; }
  bool authenticated() const { return authenticated_; }

  // Session.
  const protocol::Jid& jid() const override { return jid_; }
  void deliver(const protocol::Element& stanza) override;
  void kick(protocol::StreamCondition condition, std::string_view text) override;
  // Closes the connection at once, without a goodbye (shutdown deadline).
  void abort();

 private:
  C2sSession(Server& server, bool direct_tls, std::string peer_ip);

  // net::ConnectionHandler.
  void on_read(net::Connection& connection, std::string_view plaintext) override;
  void on_tls_ready(net::Connection& connection) override;
  void on_closed(net::Connection& connection, std::string_view reason) override;

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

  // Moves the stream's output to the connection and handles its events.
  void pump();
  void send_output();
  void on_idle_timer();
  void arm_parser_timer();
  void on_parser_timer();
  // Removes the session from the table and tells its contacts it is gone.
  void leave_table();

  Server& server_;
  std::string peer_ip_;
  std::unique_ptr<net::Connection> connection_;
  protocol::C2sStream stream_;
  protocol::Jid jid_;
  net::Timer negotiation_timer_;
  net::Timer flush_timer_;
  net::Timer idle_timer_;
  bool direct_tls_;
  bool authenticated_ = false;
  bool in_table_ = false;
  bool closing_ = false;
  bool ping_outstanding_ = false;
  bool in_pump_ = false;
};

}  // namespace xd::server
