// libFuzzer target for the SASL parsers and the SCRAM server machine
// (conventions.md §14). Byte 0 picks the configuration; the rest is split at
// the first NUL into the client-first and client-final messages, which drive
// one ScramServer through client_first -> set_credentials -> client_final.
// The same bytes also go through the message parsers, a ScramClient (capped
// at a few iterations so PBKDF2 stays cheap) and the PLAIN parser. Beyond
// "no crash, no sanitizer report" it checks: base64 and saslname decoding
// are canonical (encode(decode(x)) == x), our own server messages parse, and
// an unknown user never authenticates.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/sasl/base64.h"
#include "protocol/sasl/plain.h"
#include "protocol/sasl/sasl_error.h"
#include "protocol/sasl/scram.h"
#include "protocol/sasl/scram_message.h"

namespace {

namespace xp = xd::protocol;

// Traps rather than asserting so the checks also run in release builds.
void require(bool condition) {
  if (!condition) __builtin_trap();
}

// Configuration bits in byte 0.
constexpr uint8_t kSha256 = 0x01;       // SCRAM-SHA-256 instead of SCRAM-SHA-1
constexpr uint8_t kPlus = 0x02;         // the client chose the -PLUS variant
constexpr uint8_t kAdvertised = 0x04;   // -PLUS was offered on this stream
constexpr uint8_t kUnknownUser = 0x08;  // set_credentials(nullptr, false)

constexpr std::string_view kSalt = "0123456789abcdef";
constexpr std::string_view kServerNonce = "3rfcNHYJY1ZVvWVs7j";

// "user" / "pencil", derived once per process.
const xp::ScramCredentials& credentials(xp::ScramHash hash) {
  static const xp::ScramCredentials sha1 =
      xp::scram_derive(xp::ScramHash::kSha1, "pencil", kSalt, xp::kScramDefaultIterations);
  static const xp::ScramCredentials sha256 =
      xp::scram_derive(xp::ScramHash::kSha256, "pencil", kSalt, xp::kScramDefaultIterations);
  return hash == xp::ScramHash::kSha1 ? sha1 : sha256;
}

// Cheap credentials for PLAIN: plain_verify runs PBKDF2 with these iterations.
const xp::ScramCredentials& plain_credentials() {
  static const xp::ScramCredentials c =
      xp::scram_derive(xp::ScramHash::kSha256, "pencil", kSalt, 2);
  return c;
}

void check_canonical_decoders(std::string_view s) {
  if (auto decoded = xp::base64_decode(s)) require(xp::base64_encode(*decoded) == s);
  auto name = xp::scram_unescape_saslname(s);
  if (name.ok()) require(xp::scram_escape_saslname(name.value()) == s);
}

void run_server(uint8_t mode, std::string_view first, std::string_view final_msg) {
  xp::ScramServerConfig config;
  config.hash = (mode & kSha256) ? xp::ScramHash::kSha256 : xp::ScramHash::kSha1;
  config.plus = (mode & kPlus) != 0;
  config.plus_advertised = (mode & kAdvertised) != 0;
  if (config.plus_advertised) {
    config.channel_bindings.emplace(std::string(xp::kCbTlsExporter), std::string(32, '\x11'));
    config.channel_bindings.emplace(std::string(xp::kCbTlsServerEndPoint), std::string(32, '\x22'));
    config.channel_bindings.emplace("tls-unique", std::string(12, '\x33'));  // must be ignored
  }
  config.server_nonce = std::string(kServerNonce);
  config.server_secret = "fuzz server secret";
  config.domain = "example.com";
  const bool unknown = (mode & kUnknownUser) != 0;

  xp::ScramServer server(config);
  auto need = server.client_first(first);
  if (!need.ok()) {
    require(server.state() == xp::ScramServer::State::kFailed);
    require(!xp::sasl_condition_name(need.condition()).empty());
    // A failed machine stays failed.
    require(!server.client_final(final_msg).ok());
    return;
  }
  auto server_first =
      server.set_credentials(unknown ? nullptr : &credentials(config.hash), !unknown);
  require(server_first.ok());
  require(xp::parse_server_first(server_first.value()).ok());

  auto done = server.client_final(final_msg);
  if (!done.ok()) {
    require(server.state() == xp::ScramServer::State::kFailed);
    return;
  }
  require(!unknown);
  require(server.state() == xp::ScramServer::State::kSucceeded);
  require(xp::parse_server_final(done.value().server_final).ok());
}

void run_client(uint8_t mode, std::string_view server_first, std::string_view server_final) {
  xp::ScramClientConfig config;
  config.hash = (mode & kSha256) ? xp::ScramHash::kSha256 : xp::ScramHash::kSha1;
  config.username = "user";
  config.password = "pencil";
  config.client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  config.min_iterations = 1;
  config.max_iterations = 16;
  xp::ScramClient client(config);
  require(client.client_first().ok());
  auto client_final = client.server_first(server_first);
  if (!client_final.ok()) return;
  require(xp::parse_client_final(client_final.value()).ok());
  (void)client.server_final(server_final);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nul = rest.find('\0');
  const std::string_view first = rest.substr(0, nul);
  const std::string_view second =
      nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);

  check_canonical_decoders(first);
  (void)xp::parse_client_first(first);
  (void)xp::parse_client_final(second);
  run_server(mode, first, second);
  run_client(mode, first, second);

  // PLAIN sees the whole remainder, NULs included.
  auto plain = xp::plain_parse(rest, "example.com");
  if (plain.ok()) {
    require(!plain.value().authcid.empty() && !plain.value().password.empty());
    if (plain.value().authcid == "user") {
      (void)xp::plain_verify(plain_credentials(), plain.value().password);
    }
  }
  return 0;
}
