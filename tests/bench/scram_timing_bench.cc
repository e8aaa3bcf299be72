// Timing side channel of secret comparison (hostile-inputs.md catalogue 41,
// Prosody CVE-2021-32921). Reports, for each of three measurements, the mean
// time of two input classes over N interleaved tries each and Welch's t
// statistic for their difference (|t| > 4.5 is dudect's "leak" threshold):
//  (a) server-side SCRAM-SHA-1 client-final verification
//      (ScramServer::client_final) with a proof wrong in its first byte
//      against one wrong in its last byte: the whole path that an attacker
//      times, parsing and HMAC included;
//  (b) secret_equal() on 32-byte and 4 KiB secrets differing in the first
//      against the last byte: the compare itself, where a bytewise leak
//      would sit (for SCRAM the compared value is a hash of the proof, so
//      (a) cannot show a bytewise leak of the compare; (b) can);
//  (c) a control: std::memcmp on the 4 KiB inputs of (b). memcmp stops at
//      the first difference, so (c) must show a large |t|: it proves the
//      method sees a leak on this machine;
//  (d) an A/A run: both classes flip byte 0 of 32, the noise floor of |t|.
// The two classes of (b) and (c) use one buffer (a byte flipped and
// restored around each sample), of (a) one message buffer, so they differ
// only in data, never in address.
// Usage: scram_timing_bench [TRIES]   (default 10000 per class)
// A benchmark, not a test: it prints figures and asserts nothing about time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "protocol/sasl/base64.h"
#include "protocol/sasl/scram.h"
#include "protocol/sasl/secret_equal.h"

using namespace xd::protocol;

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "scram_timing_bench: %s\n", what);
  std::exit(1);
}

// RFC 5802 §5 example: the server nonce is fixed, so one client-final
// message fits every fresh server machine.
constexpr std::string_view kClientFirst = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
constexpr std::string_view kFinalWithoutProof =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
constexpr std::string_view kProof = "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";

struct Stats {
  double mean = 0, var = 0;
  size_t n = 0;
};

Stats stats(const std::vector<double>& xs) {
  Stats s;
  s.n = xs.size();
  for (double x : xs) s.mean += x;
  s.mean /= static_cast<double>(s.n);
  for (double x : xs) s.var += (x - s.mean) * (x - s.mean);
  s.var /= static_cast<double>(s.n - 1);
  return s;
}

double welch_t(const Stats& a, const Stats& b) {
  return (a.mean - b.mean) /
         std::sqrt(a.var / static_cast<double>(a.n) + b.var / static_cast<double>(b.n));
}

// Drops the slowest 1% of each class (interrupts, preemption on a shared
// machine), as dudect's percentile cropping does; both classes alike.
std::vector<double> cropped(std::vector<double> xs) {
  std::vector<double> sorted = xs;
  std::sort(sorted.begin(), sorted.end());
  const double cut = sorted[sorted.size() * 99 / 100];
  std::vector<double> out;
  for (double x : xs) {
    if (x <= cut) out.push_back(x);
  }
  return out;
}

// Runs |first| and |last| alternately |tries| times each (interleaved, so
// drift in machine load hits both classes) and prints the comparison.
// Each callable returns the nanoseconds of the part it times.
void compare(const char* what, size_t tries, const std::function<double()>& first,
             const std::function<double()>& last) {
  std::vector<double> a, b;
  a.reserve(tries);
  b.reserve(tries);
  for (size_t i = 0; i < tries / 10 + 1; ++i) {  // warm-up, discarded
    first();
    last();
  }
  for (size_t i = 0; i < tries; ++i) {
    if (i & 1) {
      a.push_back(first());
      b.push_back(last());
    } else {
      b.push_back(last());
      a.push_back(first());
    }
  }
  const Stats sa = stats(cropped(a)), sb = stats(cropped(b));
  std::printf("%-48s first byte %9.1f ns  last byte %9.1f ns  diff %+7.1f ns  Welch t %+7.2f\n",
              what, sa.mean, sb.mean, sa.mean - sb.mean, welch_t(sa, sb));
}

double elapsed_ns(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
}

volatile int g_sink = 0;  // keeps the compares from being optimised away

}  // namespace

