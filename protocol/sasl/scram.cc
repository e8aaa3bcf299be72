#include "protocol/sasl/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cassert>
#include <climits>
#include <cstdlib>

#include "protocol/sasl/base64.h"
#include "protocol/sasl/secret_equal.h"

namespace xd::protocol {
namespace {

const EVP_MD* md(ScramHash hash) { return hash == ScramHash::kSha256 ? EVP_sha256() : EVP_sha1(); }

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

void cleanse(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

// libcrypto failing to hash is not a peer's doing; conventions.md §4 says
// such environment failures abort instead of limping on.
[[noreturn]] void crypto_failure() { std::abort(); }

std::string hmac(const EVP_MD* digest, std::string_view key, std::string_view data) {
  assert(key.size() <= INT_MAX);
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (HMAC(digest, key.data(), static_cast<int>(key.size()), bytes(data), data.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr) {
    crypto_failure();
  }
  out.resize(len);
  return out;
}

std::string hash_of(ScramHash hash, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 md(hash), nullptr) != 1) {
    crypto_failure();
  }
  out.resize(len);
  return out;
}

// RFC 5802 §2.2 Hi() is PBKDF2 (RFC 8018) with HMAC-H and dkLen = |H|.
std::string salted_password(ScramHash hash, std::string_view password, std::string_view salt,
                            uint32_t iterations) {
  assert(iterations >= 1 && iterations <= INT_MAX);
  assert(password.size() <= INT_MAX && salt.size() <= INT_MAX);
  std::string out(scram_hash_size(hash), '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), md(hash),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    crypto_failure();
  }
  return out;
}

void xor_into(std::string& a, std::string_view b) {
  assert(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
}

bool usable(const ScramCredentials& c, ScramHash hash) {
  const size_t n = scram_hash_size(hash);
  return c.hash == hash && c.iterations >= 1 && !c.salt.empty() && c.stored_key.size() == n &&
         c.server_key.size() == n;
}

std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof) {
  std::string m;
  m.reserve(client_first_bare.size() + server_first.size() + client_final_without_proof.size() + 2);
  m += client_first_bare;
  m += ',';
  m += server_first;
  m += ',';
  m += client_final_without_proof;
  return m;
}

}  // namespace

size_t scram_hash_size(ScramHash hash) { return hash == ScramHash::kSha256 ? 32 : 20; }

std::string_view scram_mechanism_name(ScramHash hash, bool plus) {
  if (hash == ScramHash::kSha256) return plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
  return plus ? "SCRAM-SHA-1-PLUS" : "SCRAM-SHA-1";
}

bool scram_mechanism_from_name(std::string_view name, ScramHash& hash, bool& plus) {
  for (ScramHash h : {ScramHash::kSha1, ScramHash::kSha256}) {
    for (bool p : {false, true}) {
      if (scram_mechanism_name(h, p) == name) {
        hash = h;
        plus = p;
        return true;
      }
    }
  }
  return false;
}

ScramCredentials scram_derive(ScramHash hash, std::string_view prepared_password,
                              std::string_view salt, uint32_t iterations) {
  const EVP_MD* digest = md(hash);
  std::string salted = salted_password(hash, prepared_password, salt, iterations);
  std::string client_key = hmac(digest, salted, "Client Key");
  ScramCredentials c;
  c.salt = std::string(salt);
  c.iterations = iterations;
  c.stored_key = hash_of(hash, client_key);
  c.server_key = hmac(digest, salted, "Server Key");
  c.hash = hash;
  cleanse(client_key);
  cleanse(salted);
  return c;
}

PrecisError scram_derive_from_password(ScramHash hash, std::string_view password,
                                       std::string_view salt, uint32_t iterations,
                                       ScramCredentials& out) {
  std::string prepared;
  PrecisError err = opaque_string(password, prepared);
  if (err == PrecisError::kOk) out = scram_derive(hash, prepared, salt, iterations);
  cleanse(prepared);
  return err;
}

ScramCredentials scram_fake_credentials(ScramHash hash, std::string_view server_secret,
                                        std::string_view username, uint32_t iterations) {
  assert(!server_secret.empty() && iterations >= 1);
  const size_t n = scram_hash_size(hash);
  ScramCredentials c;
  c.salt = hmac(EVP_sha256(), server_secret, username).substr(0, kScramSaltBytes);
  c.iterations = iterations;
  // Usernames never contain NUL (saslname excludes it), so these labelled
  // inputs cannot collide with the salt input above.
  std::string label("\0stored-key\0", 12);
  c.stored_key = hmac(EVP_sha256(), server_secret, label + std::string(username)).substr(0, n);
  label.assign("\0server-key\0", 12);
  c.server_key = hmac(EVP_sha256(), server_secret, label + std::string(username)).substr(0, n);
  c.hash = hash;
  return c;
}

void scram_wipe(ScramCredentials& credentials) {
  cleanse(credentials.salt);
  cleanse(credentials.stored_key);
  cleanse(credentials.server_key);
  credentials.iterations = 0;
}

void scram_wipe_cache_entry(ScramKeyCacheEntry& entry) {
  cleanse(entry.salt);
  cleanse(entry.salted_password);
  entry.iterations = 0;
}

std::string scram_nonce_from_random(std::string_view random_bytes) {
  return base64_encode(random_bytes);
}

// ---------------------------------------------------------------- server

ScramServer::ScramServer(const ScramServerConfig& config)
    : config_(config),
      config_valid_(scram_is_printable_nonce(config_.server_nonce) &&
                    !config_.server_secret.empty() && config_.fake_iterations >= 1) {
  assert(config_valid_);
  if (!config_valid_) state_ = State::kFailed;
}

ScramServer::~ScramServer() {
  wipe();
  cleanse(config_.server_secret);
  for (auto& [type, data] : config_.channel_bindings) cleanse(data);
}

void ScramServer::wipe() {
  scram_wipe(credentials_);
  cleanse(cbind_input_);  // may hold tls-exporter bytes, keyed by the TLS secrets
  user_real_ = false;
}

SaslCondition ScramServer::fail(SaslCondition condition) {
  // Terminal: drop everything learned so far, so no later call can finish
  // an exchange that has failed once (catalogue 39).
  wipe();
  state_ = State::kFailed;
  return condition;
}

SaslResult<ScramNeedCredentials> ScramServer::client_first(std::string_view message) {
  if (!config_valid_) return fail(SaslCondition::kTemporaryAuthFailure);
  if (state_ != State::kAwaitClientFirst) return fail(SaslCondition::kMalformedRequest);
  // A -PLUS mechanism that this stream never offered (RFC 6120 §6.4.2).
  if (config_.plus && !config_.plus_advertised) return fail(SaslCondition::kInvalidMechanism);

  auto parsed = parse_client_first(message);
  if (!parsed) return fail(parsed.condition());
  ClientFirstMessage& m = parsed.value();

  // RFC 5802 §6 channel-binding negotiation.
  std::string_view cb_data;
  switch (m.gs2.flag) {
    case Gs2CbindFlag::kUsed: {
      // "p=" selects binding, which only the -PLUS mechanisms carry.
      if (!config_.plus) return fail(SaslCondition::kMalformedRequest);
      // Only the types we offer. tls-unique is never among them: under
      // TLS 1.3 it is undefined (RFC 9266 §3), so a map entry for it is ignored.
      const bool offered = m.gs2.cb_name == kCbTlsExporter || m.gs2.cb_name == kCbTlsServerEndPoint;
      auto it = config_.channel_bindings.find(m.gs2.cb_name);
      if (!offered || it == config_.channel_bindings.end() || it->second.empty()) {
        return fail(SaslCondition::kMalformedRequest);
      }
      cb_data = it->second;
      break;
    }
    case Gs2CbindFlag::kSupportedNotUsed:
      if (config_.plus) return fail(SaslCondition::kMalformedRequest);
      // "y": the client could bind but believes we cannot. If we advertised
      // -PLUS, someone removed it from our feature list: a downgrade that
      // RFC 5802 §6 says MUST fail.
      if (config_.plus_advertised) return fail(SaslCondition::kNotAuthorized);
      break;
    case Gs2CbindFlag::kNotSupported:
      if (config_.plus) return fail(SaslCondition::kMalformedRequest);
      break;
  }

  // hostile-inputs.md decision 5: an authzid is checked, never trusted. We
  // allow only the identity the client authenticates as (ejabberd e0f0a5c).
  if (!m.gs2.authzid.empty()) {
    const bool bare_match = m.gs2.authzid == m.username;
    const bool full_match =
        !config_.domain.empty() &&
        m.gs2.authzid.size() == m.username.size() + 1 + config_.domain.size() &&
        m.gs2.authzid.compare(0, m.username.size(), m.username) == 0 &&
        m.gs2.authzid[m.username.size()] == '@' &&
        m.gs2.authzid.compare(m.username.size() + 1, std::string::npos, config_.domain) == 0;
    if (!bare_match && !full_match) return fail(SaslCondition::kInvalidAuthzid);
  }

  username_ = m.username;
  cbind_input_ = m.gs2_header;
  cbind_input_ += cb_data;
  client_first_bare_ = std::move(m.bare);
  nonce_ = m.nonce + config_.server_nonce;
  state_ = State::kAwaitCredentials;
  return ScramNeedCredentials{std::move(m.username), std::move(m.gs2.authzid)};
}

SaslResult<std::string> ScramServer::set_credentials(const ScramCredentials* credentials,
                                                     bool user_exists) {
  if (state_ != State::kAwaitCredentials) return fail(SaslCondition::kTemporaryAuthFailure);
  // Accounts are found by the PRECIS-prepared name (RFC 7622 §3.3), so
  // "User" and "user" see one real salt. Key the fake salt the same way, or
  // two spellings with different salts would betray a missing account.
  std::string key;
  if (username_case_mapped(username_, key) != PrecisError::kOk) key = username_;
  // The fake credentials are computed on every path, so the known-user and
  // unknown-user paths do the same work (catalogue 37: timing within noise).
  ScramCredentials fake =
      scram_fake_credentials(config_.hash, config_.server_secret, key, config_.fake_iterations);
  user_real_ = user_exists && credentials != nullptr && usable(*credentials, config_.hash);
  if (user_real_) {
    credentials_ = *credentials;
    scram_wipe(fake);
  } else {
    credentials_ = std::move(fake);
  }
  server_first_ = build_server_first(nonce_, credentials_.salt, credentials_.iterations);
  state_ = State::kAwaitClientFinal;
  return server_first_;
}

SaslResult<ScramServerSuccess> ScramServer::client_final(std::string_view message) {
  if (state_ != State::kAwaitClientFinal) return fail(SaslCondition::kMalformedRequest);
  auto parsed = parse_client_final(message);
  if (!parsed) return fail(parsed.condition());
  const ClientFinalMessage& m = parsed.value();

  // RFC 5802 §6: c= must carry our gs2 header and, with "p=", the binding
  // data of this very TLS channel. A mismatch means a man in the middle.
  if (!secret_equal(m.channel_binding, cbind_input_)) return fail(SaslCondition::kNotAuthorized);
  // RFC 5802 §5.1: the nonce must be exactly the one of the server-first message.
  if (m.nonce != nonce_) return fail(SaslCondition::kNotAuthorized);
  const size_t n = scram_hash_size(config_.hash);
  if (m.proof.size() != n) return fail(SaslCondition::kNotAuthorized);

  // RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage);
  // the proof is right when H(ClientKey) equals StoredKey.
  const EVP_MD* digest = md(config_.hash);
  std::string auth = auth_message(client_first_bare_, server_first_, m.without_proof);
  std::string client_key = hmac(digest, credentials_.stored_key, auth);
  xor_into(client_key, m.proof);
  std::string computed = hash_of(config_.hash, client_key);
  const bool proof_ok = secret_equal(computed, credentials_.stored_key);
  cleanse(client_key);
  cleanse(computed);
  // Fake credentials fail here too, after the same work as a wrong password.
  if (!(proof_ok & user_real_)) return fail(SaslCondition::kNotAuthorized);

  std::string signature = hmac(digest, credentials_.server_key, auth);
  ScramServerSuccess success{build_server_final(signature), username_};
  cleanse(signature);
  wipe();
  state_ = State::kSucceeded;
  return success;
}

// ---------------------------------------------------------------- client

ScramClient::ScramClient(const ScramClientConfig& config) : config_(config) {}

ScramClient::~ScramClient() {
  // A cached key that did not lead to success may be stale (the password or
  // the account changed): drop it, so the next login derives afresh.
  if (used_cache_ && state_ != State::kSucceeded && config_.key_cache != nullptr) {
    scram_wipe_cache_entry(*config_.key_cache);
  }
  wipe();
  cleanse(config_.password);
  cleanse(config_.cb_data);
}

void ScramClient::wipe() {
  cleanse(server_signature_);
  scram_wipe_cache_entry(pending_);
}

SaslCondition ScramClient::fail(SaslCondition condition) {
  wipe();
  cleanse(config_.password);
  state_ = State::kFailed;
  return condition;
}

SaslResult<std::string> ScramClient::client_first() {
  if (state_ != State::kStart) return fail(SaslCondition::kTemporaryAuthFailure);
  const bool cb_ok =
      config_.cbind_flag != Gs2CbindFlag::kUsed ||
      ((config_.cb_name == kCbTlsExporter || config_.cb_name == kCbTlsServerEndPoint) &&
       !config_.cb_data.empty());
  if (!scram_is_printable_nonce(config_.client_nonce) || config_.username.empty() ||
      !scram_unescape_saslname(scram_escape_saslname(config_.username)) ||
      (!config_.authzid.empty() &&
       !scram_unescape_saslname(scram_escape_saslname(config_.authzid))) ||
      !cb_ok || config_.min_iterations < 1 || config_.min_iterations > config_.max_iterations) {
    return fail(SaslCondition::kTemporaryAuthFailure);
  }
  Gs2Header h;
  h.flag = config_.cbind_flag;
  if (h.flag == Gs2CbindFlag::kUsed) h.cb_name = config_.cb_name;
  h.authzid = config_.authzid;
  gs2_header_ = build_gs2_header(h);
  client_first_bare_ = build_client_first_bare(config_.username, config_.client_nonce);
  state_ = State::kAwaitServerFirst;
  return gs2_header_ + client_first_bare_;
}

SaslResult<std::string> ScramClient::server_first(std::string_view message) {
  if (state_ != State::kAwaitServerFirst) return fail(SaslCondition::kMalformedRequest);
  auto parsed = parse_server_first(message);
  if (!parsed) return fail(parsed.condition());
  const ServerFirstMessage& m = parsed.value();
  // RFC 5802 §5.1: the server's nonce starts with ours and adds its own part.
  if (m.nonce.size() <= config_.client_nonce.size() ||
      m.nonce.compare(0, config_.client_nonce.size(), config_.client_nonce) != 0) {
    return fail(SaslCondition::kMalformedRequest);
  }
  if (m.iterations < config_.min_iterations) return fail(SaslCondition::kMechanismTooWeak);
  if (m.iterations > config_.max_iterations) return fail(SaslCondition::kMalformedRequest);

  std::string cbind_input = gs2_header_;
  if (config_.cbind_flag == Gs2CbindFlag::kUsed) cbind_input += config_.cb_data;
  std::string without_proof = build_client_final_without_proof(cbind_input, m.nonce);
  std::string auth = auth_message(client_first_bare_, message, without_proof);

  const EVP_MD* digest = md(config_.hash);
  std::string salted;
  ScramKeyCacheEntry* cache = config_.key_cache;
  if (cache != nullptr && !cache->salted_password.empty() && cache->hash == config_.hash &&
      cache->iterations == m.iterations && cache->salt == m.salt) {
    salted = cache->salted_password;
    used_cache_ = true;
  } else {
    salted = salted_password(config_.hash, config_.password, m.salt, m.iterations);
    if (cache != nullptr) {
      // Cached only once the server signature proves it (server_final).
      pending_.hash = config_.hash;
      pending_.salt = m.salt;
      pending_.iterations = m.iterations;
      pending_.salted_password = salted;
    }
  }
  std::string client_key = hmac(digest, salted, "Client Key");
  std::string stored_key = hash_of(config_.hash, client_key);
  std::string proof = hmac(digest, stored_key, auth);
  xor_into(proof, client_key);
  std::string server_key = hmac(digest, salted, "Server Key");
  server_signature_ = hmac(digest, server_key, auth);
  cleanse(salted);
  cleanse(client_key);
  cleanse(stored_key);
  cleanse(server_key);
  // The password is not needed again; do not keep it longer than necessary.
  cleanse(config_.password);

  std::string final_message = build_client_final(without_proof, proof);
  cleanse(proof);
  state_ = State::kAwaitServerFinal;
  return final_message;
}

SaslStatus ScramClient::server_final(std::string_view message) {
  if (state_ != State::kAwaitServerFinal) return fail(SaslCondition::kMalformedRequest);
  auto parsed = parse_server_final(message);
  if (!parsed) return fail(parsed.condition());
  if (!parsed.value().error.empty()) {
    server_error_ = parsed.value().error;
    return fail(SaslCondition::kNotAuthorized);
  }
  // RFC 5802 §9: a server that cannot produce ServerSignature does not know
  // ServerKey, so it is not the server we enrolled with.
  if (!secret_equal(parsed.value().verifier, server_signature_)) {
    return fail(SaslCondition::kNotAuthorized);
  }
  if (config_.key_cache != nullptr && !pending_.salted_password.empty()) {
    scram_wipe_cache_entry(*config_.key_cache);
    *config_.key_cache = pending_;
  }
  wipe();
  state_ = State::kSucceeded;
  return sasl_ok();
}

}  // namespace xd::protocol
