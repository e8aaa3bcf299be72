// The settings of the server side of client-to-server streams: the domain
// served, the TLS policy, what is offered before authentication, and the
// per-stream limits. Plain data, written once at startup and then shared
// read-only by every stream of a listener; never performs I/O.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/sasl/scram.h"
#include "protocol/xml/stream_parser.h"

namespace xd::protocol {

struct C2sConfig {
  // The served domain, already normalised (Jid domainpart form). Stream
  // headers must address it (RFC 6120 §4.7.2) and it becomes the domainpart
  // of every authenticated JID.
  std::string domain;

  // A TLS layer can be negotiated on this listener (RFC 6120 §5).
  bool tls_available = false;
  // No SASL and no registration before TLS is up (RFC 6120 §5.3.1
  // mandatory-to-negotiate); nothing negotiable but STARTTLS is advertised
  // before it (hostile-inputs.md catalogue D31, D34), only the XEP-0478
  // limits the client must respect. Without tls_available (and
  // without direct_tls) this leaves a client nothing to negotiate.
  bool tls_required = true;
  // The connection started as TLS (XEP-0368 direct TLS): the owner calls
  // C2sStream::tls_established() before it passes any byte.
  bool direct_tls = false;
  // XEP-0077 in-band registration before authentication.
  bool allow_registration = false;

  // Parser limits before and after SASL success (conventions.md §2).
  ParserLimits pre_auth = pre_auth_parser_limits();
  ParserLimits post_auth = post_auth_parser_limits();
  // Seconds of silence from a bound client after which the owner checks
  // that it is alive (a XEP-0199 ping) and closes the stream if it is not.
  // Advertised as XEP-0478 <idle-seconds/> after authentication; 0 (the
  // owner runs no such timer) leaves it out. Before authentication only a
  // whole-negotiation deadline applies, which is no idle time, so nothing is
  // advertised then.
  uint32_t idle_seconds = 0;

  // Failed SASL exchanges on one stream before it is closed with
  // <not-authorized/> (catalogue E37; RFC 6120 §6.4.5 asks for 2 to 5 retries).
  uint32_t max_auth_failures = 3;
  // Failed resource bindings tolerated on one stream; one more closes it
  // with <policy-violation/> (catalogue F46).
  uint32_t max_bind_failures = 5;

  // XEP-0198 stream management (spec/delivery.md §5): offered after
  // authentication. A resumption window of 0 makes streams non-resumable.
  bool stream_management = true;
  uint32_t sm_resume_seconds = 300;
  // Unacknowledged stanzas one stream may hold; one more closes it with
  // <policy-violation/> (catalogue H55).
  uint32_t sm_max_unacked = 500;

  // spec/compact.md §3.1: the compact dialect is offered once TLS is up and
  // the stream is authenticated; with |compact_compression| a client may
  // ask for zstd frames (§4.3).
  bool compact_available = true;
  bool compact_compression = true;
  // spec/compact.md §3.2: this listener is the direct compact port: the
  // connection starts with TLS (set direct_tls too), then the preface, and
  // speaks frames from the first byte.
  bool compact_direct = false;

  // Long-lived private key for the fake SCRAM salts of unknown users
  // (scram_fake_credentials). Must be non-empty.
  std::string server_secret;
  // Iteration count shown to unknown users; match what stored accounts use,
  // or the count tells them apart (catalogue E37).
  uint32_t scram_iterations = kScramDefaultIterations;
};

}  // namespace xd::protocol
