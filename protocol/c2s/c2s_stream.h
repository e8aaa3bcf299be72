// The server side of one RFC 6120 client-to-server stream as a sans-I/O
// state machine: bytes from the client in, bytes for the client and events
// for the owner out. It runs stream headers, STARTTLS, SASL, in-band
// registration and resource binding, then stamps and checks each stanza
// before the server sees it. It never touches a socket, TLS library, clock,
// thread or random device (the host supplies randomness), and it never
// calls back into its owner: events are pulled with next_event().
//
//   (start) --direct TLS--> kAwaitTls --tls_established()--+
//      |                       ^                            |
//      | plaintext             | <starttls/>: <proceed/>,   |
//      v                       | kStartTls, parser reset    v
//   kAwaitHeader --header--> kNegotiating <--header-- kAwaitHeader (TLS up)
//                               |
//                               | SASL <success/>: parser reset, post-auth limits
//                               v
//                          kAwaitHeader (authenticated; 'to' must not change)
//                               | header
//                               v
//                          kAwaitBind --bind ok--> kBound
//
//   Any state --stream error, peer close, close()--> kClosed (terminal).
//
// The compact dialect (spec/compact.md §3) swaps the wire format, not the
// states: negotiated with <compact/> in kAwaitBind, or from the first byte
// on the direct port (preface, then OPEN frames where XML has headers).
// Stanzas and events are the same in both formats; output written as XML
// is translated to frames at this boundary.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/c2s/c2s_config.h"
#include "protocol/c2s/c2s_event.h"
#include "protocol/c2s/c2s_features.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/c2s/c2s_sasl.h"
#include "protocol/c2s/c2s_stanza_filter.h"
#include "protocol/c2s/stream_management.h"
#include "protocol/compact/compact_frames.h"
#include "protocol/jid/jid.h"
#include "protocol/stream_error.h"
#include "protocol/xml/element.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol {

enum class C2sState {
  kAwaitTls,     // <proceed/> sent, or direct TLS: waiting for tls_established()
  kAwaitHeader,  // waiting for the client's stream header (first, or after a restart)
  kNegotiating,  // headers exchanged, not authenticated: STARTTLS, SASL, registration
  kAwaitBind,    // authenticated and restarted: only resource binding is allowed
  kBound,        // session established: stanzas flow both ways
  kClosed,       // terminal; nothing more is read or written
};

class C2sStream {
 public:
  // |config| and |host| are borrowed and must outlive the stream; the
  // config is shared by all streams of a listener, so it is not copied.
  // Takes no action until the first call: the server speaks only after the
  // client's header (RFC 6120 §4.2).
  C2sStream(const C2sConfig& config, C2sHost& host);
  ~C2sStream();
  C2sStream(const C2sStream&) = delete;
  C2sStream& operator=(const C2sStream&) = delete;

  // Plaintext bytes from the client (decrypted ones under TLS). |bytes| is
  // borrowed for the call. Produces output and events. Ignored once closed,
  // and while waiting for TLS (any plaintext there is an injection attempt,
  // catalogue D32). Calls the host, never the owner.
  void receive(std::string_view bytes);

  // The TLS handshake completed: after <proceed/> and kStartTls, or, with
  // C2sConfig::direct_tls, before any byte. The arguments are this
  // connection's channel-binding data for SCRAM -PLUS (RFC 9266 tls-exporter,
  // RFC 5929 tls-server-end-point), empty when unavailable, and whether
  // TLS 1.3 was negotiated: tls-exporter is only offered under TLS 1.3
  // (RFC 9266 §3 allows TLS 1.2 only with the extended master secret, which
  // this interface cannot vouch for). Calling it in any other state is a
  // programmer error (asserted; ignored in release builds).
  void tls_established(std::string tls_exporter, std::string tls_server_end_point, bool tls13);

