// LoginSession: one client connection to any standard XMPP server, shared by
// the load generator (client/loadgen) and the push app server
// (client/push_appserver). It drives the connection through stream header,
// optional TLS (STARTTLS, RFC 6120 §5, or direct TLS, XEP-0368), SASL (§6:
// SCRAM-SHA-1/-256, their -PLUS variants with RFC 9266/XEP-0440 channel
// binding, or PLAIN), stream restart and resource binding (§7), then hands
// every incoming <message/> and <iq type='get'|'set'/> to its observer, can
// enable XEP-0198 stream management, and lets the owner write preformatted
// stanzas. Over TLS it switches to the compact dialect when the server
// offers it (spec/compact.md §3.1) unless told not to; the owner's API
// stays XML either way. It is a small client, not a full one: it never retries, never
// sends presence on its own, never follows redirects, resumes a stream only
// when its config names one (XEP-0198 §5), and never lets a protocol
// failure throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/connection.h"
#include "net/net_loop.h"
#include "net/tls_context.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/sasl/scram.h"
#include "protocol/xml/element.h"
#include "protocol/xml/stream_parser.h"

namespace xd::client {

enum class SaslMech { kScramSha1, kScramSha256, kScramSha1Plus, kScramSha256Plus, kPlain };

// The IANA mechanism name of |mech|, e.g. "SCRAM-SHA-256-PLUS".
std::string_view sasl_mech_name(SaslMech mech);
// Parses a mechanism name, ASCII case-insensitively ("scram-sha-1-plus" and
// "SCRAM-SHA-1-PLUS" alike). Returns false and leaves |out| untouched for
// any other name.
bool sasl_mech_from_name(std::string_view name, SaslMech& out);
// True for the -PLUS variants, which need TLS and channel-binding data.
bool sasl_mech_is_plus(SaslMech mech);

// Everything one session needs; plain data copied by the session.
struct SessionConfig {
  std::string server;  // numeric "IP:PORT"
  std::string domain;  // the 'to' of the stream header and the JID domain
  std::string username;
  std::string password;  // raw; SCRAM prepares it with OpaqueString
  std::string resource;
  SaslMech mech = SaslMech::kScramSha1;
  // Pick the strongest SCRAM mechanism the server offers instead of |mech|
  // (-PLUS first when under TLS); PLAIN never.
  bool auto_mech = false;
  // TLS when set (must outlive the session): STARTTLS, or with |direct_tls|
  // a TLS handshake right after connecting (XEP-0368). The certificate must
  // verify for |tls_host| (the domain when empty).
  const net::TlsContext* tls = nullptr;
  bool direct_tls = false;
  std::string tls_host;
  // The channel-binding type of a -PLUS mechanism: "tls-exporter" (RFC 9266)
  // or "tls-server-end-point" (RFC 5929 §4).
  std::string channel_binding = "tls-exporter";
  // spec/compact.md §3.1: negotiate the compact dialect when offered (only
  // under TLS), with zstd frames when |compact_compression|.
  bool compact = true;
  bool compact_compression = true;
  // XEP-0198 §5: after authentication, try <resume previd h/> with these
  // instead of binding; on <failed/> the session binds a fresh resource.
  std::string resume_id;
  std::uint32_t resume_h = 0;
  // XEP-0077 §3.1: create the account in-band (after TLS when configured,
  // before authentication), then log in to it on the same stream. A refusal
  // ends the session with "registration refused: CONDITION".
  bool register_account = false;
  // RFC 5802 §5.1: SCRAM's SaltedPassword cached per account (must outlive
  // the session; see protocol::ScramClientConfig::key_cache). Optional.
  protocol::ScramKeyCacheEntry* scram_key_cache = nullptr;
};

class LoginSession;

// What the owner of sessions is told. Calls come from the loop thread
// inside the session's connection callbacks; the observer must not destroy
// the session during any call (it may call send() and close()). Element
// references are valid during the call only.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // Resource binding succeeded; the session accepts send() from now on.
  virtual void on_bound(LoginSession& session) = 0;
  // A <message/> arrived after binding (any type, including 'error' bounces
  // and messages without a body).
  virtual void on_message(LoginSession& session, const protocol::Element& message) = 0;
  // An <iq type='get'|'set'/> arrived after binding. Return true when the
  // observer answered it (or will, with send()); RFC 6120 §8.2.3 requires
  // exactly one reply. Returning false lets the session answer: a result
  // for an XEP-0199 ping, service-unavailable for anything else.
  virtual bool on_iq_request(LoginSession& /*session*/, const protocol::Element& /*iq*/) {
    return false;
  }
  // An <iq type='result'|'error'/> arrived after binding. RFC 6120 §8.1.2.1
  // leaves matching it to a request (and checking its 'from') to the owner.
  virtual void on_iq_response(LoginSession& /*session*/, const protocol::Element& /*iq*/) {}
  // A <presence/> arrived after binding.
  virtual void on_presence(LoginSession& /*session*/, const protocol::Element& /*presence*/) {}
  // XEP-0198 §5: the outcome of the resumption the config asked for.
  // |resumed| true: the stream continues, on_bound() is not called, and
  // |h| counts the stanzas the server handled of ours (resend the rest).
  // False: the old stream is gone and on_bound() follows for a new one.
  virtual void on_resumed(LoginSession& /*session*/, bool /*resumed*/, std::uint32_t /*h*/) {}
  // The answer to enable_sm(): <enabled/> (|enabled| true) or <failed/>.
  virtual void on_sm_enabled(LoginSession& /*session*/, bool /*enabled*/) {}
  // An XEP-0198 <a h='…'/> from the server: |h| counts, modulo 2^32, the
  // stanzas it has handled since <enabled/> (for xmppd: committed,
  // spec/delivery.md §5). Sent in answer to request_ack() and unsolicited.
  virtual void on_sm_ack(LoginSession& /*session*/, std::uint32_t /*h*/) {}
  // The connection ended; called exactly once per started session. |reason|
  // is "closed" after our own close(), else why it failed.
  virtual void on_ended(LoginSession& session, std::string_view reason) = 0;
};

