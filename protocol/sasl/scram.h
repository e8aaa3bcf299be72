// SCRAM-SHA-1 and SCRAM-SHA-256, with and without channel binding (RFC 5802,
// RFC 7677, RFC 9266, RFC 5929): key derivation, a server state machine and a
// client state machine. Both machines are sans-I/O: the caller passes in the
// messages, nonces, channel-binding bytes and secrets. This unit never reads
// a clock or a random device, never touches a socket or libssl, never throws,
// and never compares secrets with a variable-time comparison.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "protocol/jid/precis.h"
#include "protocol/sasl/sasl_error.h"
#include "protocol/sasl/scram_message.h"

namespace xd::protocol {

enum class ScramHash { kSha1, kSha256 };

// Output size of |hash| in bytes (20 or 32): the size of every key and proof.
size_t scram_hash_size(ScramHash hash);

// The IANA mechanism name, e.g. "SCRAM-SHA-256-PLUS".
std::string_view scram_mechanism_name(ScramHash hash, bool plus);
// Parses an exact (case-sensitive, RFC 4422 §3.1) mechanism name. Returns
// false and leaves the outputs untouched for any other name.
bool scram_mechanism_from_name(std::string_view name, ScramHash& hash, bool& plus);

// RFC 7677 §4 asks for at least 4096 iterations; we store that many by default.
inline constexpr uint32_t kScramDefaultIterations = 4096;
// Salt size for stored credentials. The fake salt of unknown users has the
// same size, so real salts must use it too or the two become distinguishable.
inline constexpr size_t kScramSaltBytes = 16;
// The client refuses iteration counts outside [min, max]: below RFC 7677's
// 4096 is too weak, and a hostile server could burn our CPU with 2^32-1.
inline constexpr uint32_t kScramClientMinIterations = 4096;
inline constexpr uint32_t kScramClientMaxIterations = 1000000;

// Channel-binding types we offer (RFC 9266 §2, RFC 5929 §4). "tls-unique"
// (RFC 5929 §3) is never offered: it is undefined under TLS 1.3 (RFC 9266 §3).
inline constexpr std::string_view kCbTlsExporter = "tls-exporter";
inline constexpr std::string_view kCbTlsServerEndPoint = "tls-server-end-point";

// What the server stores per account and hash: never the password
// (RFC 5802 §3). All byte fields are raw bytes, not base64.
struct ScramCredentials {
  std::string salt;
  uint32_t iterations = 0;
  std::string stored_key;  // H(ClientKey)
  std::string server_key;  // HMAC(SaltedPassword, "Server Key")
  ScramHash hash = ScramHash::kSha1;
};

// Derives credentials from an already-prepared password (RFC 5802 §3:
// SaltedPassword = Hi(password, salt, i) = PBKDF2-HMAC; ClientKey, StoredKey,
// ServerKey). Intermediate secrets are wiped. |iterations| must be >= 1 and
// |prepared_password| and |salt| shorter than 2^31 (asserted; these come
// from our configuration, not from a peer). Never fails; a libcrypto failure
// here is an environment failure and aborts.
ScramCredentials scram_derive(ScramHash hash, std::string_view prepared_password,
                              std::string_view salt, uint32_t iterations);

// Prepares |password| with the RFC 8265 §4.2 OpaqueString profile (RFC 7677
// §4 and RFC 8265 replace SASLprep), then calls scram_derive. On kOk |out|
// holds the credentials; otherwise |out| is untouched and the password must be
// refused. The prepared copy is wiped before returning.
PrecisError scram_derive_from_password(ScramHash hash, std::string_view password,
                                       std::string_view salt, uint32_t iterations,
                                       ScramCredentials& out);

// Deterministic stand-in credentials for a user that does not exist, so that
// the server-first message and the failure look the same as for a real user
// with a wrong password (hostile-inputs.md catalogue 37). The salt is
// HMAC-SHA-256(|server_secret|, |username|) truncated to kScramSaltBytes, so a
// repeated attempt sees the same salt. The keys are derived from the secret
// too; no password maps to them except by breaking the hash. |server_secret|
// must be non-empty and stay private, or anyone could recompute fake salts.
// Pass the PRECIS-prepared username (as ScramServer does), so spellings that
// reach one real account also share one fake salt. The salt does not depend
// on |hash|: for real accounts to look alike, storage should likewise use one
// salt per account for both hashes, kScramSaltBytes long, with the same
// iteration count as ScramServerConfig::fake_iterations.
ScramCredentials scram_fake_credentials(ScramHash hash, std::string_view server_secret,
                                        std::string_view username, uint32_t iterations);

// Overwrites the key material in |credentials| (OPENSSL_cleanse) and empties it.
void scram_wipe(ScramCredentials& credentials);

// Channel-binding data available on this connection, keyed by type name.
using ChannelBindings = std::map<std::string, std::string, std::less<>>;

// Everything the server machine needs to know, supplied by the session.
struct ScramServerConfig {
  ScramHash hash = ScramHash::kSha1;
  // The client selected the -PLUS variant of the mechanism.
  bool plus = false;
  // This stream advertised -PLUS mechanisms (RFC 5802 §6: decides whether a
  // "y" flag is a downgrade).
  bool plus_advertised = false;
  // Data per channel-binding type for this TLS connection (e.g. the 32-byte
  // tls-exporter value, RFC 9266 §2). Empty values count as unavailable.
  ChannelBindings channel_bindings;
  // The server's nonce part: printable ASCII without ',' (RFC 5802 §7). The
  // caller generates it, e.g. scram_nonce_from_random(18+ random bytes).
  std::string server_nonce;
  // Key for fake salts of unknown users: long-lived, random, non-empty.
  std::string server_secret;
  // The server's domain: an authzid may be "user" or "user@domain".
  std::string domain;
  // Iteration count advertised to unknown users; match what real accounts use.
  uint32_t fake_iterations = kScramDefaultIterations;
};

// Encodes caller-supplied random bytes as an RFC 5802 nonce (base64 is
// printable and never contains ',').
std::string scram_nonce_from_random(std::string_view random_bytes);

// client_first succeeded: look up the credentials of |username| (the decoded
// saslname; the caller applies PRECIS before lookup). |authzid| is empty or
// already checked against the username, octet for octet before PRECIS.
struct ScramNeedCredentials {
  std::string username;
  std::string authzid;
};

// client_final succeeded: send |server_final| as additional data with
// <success/> (RFC 6120 §6.4.6); |username| is the authenticated authcid.
struct ScramServerSuccess {
  std::string server_final;
  std::string username;
};

// The server side of one SCRAM exchange:
//
//   kAwaitClientFirst --client_first--> kAwaitCredentials
//   kAwaitCredentials --set_credentials--> kAwaitClientFinal
//   kAwaitClientFinal --client_final--> kSucceeded
//   any state --any failure or out-of-order call--> kFailed (terminal)
//
// A failed machine never becomes usable again; a new <auth> gets a new
// ScramServer, so no half-authenticated state survives (catalogue 39). The
// machine holds key material and wipes it on destruction; it cannot be copied
// or moved (hold it in std::optional or std::unique_ptr).
class ScramServer {
 public:
  enum class State { kAwaitClientFirst, kAwaitCredentials, kAwaitClientFinal, kSucceeded, kFailed };