  // Queues |stanza| (server to client) in output(), serialized once with
  // jabber:client as the default namespace. The caller keeps ownership.
  // Returns false, writing nothing, when the stream is not bound or is
  // closed, or when the tree cannot be serialized. With stream management
  // the stanza is counted and kept, with |tag|, until acknowledged; going
  // over C2sConfig::sm_max_unacked closes the stream (policy-violation).
  bool send_stanza(const Element& stanza, uint64_t tag = 0);
  // The same for a stanza already serialized with jabber:client as the
  // default namespace (a queued one: it is never serialized twice).
  bool send_serialized(std::string_view xml, uint64_t tag = 0);
  // The same for a stanza already in the compact element encoding (spec/
  // compact.md §5; a stored one), with the stream's domain as stream
  // domain: framed as it is for a compact client, decoded and serialized
  // for an XML one.
  bool send_compact_body(std::string_view body, uint64_t tag = 0);
  // XEP-0198: writes <a h='|h|'/>; the owner knows how many of the
  // client's stanzas it has handled. No-op without stream management.
  void send_sm_ack(uint32_t h);
  // XEP-0198: writes <r/>, asking the client for an acknowledgement.
  void send_sm_request();
  // Writes a nonza (a top-level element that is not a stanza, such as
  // spec/compact.md §9's <ack/>) in the stream's wire format; stream
  // management does not count it. Only once bound; false otherwise.
  bool send_nonza(const Element& element);
  // While the stream is closed but resumable (hibernated, XEP-0198 §5),
  // keeps |xml| as sent-but-unacknowledged so a resumption delivers it.
  // False when not resumable or at the unacknowledged cap.
  bool hold_serialized(std::string xml, uint64_t tag);
  // The transport is gone but the session waits for a resumption
  // (XEP-0198 §5): the stream stops reading and writing, frees its parser
  // and queues no event; hold_serialized() keeps working.
  void detach();
  // The stream-management state, or null when not enabled.
  StreamManagement* sm() { return sm_.get(); }
  const StreamManagement* sm() const { return sm_.get(); }
  // Moves the state out (a resumption takes it over).
  std::unique_ptr<StreamManagement> take_sm() { return std::move(sm_); }

  // Server-initiated close (system-shutdown, conflict, connection-timeout):
  // writes our header if none was sent yet, <stream:error/> with |condition|
  // and |text| (never peer data), and </stream:stream>, then queues kClosed.
  // While waiting for TLS nothing can be written and only kClosed is
  // queued. No-op once closed.
  void close(StreamCondition condition, std::string_view text = {});

  // The transport reached EOF or failed: queues kClosed (not clean) unless
  // already closed. Writes nothing.
  void peer_closed();

  // Expat may hold back a complete stanza until more bytes arrive
  // (hostile-inputs.md decision 3). After a read, if wants_parser_flush(),
  // the owner arms a short timer and calls flush_parser() when it fires.
  void flush_parser();
  bool wants_parser_flush() const;
  // Frees the XML parser's state while the stream is idle between stanzas
  // (StreamParser::hibernate); the owner calls it after a quiet period.
  // Only once bound: negotiation is short and restarts the parser anyway.
  bool hibernate_parser() { return state_ == C2sState::kBound && !compact_ && parser_.hibernate(); }
  // spec/compact.md §3: the stream speaks the compact dialect (both ways),
  // and whether zstd frames are on (§4.3).
  bool compact() const { return compact_; }
  bool compact_compression() const { return compact_compress_; }

  // Bytes to write to the client. The owner writes them and then clears
  // the string, preferably with clear_output(), which also returns a large
  // buffer to the allocator so an idle stream stays small.
  std::string& output() { return output_; }
  void clear_output();

  // The next event for the owner, or nullopt. Events come in the order
  // their output was produced; kClosed is always the last one.
  std::optional<C2sEvent> next_event();