int main(int argc, char** argv) {
  const size_t tries = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  if (tries < 100) die("TRIES must be at least 100");

  // (a) Server-side SCRAM verification.
  auto salt = base64_decode("QSXCR+Q6sek8bf92");
  if (!salt) die("salt");
  const ScramCredentials creds = scram_derive(ScramHash::kSha1, "pencil", *salt, 4096);
  ScramServerConfig config;
  config.hash = ScramHash::kSha1;
  config.server_nonce = "3rfcNHYJY1ZVvWVs7j";
  config.server_secret = "bench secret";
  config.domain = "example.com";
  auto flipped = [&](size_t at) {
    std::string proof = *base64_decode(kProof);
    proof[at] = static_cast<char>(proof[at] ^ 0x01);
    return std::string(kFinalWithoutProof) + ",p=" + base64_encode(proof);
  };
  const std::string wrong_first = flipped(0), wrong_last = flipped(19);
  // Both classes are copied into one buffer before their sample, so they
  // differ only in data, never in address or allocation.
  std::string message;
  message.reserve(wrong_first.size() + 16);
  auto verify = [&](const std::string& final_message) {
    message.assign(final_message);
    ScramServer server(config);
    if (!server.client_first(kClientFirst).ok()) die("client_first");
    if (!server.set_credentials(&creds, true).ok()) die("set_credentials");
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = server.client_final(message).ok();
    const double ns = elapsed_ns(t0);
    if (ok) die("a wrong proof was accepted");
    return ns;
  };
  {
    // The right proof passes (the inputs are the example's, not noise).
    ScramServer server(config);
    if (!server.client_first(kClientFirst).ok() || !server.set_credentials(&creds, true).ok() ||
        !server.client_final(std::string(kFinalWithoutProof) + ",p=" + std::string(kProof)).ok())
      die("the RFC 5802 example does not verify");
  }
  std::printf("scram_timing_bench: %zu tries per class, interleaved, slowest 1%% cropped\n", tries);
  compare(
      "(a) SCRAM-SHA-1 client_final, wrong proof", tries, [&] { return verify(wrong_first); },
      [&] { return verify(wrong_last); });

  // (b) and (c): the compare itself. Repeated |kReps| times per sample so
  // that one sample is well above the clock's resolution.
  constexpr int kReps = 64;
  auto timed = [&](const std::function<bool()>& eq) {
    // One untimed call first: the byte just flipped is written back and
    // cached before the clock starts, wherever it is.
    int sum = eq() ? 1 : 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < kReps; ++r) sum += eq() ? 1 : 0;
    const double ns = elapsed_ns(t0) / kReps;
    g_sink = g_sink + sum;
    return ns;
  };
  // One probe buffer per size: a class flips byte 0 or the last byte of
  // it for its sample and restores it afterwards, so the two classes
  // compare the same addresses and differ only in where the difference is.
  auto flip_compare = [&](std::string& probe, size_t at, const std::function<bool()>& eq) {
    probe[at] = static_cast<char>(probe[at] ^ 1);
    const double ns = timed(eq);
    probe[at] = static_cast<char>(probe[at] ^ 1);
    return ns;
  };
  for (size_t size : {size_t{32}, size_t{4096}}) {
    const std::string secret(size, '\x5a');
    std::string probe = secret;
    auto eq = [&] { return secret_equal(secret, probe); };
    char label[64];
    std::snprintf(label, sizeof label, "(b) secret_equal, %zu bytes", size);
    compare(
        label, tries, [&] { return flip_compare(probe, 0, eq); },
        [&] { return flip_compare(probe, size - 1, eq); });
  }
  {
    // The noise floor: both classes flip the same byte (an A/A test).
    const std::string secret(32, '\x5a');
    std::string probe = secret;
    auto eq = [&] { return secret_equal(secret, probe); };
    compare(
        "(d) A/A: secret_equal, 32 bytes, byte 0 twice", tries,
        [&] { return flip_compare(probe, 0, eq); }, [&] { return flip_compare(probe, 0, eq); });
  }
  {
    const std::string secret(4096, '\x5a');
    std::string probe = secret;
    // volatile pointers: the compiler may not fold or hoist the memcmp.
    const char* volatile a = secret.data();
    const char* volatile b = probe.data();
    auto eq = [&] { return std::memcmp(a, b, 4096) == 0; };
    compare(
        "(c) control: memcmp, 4096 bytes (must differ)", tries,
        [&] { return flip_compare(probe, 0, eq); }, [&] { return flip_compare(probe, 4095, eq); });
  }
  return 0;
}
