// The test vectors of spec/e2e.md §11, computed by the implementation
// itself from fixed seeds: shared by the generator (spec/tools/e2e_vectors.cc,
// which scripts/gen_e2e_vectors runs to write spec/e2e-vectors.txt) and the
// test that replays that file (tests/unit/protocol/e2e/e2e_vectors_test.cc),
// so the file cannot drift from the code. Header-only, deterministic, no
// I/O: the caller prints or compares the returned text.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/e2e/e2e_keys.h"
#include "protocol/e2e/hkdf.h"
#include "protocol/e2e/payload.h"
#include "protocol/e2e/ratchet_session.h"
#include "protocol/e2e/x3dh.h"

namespace xd::spec::e2e_vectors {

namespace e2e = xd::protocol::e2e;

// The conversation of spec/e2e.md §11.3: six messages; Bob receives
// message 2 before message 1 (message 2 starts his session).
struct Step {
  bool send;             // false: the message is received
  std::uint8_t message;  // 1-based
};
struct Message {
  bool from_alice;
  std::string_view text;
};
inline constexpr Message kMessages[] = {
    {true, "Hello Bob"},  {true, "Are you there?"}, {false, "Hi Alice"},
    {false, "Yes, here"}, {true, "Good"},           {false, "Bye"},
};
inline constexpr Step kScript[] = {
    {true, 1},  {true, 2},  {false, 2}, {false, 1}, {true, 3}, {true, 4},
    {false, 3}, {false, 4}, {true, 5},  {false, 5}, {true, 6}, {false, 6},
};

inline std::string hex(const std::uint8_t* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}
template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
  return hex(a.data(), a.size());
}
inline std::string hex(std::string_view s) {
  return hex(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
inline std::string hex32(std::uint32_t v) {
  const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                             static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  return hex(b, 4);
}

inline e2e::Key32 fill(std::uint8_t v) {
  e2e::Key32 k;
  k.fill(v);
  return k;
}

// The seeds of §11.1.
inline const e2e::Key32 kAliceKeySeed = fill(0x41);      // 'A'
inline const e2e::Key32 kAliceSessionSeed = fill(0x61);  // 'a'
inline const e2e::Key32 kBobKeySeed = fill(0x42);        // 'B'
inline const e2e::Key32 kBobSessionSeed = fill(0x62);    // 'b'
inline const e2e::Key32 kPayloadSeed = fill(0x50);       // 'P'

// The two parties' long-term keys as the seeds give them.
struct Keys {
  e2e::IdentityKeyPair alice;
  e2e::IdentityKeyPair bob;
  e2e::SignedPreKey bob_signed_prekey;
  e2e::OneTimePreKey bob_one_time_prekey;
};

inline Keys make_keys() {
  Keys k;
  e2e::RandomFn alice_random = e2e::seeded_random_for_test(kAliceKeySeed);
  k.alice = e2e::generate_identity(alice_random);
  e2e::RandomFn bob_random = e2e::seeded_random_for_test(kBobKeySeed);
  k.bob = e2e::generate_identity(bob_random);
  k.bob_signed_prekey = e2e::generate_signed_prekey(k.bob, 1, bob_random);
  k.bob_one_time_prekey = e2e::generate_one_time_prekeys(7, 1, bob_random)[0];
  return k;
}

inline e2e::PreKeyBundle bundle_of(const e2e::Key32& identity, std::uint32_t spk_id,
                                   const e2e::Key32& spk, const e2e::Sig64& signature,
                                   std::uint32_t opk_id, const e2e::Key32& opk) {
  e2e::PreKeyBundle b;
  b.device = 1;
  b.identity_key = identity;
  b.signed_prekey_id = spk_id;
  b.signed_prekey = spk;
  b.signed_prekey_signature = signature;
  b.has_one_time_prekey = true;
  b.one_time_prekey_id = opk_id;
  b.one_time_prekey = opk;
  return b;
}

// Runs the §11.3 conversation. |envelope_of(i)| is called as each message i
// is sent with the envelope just produced; |deliver(i)| must return the
// envelope to decrypt for message i (the generator returns what was sent,
// the replay test what the file records); |received(i, status, text)|
// reports each decryption. Returns false if any step could not run.
template <typename Sent, typename Deliver, typename Received>
bool run_conversation(const e2e::IdentityKeyPair& alice, const e2e::IdentityKeyPair& bob,
                      const e2e::PreKeyBundle& bob_bundle, const e2e::SignedPreKey& bob_spk,
                      const e2e::OneTimePreKey& bob_opk, Sent&& sent, Deliver&& deliver,
                      Received&& received) {
  e2e::RandomFn alice_random = e2e::seeded_random_for_test(kAliceSessionSeed);
  e2e::RandomFn bob_random = e2e::seeded_random_for_test(kBobSessionSeed);
  e2e::Session a, b;
  bool bob_ready = false;
  if (!e2e::Session::initiate(alice, bob_bundle, alice_random, a)) return false;
  e2e::Session::AcceptKeys keys;
  keys.signed_prekey = [&](std::uint32_t id) { return id == bob_spk.id ? &bob_spk : nullptr; };
  keys.one_time_prekey = [&](std::uint32_t id) { return id == bob_opk.id ? &bob_opk : nullptr; };
  for (const Step& step : kScript) {
    const Message& m = kMessages[step.message - 1];
    if (step.send) {
      std::string env = m.from_alice ? a.encrypt(m.text, alice_random)
                                     : (bob_ready ? b.encrypt(m.text, bob_random) : std::string());
      if (env.empty()) return false;
      sent(step.message, env);
      continue;
    }
    const std::string env = deliver(step.message);
    std::string text;
    e2e::DecryptStatus st;
    if (!m.from_alice) {
      st = a.decrypt(env, text);
    } else if (!bob_ready) {
      std::uint32_t used = 0;
      st = e2e::Session::accept(bob, keys, env, b, text, used);
      bob_ready = st == e2e::DecryptStatus::kOk;
    } else {
      st = b.decrypt(env, text);
    }
    received(step.message, st, text);
  }
  return true;
}

// The whole vectors file (format: spec/e2e.md §11.4). Aborts if the
// implementation disagrees with itself (X3DH sides, a failed decryption).
inline std::string generate() {
  std::string out;
  auto line = [&out](std::string_view name, const std::string& value) {
    out.append(name).append(": ").append(value).push_back('\n');
  };
  auto check = [](bool ok) {
    if (!ok) std::abort();
  };
  check(e2e::init());
  out +=
      "# spec/e2e.md §11: test vectors of xmppd end-to-end encryption, version 1.\n"
      "# DO NOT EDIT: generated by scripts/gen_e2e_vectors (spec/tools/e2e_vectors.cc).\n"
      "# Format: one 'name: lowercase hex' per line; '#' starts a comment.\n";

  out += "\n# §11.2 HKDF-SHA-256 with the X3DH label\n";
  const std::string hkdf_salt(32, '\0');
  std::string hkdf_ikm(32, '\xff');
  hkdf_ikm += std::string(96, '\x01');
  const std::string_view hkdf_info = "xmppd-e2e-v1 X3DH";
  std::array<std::uint8_t, 64> okm;
  check(e2e::hkdf_sha256(
      std::span(reinterpret_cast<const std::uint8_t*>(hkdf_salt.data()), hkdf_salt.size()),
      std::span(reinterpret_cast<const std::uint8_t*>(hkdf_ikm.data()), hkdf_ikm.size()), hkdf_info,
      okm));
  line("hkdf_salt", hex(hkdf_salt));
  line("hkdf_ikm", hex(hkdf_ikm));
  line("hkdf_info", hex(hkdf_info));
  line("hkdf_okm", hex(okm));

  out += "\n# §11.1 seeds of the RandomFns (spec/e2e.md §11.1)\n";
  line("alice_key_seed", hex(kAliceKeySeed));
  line("alice_session_seed", hex(kAliceSessionSeed));
  line("bob_key_seed", hex(kBobKeySeed));
  line("bob_session_seed", hex(kBobSessionSeed));
  line("payload_seed", hex(kPayloadSeed));

  out += "\n# §11.2 keys: Alice's identity; Bob's identity, signed prekey 1, one-time prekey 7\n";
  const Keys k = make_keys();
  line("alice_identity_public", hex(k.alice.public_key));
  line("alice_identity_secret", hex(k.alice.secret_key));
  line("bob_identity_public", hex(k.bob.public_key));
  line("bob_identity_secret", hex(k.bob.secret_key));
  line("bob_signed_prekey_id", hex32(k.bob_signed_prekey.id));
  line("bob_signed_prekey_public", hex(k.bob_signed_prekey.pair.public_key));
  line("bob_signed_prekey_secret", hex(k.bob_signed_prekey.pair.secret_key));
  line("bob_signed_prekey_signature", hex(k.bob_signed_prekey.signature));
  line("bob_one_time_prekey_id", hex32(k.bob_one_time_prekey.id));
  line("bob_one_time_prekey_public", hex(k.bob_one_time_prekey.pair.public_key));
  line("bob_one_time_prekey_secret", hex(k.bob_one_time_prekey.pair.secret_key));

  out += "\n# §11.3 X3DH, Alice initiating with the session seed's first output\n";
  const e2e::PreKeyBundle bundle =
      bundle_of(k.bob.public_key, k.bob_signed_prekey.id, k.bob_signed_prekey.pair.public_key,
                k.bob_signed_prekey.signature, k.bob_one_time_prekey.id,
                k.bob_one_time_prekey.pair.public_key);
  e2e::X3dhResult alice_x3dh, bob_x3dh;
  e2e::DhKeyPair ephemeral;
  check(e2e::x3dh_initiate(k.alice, bundle, e2e::seeded_random_for_test(kAliceSessionSeed),
                           alice_x3dh, ephemeral));
  check(e2e::x3dh_respond(k.bob, k.alice.public_key, ephemeral.public_key, k.bob_signed_prekey,
                          &k.bob_one_time_prekey, bob_x3dh));
  check(alice_x3dh.shared_secret == bob_x3dh.shared_secret &&
        alice_x3dh.associated_data == bob_x3dh.associated_data);
  line("x3dh_ephemeral_secret", hex(ephemeral.secret_key));
  line("x3dh_ephemeral_public", hex(ephemeral.public_key));
  line("x3dh_shared_secret", hex(alice_x3dh.shared_secret));
  line("x3dh_associated_data", hex(alice_x3dh.associated_data));

  out += "\n# §11.3 the conversation: events are (send 0x0N | receive 0x1N) of message N\n";
  std::string events;
  for (const Step& s : kScript)
    events.push_back(static_cast<char>((s.send ? 0x00 : 0x10) | s.message));
  line("events", hex(events));
  std::vector<std::string> envelopes(std::size(kMessages) + 1);
  check(run_conversation(
      k.alice, k.bob, bundle, k.bob_signed_prekey, k.bob_one_time_prekey,
      [&](int i, const std::string& env) { envelopes[i] = env; },
      [&](int i) { return envelopes[i]; },
      [&](int i, e2e::DecryptStatus st, const std::string& text) {
        check(st == e2e::DecryptStatus::kOk && text == kMessages[i - 1].text);
      }));
  for (std::size_t i = 1; i <= std::size(kMessages); ++i) {
    const std::string n = "message" + std::to_string(i);
    line(n + "_sender", kMessages[i - 1].from_alice ? "00" : "01");
    line(n + "_plaintext", hex(kMessages[i - 1].text));
    line(n + "_envelope", hex(envelopes[i]));
  }

  out += "\n# §11.5 a payload (spec/e2e.md §7) sealed with the payload seed\n";
  const std::string_view body = "Hello Bob";
  const e2e::SealedPayload sealed =
      e2e::seal_payload(body, e2e::seeded_random_for_test(kPayloadSeed));
  line("payload_plaintext", hex(body));
  line("payload_key", hex(sealed.key));
  line("payload_iv", hex(sealed.iv));
  line("payload_ciphertext", hex(sealed.ciphertext));
  return out;
}

}  // namespace xd::spec::e2e_vectors