class LoginSession final : private net::ConnectionHandler {
 public:
  // |loop| and |observer| must outlive the session. |tag| is free for the
  // owner (an index into its own tables).
  LoginSession(net::NetLoop& loop, const SessionConfig& config, SessionObserver& observer,
               std::size_t tag);
  ~LoginSession() override;
  LoginSession(const LoginSession&) = delete;
  LoginSession& operator=(const LoginSession&) = delete;

  // Starts connecting. Returns false with |error| set on a synchronous
  // failure, in which case no observer call will ever happen.
  bool start(std::string& error);
  // Appends preformatted stanza bytes to the output queue (dropped unless
  // bound). Never calls back.
  void send(std::string_view stanza);
  // XEP-0198: sends <enable xmlns='urn:xmpp:sm:3'/>, with resume='true'
  // when |resume|. on_sm_enabled() follows. From <enabled/> on, the session
  // counts the stanzas it receives and answers the server's <r/> itself.
  // Only while bound, once; never calls back.
  void enable_sm(bool resume = false);
  // Sends <r xmlns='urn:xmpp:sm:3'/> once stream management is enabled (the
  // server answers with <a h/>, see on_sm_ack()). Never calls back.
  void request_ack();
  // Sends </stream:stream> and closes after the flush; on_ended("closed")
  // follows later. Idempotent.
  void close();
  // Frees the XML parser state while idle (StreamParser::hibernate).
  void hibernate() {
    if (parser_) parser_->hibernate();
  }

  std::size_t tag() const { return tag_; }
  bool bound() const { return state_ == State::kBound; }
  // Binding succeeded at some point (still true after the session ended).
  bool was_bound() const { return was_bound_; }
  // The full JID the server assigned (empty before binding).
  const std::string& jid() const { return jid_; }
  // The negotiated TLS version ("TLSv1.3"), empty before the handshake or
  // without TLS.
  const std::string& tls_version() const { return tls_version_; }
  // True once the server answered enable_sm() with <enabled/>.
  bool sm_enabled() const { return sm_ == Sm::kEnabled; }
  // The id of a resumable stream (<enabled id resume='true'/>), else empty.
  const std::string& sm_id() const { return sm_id_; }
  // Stanzas received since <enabled/> (mod 2^32): the h to resume with.
  std::uint32_t sm_inbound() const { return sm_inbound_; }
  // NetLoop::now_ms() of the last read from the server (0 before any), for
  // an owner's keepalive.
  std::uint64_t last_read_ms() const { return last_read_ms_; }
  // spec/compact.md §3: the session speaks the compact dialect.
  bool compact() const { return compact_in_ != nullptr; }

 private:
  enum class State : std::uint8_t {
    kIdle,
    kAwaitFeatures,
    kAwaitProceed,
    kAwaitTls,
    kAwaitRegistered,
    kAwaitSaslResult,
    kAwaitBindFeatures,
    kAwaitCompacted,
    kAwaitBind,
    kAwaitResumed,
    kBound,
    kClosing,
    kEnded,
  };
  enum class Sm : std::uint8_t { kOff, kRequested, kEnabled, kFailed };

  // net::ConnectionHandler.
  void on_read(net::Connection& connection, std::string_view plaintext) override;
  void on_tls_ready(net::Connection& connection) override;
  void on_closed(net::Connection& connection, std::string_view reason) override;

  void send_header();
  // Handles one stanza; returns false when the session failed (closing).
  bool handle_stanza(const protocol::Element& stanza);
  bool on_features(const protocol::Element& features);
  // SASL with the configured mechanism, from the pre-auth |features|.
  bool start_auth(const protocol::Element& features);
  bool on_sasl(const protocol::Element& stanza);
  // Fills the channel-binding part of |scram| for a -PLUS mechanism from
  // |features| and this connection's TLS; false when the session failed.
  bool set_channel_binding(const protocol::Element& features, protocol::ScramClientConfig& scram);
  void answer_iq(const protocol::Element& iq);
  void on_sm_element(const protocol::Element& element);
  void fail(std::string reason);
  // Writes complete XML elements in the session's wire format.
  void write_xml(std::string_view xml);
  void send_bind();
  // XEP-0198 §5: <resume/> when the config names a stream, else bind.
  void bind_or_resume();
  // Handles one stream event; false when the caller must stop pulling.
  bool on_event(protocol::StreamEvent& event);

  net::NetLoop* loop_;
  SessionConfig config_;
  SessionObserver* observer_;
  std::size_t tag_;
  std::unique_ptr<net::Connection> conn_;
  std::unique_ptr<protocol::StreamParser> parser_;
  std::unique_ptr<protocol::compact::CompactDecoder> compact_in_;  // once compact
  bool compact_compress_ = false;
  std::string_view current_input_;  // the read being parsed (for the switch)
  std::unique_ptr<protocol::ScramClient> scram_;
  // The pre-authentication features, kept while registration runs.
  std::unique_ptr<protocol::Element> pending_features_;
  std::string jid_;
  std::string sm_id_;
  std::string tls_version_;
  std::string failure_;
  std::uint64_t last_read_ms_ = 0;
  std::uint32_t sm_inbound_ = 0;  // stanzas received since <enabled/>, mod 2^32
  State state_ = State::kIdle;
  Sm sm_ = Sm::kOff;
  bool tls_done_ = false;
  bool was_bound_ = false;
};

}  // namespace xd::client
