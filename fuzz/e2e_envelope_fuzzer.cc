// Fuzz target for the end-to-end encryption parsers (spec/e2e.md §5.7, §6,
// §8): the same input is tried as an envelope (parsed, then decrypted by
// both sides of a live session and offered to accept()), as serialized
// session state, and as a <message/> carrying <encrypted/> or <retry/>.
// The sessions are those of the spec's test vectors (§11.3), so the vectors'
// envelopes make good seeds. Invariants: a parsed envelope re-serializes to
// the input; a failed decrypt leaves the session's serialized state as it
// was; a deserialized state serializes back to the input; a parsed
// <encrypted/> rebuilt with add_encrypted parses back to the same values.
// Any violation traps.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/e2e/encrypted_element.h"
#include "protocol/e2e/envelope.h"
#include "protocol/e2e/ratchet_session.h"
#include "protocol/xml/element.h"
#include "protocol/xml/fragment_parser.h"
#include "spec/tools/e2e_vectors_gen.h"

using namespace xd::protocol;
using namespace xd::protocol::e2e;
namespace gen = xd::spec::e2e_vectors;

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();  // also in release builds
}

// Alice after sending messages 1 and 2 of the vectors' conversation; Bob
// after accepting message 2 (so message 1 is a stored skipped key).
struct World {
  gen::Keys keys;
  Session alice;
  Session bob;
  std::string alice_state;
  std::string bob_state;

  World() : keys(gen::make_keys()) {
    require(init());
    const PreKeyBundle bundle =
        gen::bundle_of(keys.bob.public_key, keys.bob_signed_prekey.id,
                       keys.bob_signed_prekey.pair.public_key, keys.bob_signed_prekey.signature,
                       keys.bob_one_time_prekey.id, keys.bob_one_time_prekey.pair.public_key);
    RandomFn random = seeded_random_for_test(gen::kAliceSessionSeed);
    require(Session::initiate(keys.alice, bundle, random, alice));
    alice.encrypt(gen::kMessages[0].text, random);
    const std::string m2 = alice.encrypt(gen::kMessages[1].text, random);
    std::string text;
    std::uint32_t used = 0;
    require(Session::accept(keys.bob, accept_keys(), m2, bob, text, used) == DecryptStatus::kOk);
    alice_state = alice.serialize();
    bob_state = bob.serialize();
  }

  Session::AcceptKeys accept_keys() const {
    Session::AcceptKeys k;
    k.signed_prekey = [this](std::uint32_t id) {
      return id == keys.bob_signed_prekey.id ? &keys.bob_signed_prekey : nullptr;
    };
    k.one_time_prekey = [this](std::uint32_t id) {
      return id == keys.bob_one_time_prekey.id ? &keys.bob_one_time_prekey : nullptr;
    };
    return k;
  }
};

void try_decrypt(const Session& live, const std::string& state, std::string_view in) {
  Session s = live;
  std::string text;
  if (s.decrypt(in, text) != DecryptStatus::kOk) require(s.serialize() == state);
}

void check_encrypted(const Element& message) {
  EncryptedMessage m;
  if (parse_encrypted(message, m) == EncryptedError::kOk) {
    Element rebuilt("jabber:client", "message");
    add_encrypted(rebuilt, m);
    EncryptedMessage again;
    require(parse_encrypted(rebuilt, again) == EncryptedError::kOk);
    require(again.sid == m.sid && again.iv == m.iv && again.payload == m.payload &&
            again.keys.size() == m.keys.size());
    for (std::size_t i = 0; i < m.keys.size(); ++i) {
      require(again.keys[i].rid == m.keys[i].rid && again.keys[i].envelope == m.keys[i].envelope);
    }
  }
  std::string id;
  std::uint32_t sid = 0;
  if (parse_retry(message, id, sid)) require(!id.empty() && sid >= 1 && sid <= kMaxDeviceId);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const World world;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  Envelope env;
  if (parse_envelope(in, env) == EnvelopeError::kOk) {
    std::string again;
    append_envelope_header(env, again);
    again.append(env.ciphertext);
    require(again == in);
    try_decrypt(world.alice, world.alice_state, in);
    try_decrypt(world.bob, world.bob_state, in);
    Session fresh;
    std::string text;
    std::uint32_t used = 0;
    Session::accept(world.keys.bob, world.accept_keys(), in, fresh, text, used);
  }

  Session restored;
  if (Session::deserialize(in, restored)) require(restored.serialize() == in);

  if (!in.empty() && in.front() == '<') {
    std::unique_ptr<Element> message = parse_fragment(in);
    if (message) check_encrypted(*message);
  }
  return 0;
}