  // Copies |config|. An invalid config (non-printable server nonce, empty
  // secret) is a programmer error: it asserts, and in release builds the
  // first call fails with kTemporaryAuthFailure.
  explicit ScramServer(const ScramServerConfig& config);
  ~ScramServer();
  ScramServer(const ScramServer&) = delete;
  ScramServer& operator=(const ScramServer&) = delete;

  // Consumes the client-first-message (the decoded <auth/> payload). Fails:
  // - kInvalidMechanism: a -PLUS mechanism on a stream that did not offer it;
  // - kMalformedRequest / kIncorrectEncoding: see parse_client_first; also
  //   "p=" with a non-PLUS mechanism, "n" or "y" with a -PLUS mechanism, and
  //   a channel-binding type we do not offer ("tls-unique" included);
  // - kNotAuthorized: flag "y" although we advertised -PLUS (a downgrade,
  //   RFC 5802 §6);
  // - kInvalidAuthzid: an authzid other than the username or username@domain
  //   (hostile-inputs.md decision 5).
  SaslResult<ScramNeedCredentials> client_first(std::string_view message);

  // Supplies the account's credentials and returns the server-first-message.
  // Pass nullptr or |user_exists| = false for an unknown (or to-be-hidden)
  // user: the machine then continues with scram_fake_credentials and fails in
  // client_final exactly as for a wrong password. Credentials for another
  // hash, or without keys of the right size, are treated the same way.
  // |credentials| is copied; the caller keeps ownership. Called in any other
  // state than kAwaitCredentials it fails with kTemporaryAuthFailure.
  SaslResult<std::string> set_credentials(const ScramCredentials* credentials, bool user_exists);

