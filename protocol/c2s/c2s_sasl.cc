#include "protocol/c2s/c2s_sasl.h"

#include <openssl/crypto.h>

#include <optional>
#include <utility>

#include "protocol/jid/precis.h"
#include "protocol/sasl/base64.h"
#include "protocol/sasl/plain.h"
#include "protocol/xml/element.h"

namespace xd::protocol {
namespace {

// 18 random bytes give a 24-character nonce part: RFC 5802 §5.1 asks for a
// "sufficiently random" nonce; 144 bits is far beyond guessing.
constexpr size_t kServerNonceBytes = 18;

// Overwrites a buffer that held a password or a proof before it is freed.
void cleanse(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// The SASL data carried by <auth/> or <response/> (RFC 6120 §6.4.2): strict
// base64 (no whitespace), with "=" standing for zero-length data.
std::optional<std::string> decode_payload(std::string_view text) {
  if (text.empty() || text == "=") return std::string();
  return base64_decode(text);
}

void append_sasl_element(std::string& out, std::string_view name, std::string_view data) {
  out.append("<").append(name).append(" xmlns='urn:ietf:params:xml:ns:xmpp-sasl'");
  if (data.empty()) {
    out.append("/>");
    return;
  }
  out.append(">").append(base64_encode(data)).append("</").append(name).append(">");
}

}  // namespace

C2sSasl::C2sSasl(const C2sConfig& config, C2sHost& host) : config_(config), host_(host) {}

C2sSasl::~C2sSasl() = default;

C2sSaslResult C2sSasl::handle(const Element& element, const C2sSaslContext& context,
                              std::string& out) {
  const std::string& name = element.name();
  if (name == "auth") {
    // A second <auth/> in the middle of an exchange is out of order
    // (catalogue E40); the exchange in progress ends with it.
    if (in_progress()) return fail(SaslCondition::kMalformedRequest, out);
    return start(element, context, out);
  }
  if (name == "response") {
    // <response/> without an exchange (catalogue E40).
    if (!in_progress()) return fail(SaslCondition::kMalformedRequest, out);
    std::optional<std::string> data = decode_payload(element.text());
    if (!data) return fail(SaslCondition::kIncorrectEncoding, out);
    C2sSaslResult result = step_ == Step::kAwaitInitialResponse ? first_message(*data, context, out)
                                                                : scram_final(*data, out);
    cleanse(*data);
    return result;
  }
  // <abort/> (RFC 6120 §6.4.4): answered with <aborted/> even when nothing
  // is in progress, so a client that raced its own abort is not confused.
  return fail(SaslCondition::kAborted, out, /*report=*/false);
}

C2sSaslResult C2sSasl::start(const Element& auth, const C2sSaslContext& context, std::string& out) {
  // RFC 6120 §5.3.1 and catalogue D31: with TLS mandatory, nothing about
  // the credentials is looked at before TLS is up.
  if (context.encryption_required) return fail(SaslCondition::kEncryptionRequired, out, false);
  // The per-address throttle (catalogue E37) refuses before any work.
  if (!host_.auth_allowed()) return fail(SaslCondition::kTemporaryAuthFailure, out, false);

  // RFC 6120 §6.4.2: only a mechanism this stream advertised.
  std::string_view name = auth.attr_or("mechanism");
  ScramHash hash;
  bool plus = false;
  if (name == "PLAIN" && context.offer.plain) {
    is_plain_ = true;
    mechanism_ = "PLAIN";
  } else if (scram_mechanism_from_name(name, hash, plus) &&
             (plus ? context.offer.plus() : context.offer.scram)) {
    is_plain_ = false;
    hash_ = hash;
    plus_ = plus;
    mechanism_ = scram_mechanism_name(hash, plus);
  } else {
    return fail(SaslCondition::kInvalidMechanism, out, false);
  }

  const std::string text = auth.text();
  if (text.empty()) {
    // No initial response: an empty challenge asks for it (RFC 6120 §6.4.2).
    step_ = Step::kAwaitInitialResponse;
    append_sasl_element(out, "challenge", {});
    return C2sSaslResult{};
  }
  std::optional<std::string> data = decode_payload(text);
  if (!data) return fail(SaslCondition::kIncorrectEncoding, out);
  C2sSaslResult result = first_message(*data, context, out);
  cleanse(*data);
  return result;
}

C2sSaslResult C2sSasl::first_message(std::string_view message, const C2sSaslContext& context,
                                     std::string& out) {
  return is_plain_ ? plain(message, out) : scram_first(message, context, out);
}

C2sSaslResult C2sSasl::plain(std::string_view message, std::string& out) {
  // plain_parse checks the grammar and that any authzid names the authcid
  // itself (hostile-inputs.md decision 5, catalogue E38).
  auto parsed = plain_parse(message, config_.domain);
  if (!parsed) return fail(parsed.condition(), out);
  const PlainMessage& m = parsed.value();

  // The account key is the enforced localpart (RFC 7622 §3.3, RFC 8265
  // §3.3), so "BigBird" and fullwidth "ｂｉｇｂｉｒｄ" reach one account and a
  // name that fails enforcement reaches none.
  Jid jid;
  // (from_parts() treats an empty localpart as absent; has_local() rules that out.)
  const bool user_ok =
      Jid::from_parts(m.authcid, config_.domain, {}, jid) == JidError::kOk && jid.has_local();
  std::string prepared;
  const bool password_ok = opaque_string(m.password, prepared) == PrecisError::kOk;

  ScramCredentials credentials;
  bool found = false;
  if (user_ok) {
    found = host_.find_credentials(jid.local(), ScramHash::kSha256, credentials);
    if (!found) {
      scram_wipe(credentials);
      found = host_.find_credentials(jid.local(), ScramHash::kSha1, credentials);
    }
  }
  if (!found) {
    // Same PBKDF2 work for a missing account as for a wrong password
    // (catalogue E37: the two must be indistinguishable).
    scram_wipe(credentials);
    credentials = scram_fake_credentials(ScramHash::kSha256, config_.server_secret,
                                         user_ok ? std::string_view(jid.local()) : m.authcid,
                                         config_.scram_iterations);
  }
  const bool verified = plain_verify(credentials, password_ok ? prepared : m.password);
  scram_wipe(credentials);
  cleanse(prepared);
  if (!(verified && found && user_ok && password_ok)) {
    return fail(SaslCondition::kNotAuthorized, out);
  }
  return succeed(std::move(jid), {}, out);
}

C2sSaslResult C2sSasl::scram_first(std::string_view message, const C2sSaslContext& context,
                                   std::string& out) {
  ScramServerConfig sc;
  sc.hash = hash_;
  sc.plus = plus_;
  // RFC 5802 §6: whether we offered -PLUS decides if a "y" flag is a downgrade.
  sc.plus_advertised = context.offer.plus();
  if (context.offer.tls_exporter) {
    sc.channel_bindings.emplace(std::string(kCbTlsExporter), std::string(context.tls_exporter));
  }
  if (context.offer.tls_server_end_point) {
    sc.channel_bindings.emplace(std::string(kCbTlsServerEndPoint),
                                std::string(context.tls_server_end_point));
  }
  uint8_t random[kServerNonceBytes];
  host_.random_bytes(random, sizeof random);
  sc.server_nonce = scram_nonce_from_random(
      std::string_view(reinterpret_cast<const char*>(random), sizeof random));
  sc.server_secret = config_.server_secret;
  sc.domain = config_.domain;
  sc.fake_iterations = config_.scram_iterations;
  scram_ = std::make_unique<ScramServer>(sc);
  for (auto& [type, data] : sc.channel_bindings) OPENSSL_cleanse(data.data(), data.size());
  OPENSSL_cleanse(sc.server_secret.data(), sc.server_secret.size());

  auto need = scram_->client_first(message);
  if (!need) return fail(need.condition(), out);

  // Unknown or unenforceable names go on with fake credentials and fail at
  // the proof, exactly like a wrong password (catalogue E37).
  Jid jid;
  ScramCredentials credentials;
  bool found = false;
  if (Jid::from_parts(need.value().username, config_.domain, {}, jid) == JidError::kOk &&
      jid.has_local()) {
    found = host_.find_credentials(jid.local(), hash_, credentials);
  }
  auto server_first = scram_->set_credentials(found ? &credentials : nullptr, found);
  scram_wipe(credentials);
  if (!server_first) return fail(server_first.condition(), out);
  if (found) jid_ = std::move(jid);
  step_ = Step::kAwaitClientFinal;
  append_sasl_element(out, "challenge", server_first.value());
  return C2sSaslResult{};
}

C2sSaslResult C2sSasl::scram_final(std::string_view message, std::string& out) {
  auto done = scram_->client_final(message);
  // A fake-credential exchange never gets here with success: ScramServer
  // fails the proof of an unknown user.
  if (!done) return fail(done.condition(), out);
  // RFC 6120 §6.4.6: the server-final-message travels as additional data
  // with <success/>, so the client can verify us.
  return succeed(std::move(jid_), done.value().server_final, out);
}

C2sSaslResult C2sSasl::succeed(Jid jid, std::string_view additional_data, std::string& out) {
  append_sasl_element(out, "success", additional_data);
  C2sSaslResult result;
  result.kind = C2sSaslResult::Kind::kSuccess;
  result.mechanism = mechanism_;
  result.jid = std::move(jid);
  host_.auth_succeeded(result.jid, result.mechanism);
  end_exchange();
  return result;
}

C2sSaslResult C2sSasl::fail(SaslCondition condition, std::string& out, bool report) {
  // RFC 6120 §6.4.5.
  out.append("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><")
      .append(sasl_condition_name(condition))
      .append("/></failure>");
  C2sSaslResult result;
  result.kind = C2sSaslResult::Kind::kFailure;
  result.condition = condition;
  result.counted = condition != SaslCondition::kAborted;
  result.mechanism = mechanism_;
  // Only exchanges in which a mechanism ran feed the throttle: a refused
  // <auth/> (no TLS, throttled, unknown mechanism) guessed nothing.
  if (report && !mechanism_.empty()) host_.auth_failed(mechanism_);
  end_exchange();
  return result;
}

void C2sSasl::end_exchange() {
  step_ = Step::kIdle;
  is_plain_ = false;
  plus_ = false;
  mechanism_ = {};
  scram_.reset();
  jid_ = Jid();
}

}  // namespace xd::protocol
