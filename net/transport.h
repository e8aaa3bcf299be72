// Transport: what a Connection's bytes pass through between the socket and
// its owner, as a sans-I/O object (conventions.md §7, Redis ConnectionType,
// libstrophe tls.h). Bytes read from the socket go in through decode() and
// come out as plaintext; plaintext to send goes in through encode() and comes
// out as the bytes to write. Implementations: PlainTransport (identity) and
// TlsTransport (OpenSSL over memory). A transport never touches a file
// descriptor, never calls libuv, and never blocks.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "net/net_error.h"

namespace xd::net {

// Where a transport delivers what decode() produced. Implemented by
// Connection. Both calls happen synchronously inside decode().
class TransportSink {
 public:
  // Plaintext from the peer. |bytes| is valid only during the call. Return
  // false to stop decoding (the connection is closing); whatever was not
  // delivered is then dropped.
  virtual bool on_plaintext(std::string_view bytes) = 0;
  // The TLS handshake completed (after the peer was verified, for a client).
  // Called once, before any plaintext that follows it. Return false to stop.
  virtual bool on_handshake_complete() = 0;

 protected:
  virtual ~TransportSink() = default;
};

// What a finished TLS handshake established; the inputs of SCRAM -PLUS
// channel binding (XEP-0440) and of logging. Empty strings mean "not
// available", never "zero bytes".
struct TlsInfo {
  bool tls13 = false;
  std::string protocol;  // "TLSv1.3" or "TLSv1.2"
  std::string cipher;    // OpenSSL's name of the negotiated suite
  std::string alpn;      // the selected ALPN protocol, or empty
  // RFC 9266 tls-exporter: 32 bytes exported with the label
  // "EXPORTER-Channel-Binding" and no context. Empty on TLS 1.2 without the
  // extended master secret (RFC 9266 §3, RFC 7627), where it is not unique.
  std::string exporter;
  // RFC 5929 §4.1 tls-server-end-point: the hash of the server's certificate
  // (DER) with its signature hash, SHA-256 when that is MD5 or SHA-1. Empty
  // when the signature has no single hash (e.g. Ed25519): undefined there.
  std::string server_end_point;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // True for TLS transports.
  virtual bool is_tls() const = 0;
  // True once data may flow: always for plaintext, after the handshake for TLS.
  virtual bool ready() const = 0;

  // Produces the bytes this side must send first (a TLS ClientHello) into
  // |wire_out|. No-op for plaintext and TLS servers.
  virtual NetStatus start(std::string& wire_out) = 0;

  // Consumes |wire| (bytes just read from the socket); delivers plaintext and
  // the handshake event to |sink|; appends bytes that must be sent back
  // (handshake records, alerts, session tickets) to |wire_out|. |scratch| is
  // a buffer the transport may decrypt into. Returns a fatal NetError when
  // the stream cannot continue (kTlsHandshakeFailed,
  // kTlsCertificateInvalid, kTlsError, or kEof for a TLS close_notify).
  virtual NetStatus decode(std::string_view wire, std::span<char> scratch, std::string& wire_out,
                           TransportSink& sink) = 0;

  // Moves as much of |plaintext| as can be sent now into |wire_out| (all of
  // it once ready(); none before) and erases it from |plaintext|. May swap
  // the strings instead of copying when |wire_out| is empty.
  virtual NetStatus encode(std::string& plaintext, std::string& wire_out) = 0;

  // Appends an orderly-shutdown record (TLS close_notify) to |wire_out|;
  // no-op for plaintext or before the handshake completed.
  virtual void shutdown(std::string& wire_out) = 0;

  // What the TLS handshake established; false (|out| untouched) for
  // plaintext or before the handshake completed.
  virtual bool tls_info(TlsInfo& out) const = 0;
};

}  // namespace xd::net