  // Consumes the client-final-message. Fails with kMalformedRequest /
  // kIncorrectEncoding for grammar errors, and kNotAuthorized when the c=
  // data is not gs2-header + channel-binding data (RFC 5802 §6), the nonce
  // is not exactly client nonce + server nonce, the proof is wrong, or the
  // user is unknown. Proofs are compared with secret_equal() (constant time,
  // catalogue 41).
  SaslResult<ScramServerSuccess> client_final(std::string_view message);

  State state() const { return state_; }

 private:
  SaslCondition fail(SaslCondition condition);
  void wipe();

  ScramServerConfig config_;
  bool config_valid_;
  State state_ = State::kAwaitClientFirst;
  std::string username_;
  std::string cbind_input_;  // expected decoded c= value
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // client nonce + server nonce
  ScramCredentials credentials_;
  bool user_real_ = false;
};

// Client-side settings. |password| must already be prepared with
// opaque_string (RFC 8265 §4.2).
// RFC 5802 §5.1: "the client can cache the ClientKey/ServerKey (or
// SaltedPassword)" for a salt and iteration count, so a repeated login skips
// Hi(), the one costly step on the client. One entry per account; the owner
// keeps it as secret as the password and wipes it (scram_wipe_cache_entry).
struct ScramKeyCacheEntry {
  ScramHash hash = ScramHash::kSha1;
  std::string salt;
  uint32_t iterations = 0;
  std::string salted_password;  // empty: nothing cached yet
};
void scram_wipe_cache_entry(ScramKeyCacheEntry& entry);

struct ScramClientConfig {
  ScramHash hash = ScramHash::kSha1;
  std::string username;  // raw; escaped as a saslname on the wire
  std::string password;
  std::string authzid;       // empty: none sent
  std::string client_nonce;  // printable, no ','; the caller supplies randomness
  Gs2CbindFlag cbind_flag = Gs2CbindFlag::kNotSupported;
  std::string cb_name;  // with kUsed: "tls-exporter" or "tls-server-end-point"
  std::string cb_data;  // with kUsed: the binding bytes of our TLS connection
  uint32_t min_iterations = kScramClientMinIterations;
  uint32_t max_iterations = kScramClientMaxIterations;
  // Optional, owned by the caller and outliving the ScramClient: used when
  // its hash, salt and iteration count match the server-first-message; else
  // Hi() runs and the entry is replaced once the server signature verifies.
  // A used entry is wiped when the exchange does not succeed (a changed
  // password, a re-created account), so the next login derives afresh.
  ScramKeyCacheEntry* key_cache = nullptr;
};

// The client side of one exchange (used by our client and by the tests).
// Same rules as ScramServer: terminal on failure, secrets wiped on
// destruction, neither copyable nor movable.
class ScramClient {
 public:
  enum class State { kStart, kAwaitServerFirst, kAwaitServerFinal, kSucceeded, kFailed };

  explicit ScramClient(const ScramClientConfig& config);
  ~ScramClient();
  ScramClient(const ScramClient&) = delete;
  ScramClient& operator=(const ScramClient&) = delete;

  // Returns the client-first-message. Fails with kTemporaryAuthFailure if
  // the config is unusable (bad nonce, empty username, bad cb name) or the
  // call is out of order.
  SaslResult<std::string> client_first();

  // Consumes the server-first-message and returns the client-final-message.
  // Fails with kMalformedRequest / kIncorrectEncoding on grammar errors or a
  // nonce that does not strictly extend ours, kMechanismTooWeak when the
  // iteration count is below min_iterations, and kMalformedRequest when it
  // is above max_iterations (a CPU-exhaustion attempt).
  SaslResult<std::string> server_first(std::string_view message);

  // Verifies the server-final-message in constant time. Fails with
  // kNotAuthorized when the server sent e= (see server_error()) or its
  // signature is wrong, i.e. the server does not know our credentials.
  SaslStatus server_final(std::string_view message);

  // The e= value of a failed server-final-message, else empty.
  const std::string& server_error() const { return server_error_; }
  State state() const { return state_; }

 private:
  SaslCondition fail(SaslCondition condition);
  void wipe();

  ScramClientConfig config_;
  State state_ = State::kStart;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_signature_;
  std::string server_error_;
  ScramKeyCacheEntry pending_;  // derived here; goes to the cache on success
  bool used_cache_ = false;
};

}  // namespace xd::protocol
