// The SASL negotiation of a c2s stream (RFC 6120 §6): <auth/>, <response/>
// and <abort/> in, <challenge/>, <success/> and <failure/> out, driving
// ScramServer or the PLAIN check and asking the host for credentials. It
// owns the state of at most one exchange; it never restarts the stream,
// never counts failures across exchanges (the stream does both), never
// performs I/O and never trusts an authzid or an unprepared username.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "protocol/c2s/c2s_config.h"
#include "protocol/c2s/c2s_features.h"
#include "protocol/c2s/c2s_host.h"
#include "protocol/jid/jid.h"
#include "protocol/sasl/sasl_error.h"
#include "protocol/sasl/scram.h"

namespace xd::protocol {

class Element;

// What the stream knows that the SASL step must respect.
struct C2sSaslContext {
  // The mechanisms the current <stream:features/> advertised.
  C2sSaslOffer offer;
  // TLS is mandatory and not yet up: every <auth/> gets
  // <encryption-required/> and nothing is checked (catalogue D31).
  bool encryption_required = false;
  // Channel-binding data of this TLS connection; empty when unavailable.
  std::string_view tls_exporter;
  std::string_view tls_server_end_point;
};

struct C2sSaslResult {
  enum class Kind {
    kContinue,  // a <challenge/> was written; the exchange goes on
    kSuccess,   // <success/> was written: restart the stream (RFC 6120 §6.4.6)
    kFailure,   // <failure/> was written; the exchange is over
  };
  Kind kind = Kind::kContinue;
  // kFailure: the condition sent.
  SaslCondition condition = SaslCondition::kTemporaryAuthFailure;
  // kFailure: whether it counts toward C2sConfig::max_auth_failures. Every
  // failure does except <aborted/>: abort-and-retry is the client's right
  // (RFC 6120 §6.4.4, catalogue E40).
  bool counted = false;
  // kSuccess: the authenticated bare JID.
  Jid jid;
  // kSuccess and kFailure: the mechanism, or "" when none had been chosen.
  // Static storage.
  std::string_view mechanism;
};

class C2sSasl {
 public:
  // |config| and |host| must outlive this object.
  C2sSasl(const C2sConfig& config, C2sHost& host);
  ~C2sSasl();
  C2sSasl(const C2sSasl&) = delete;
  C2sSasl& operator=(const C2sSasl&) = delete;

  // Handles one top-level element in the SASL namespace named "auth",
  // "response" or "abort" (the caller routes anything else elsewhere) and
  // appends the answer to |out|. Calls the host (auth_allowed,
  // find_credentials, random_bytes, auth_failed, auth_succeeded) but never
  // the stream. Out-of-order elements (<response/> with no exchange,
  // <auth/> during one) end any exchange with <malformed-request/>
  // (catalogue E40), so no half-finished state survives a failure.
  C2sSaslResult handle(const Element& element, const C2sSaslContext& context, std::string& out);

  // True between an <auth/> and the end of its exchange.
  bool in_progress() const { return step_ != Step::kIdle; }

 private:
  enum class Step { kIdle, kAwaitInitialResponse, kAwaitClientFinal };

  C2sSaslResult start(const Element& auth, const C2sSaslContext& context, std::string& out);
  C2sSaslResult first_message(std::string_view message, const C2sSaslContext& context,
                              std::string& out);
  C2sSaslResult plain(std::string_view message, std::string& out);
  C2sSaslResult scram_first(std::string_view message, const C2sSaslContext& context,
                            std::string& out);
  C2sSaslResult scram_final(std::string_view message, std::string& out);
  C2sSaslResult fail(SaslCondition condition, std::string& out, bool report = true);
  C2sSaslResult succeed(Jid jid, std::string_view additional_data, std::string& out);
  void end_exchange();

  const C2sConfig& config_;
  C2sHost& host_;
  Step step_ = Step::kIdle;
  bool is_plain_ = false;
  ScramHash hash_ = ScramHash::kSha1;
  bool plus_ = false;
  std::string_view mechanism_;  // static storage, "" when idle
  std::unique_ptr<ScramServer> scram_;
  Jid jid_;  // SCRAM: the bare JID being authenticated; empty for an unknown user
};

}  // namespace xd::protocol