  C2sState state() const { return state_; }
  bool tls_active() const { return tls_active_; }
  bool authenticated() const { return authenticated_; }
  // The full JID once bound (kBound), the bare JID once authenticated,
  // else an empty Jid.
  const Jid& bound_jid() const { return jid_; }

 private:
  bool check_document_start(std::string_view bytes);
  void drain_parser();
  void drain_compact();
  void on_stream_event(StreamEvent& ev);
  bool receive_preface(std::string_view& bytes);
  void on_compact(const Element& element);
  void switch_to_compact(bool compression);
  compact::CodecContext codec_context() const;
  // Literal XML of complete elements, in the stream's wire format.
  void out_xml(std::string_view xml);
  // An element, in the stream's wire format; false if it cannot be encoded.
  bool out_element(const Element& element);
  // An XML client gets a batch of receipts as standard messages (spec/
  // compact.md §9.2); false, writing nothing, if |batch| holds none.
  bool send_expanded(const Element& batch, uint64_t tag);
  void write_stream_close();
  // The parser's buffers are no longer needed (restart, close, detach).
  void drop_parser();
  // Appends an unacknowledged stanza kept by stream management, translated
  // if it was written in the other wire format (a resumption may switch).
  void resend(const StreamManagement::Sent& sent);
  void on_header(const StreamHeader& header);
  void on_element(std::unique_ptr<Element> element);
  void on_negotiating(std::unique_ptr<Element> element);
  void on_await_bind(std::unique_ptr<Element> element);
  void on_bound(std::unique_ptr<Element> element);
  void on_non_stanza_after_auth(const Element& element);
  bool on_stream_level(const Element& element);
  void on_sasl(const Element& element);
  void on_register(const Element& iq);
  void on_bind(const Element& iq);
  void on_session(const Element& iq);
  void on_stream_management(const Element& element);
  void on_resume(const Element& element);
  bool apply_ack(uint32_t h);
  void count_sent(size_t from, uint64_t tag);

  void start_tls();
  void refuse_tls();
  void restart_after_sasl();
  void write_header();
  void write_features();
  void write_element(const Element& element);
  // write_element() for a reply the stream answers a client's element with;
  // an error reply is also reported to the host (C2sHost::stanza_error_sent).
  void write_reply(const Element& reply);
  C2sFeatures current_features() const;
  C2sSaslOffer sasl_offer() const;
  void stream_error(StreamCondition condition, std::string reason, std::string_view text = {},
                    std::unique_ptr<Element> app_specific = nullptr);
  void finish(std::string reason, bool clean, std::optional<StreamCondition> error);
  void push(C2sEvent event);
  void wipe_channel_bindings();
  std::string random_hex(size_t bytes);

  const C2sConfig& config_;
  C2sHost& host_;
  StreamParser parser_;
  C2sSasl sasl_;
  std::string output_;
  std::vector<C2sEvent> events_;
  size_t event_head_ = 0;

  C2sState state_;
  bool tls_active_ = false;
  bool tls13_ = false;
  bool header_sent_ = false;       // for the current stream (reset at every restart)
  bool document_started_ = false;  // a non-whitespace byte of the current document arrived
  bool authenticated_ = false;
  uint32_t auth_failures_ = 0;
  uint32_t bind_failures_ = 0;
  std::string tls_exporter_;
  std::string tls_server_end_point_;
  Jid jid_;
  std::unique_ptr<C2sStanzaFilter> filter_;  // once bound
  std::unique_ptr<StreamManagement> sm_;     // once <enable/>d or resumed

  // spec/compact.md §3.
  bool compact_ = false;
  bool compact_compress_ = false;
  bool await_preface_ = false;  // direct mode: the client's preface is not complete
  std::string preface_;         // ... its bytes so far
  std::unique_ptr<compact::CompactDecoder> compact_in_;
  std::string_view current_input_;  // the bytes receive() is parsing (for the switch)
};

}  // namespace xd::protocol
