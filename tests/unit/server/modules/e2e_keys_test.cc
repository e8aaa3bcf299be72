// The key directory module (server/modules/e2e_keys.cc, spec/e2e-keys.md)
// driven through the router with in-memory stores and fake sessions:
// publish, devices, claim and retract, who may do each, and every error
// condition of spec/e2e-keys.md §7.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/e2e/key_directory.h"
#include "protocol/sasl/base64.h"
#include "protocol/xml/serializer.h"
#include "server/modules/modules.h"
#include "server/router.h"
#include "server/storage/memory_account_store.h"
#include "server/storage/memory_key_store.h"
#include "server/storage/memory_roster_store.h"

using namespace xd::server;
using xd::protocol::Element;
using xd::protocol::Jid;
namespace e2e = xd::protocol::e2e;

namespace {

constexpr std::string_view kNs = e2e::kKeyDirectoryNs;
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

class FakeSession final : public Session {
 public:
  explicit FakeSession(const std::string& full) { Jid::parse(full, jid_); }
  const Jid& jid() const override { return jid_; }
  void deliver(const Element& stanza) override { got.push_back(stanza.clone()); }
  void kick(xd::protocol::StreamCondition, std::string_view) override {}

  // The last stanza delivered, taken out of the list.
  std::unique_ptr<Element> take() {
    REQUIRE_FALSE(got.empty());
    auto e = std::move(got.back());
    got.pop_back();
    return e;
  }
  std::vector<std::unique_ptr<Element>> got;

 private:
  Jid jid_;
};

void fixed_random(uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(i * 7 + 1);
}

e2e::RandomFn counter_random(std::uint8_t seed) {
  auto state = std::make_shared<std::uint32_t>(seed * 2654435761u + 1);
  return [state](std::uint8_t* out, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      *state = *state * 1664525u + 1013904223u;
      out[i] = static_cast<std::uint8_t>(*state >> 24);
    }
  };
}

// Real keys: the module verifies the signed prekey signature.
e2e::DeviceKeys make_keys(std::uint32_t device, std::size_t prekeys, std::uint8_t seed) {
  REQUIRE(e2e::init());
  e2e::RandomFn random = counter_random(seed);
  e2e::IdentityKeyPair identity = e2e::generate_identity(random);
  e2e::SignedPreKey spk = e2e::generate_signed_prekey(identity, 1, random);
  e2e::DeviceKeys k;
  k.device = device;
  k.identity_key = identity.public_key;
  k.signed_prekey_id = spk.id;
  k.signed_prekey = spk.pair.public_key;
  k.signed_prekey_signature = spk.signature;
  for (const e2e::OneTimePreKey& pk : e2e::generate_one_time_prekeys(1, prekeys, random)) {
    k.one_time_prekeys.emplace_back(pk.id, pk.pair.public_key);
  }
  return k;
}

struct World {
  MemoryRosterStore rosters;
  MemoryAccountStore accounts{rosters};
  MemoryKeyStore keys;
  SessionTable sessions;
  ModuleRegistry modules;
  Jid domain;
  std::unique_ptr<Router> router;
  std::vector<std::unique_ptr<FakeSession>> owned;
  int ids = 0;

  explicit World(KeyStoreLimits limits = {}) {
    Jid::parse("example.com", domain);
    for (const char* user : {"alice", "bob"}) {
      StoredAccount a;
      REQUIRE(make_account(user, "pw", fixed_random, a) == StorageError::kOk);
      REQUIRE(accounts.create(a) == StorageError::kOk);
    }
    router = std::make_unique<Router>(domain, accounts, sessions, modules);
    install_e2e_keys(modules, *router, keys, limits);
  }

  FakeSession& online(const std::string& full) {
    owned.push_back(std::make_unique<FakeSession>(full));
    REQUIRE(sessions.add(owned.back().get()) == nullptr);
    return *owned.back();
  }

  // Sends <iq type=|type| to=|to|> with |payload| from |from| and returns
  // the answer.
  std::unique_ptr<Element> iq(FakeSession& from, const std::string& type, const std::string& to,
                              std::unique_ptr<Element> payload) {
    auto iq = std::make_unique<Element>("jabber:client", "iq");
    iq->set_attr("from", from.jid().str());
    if (!to.empty()) iq->set_attr("to", to);
    iq->set_attr("type", type);
    iq->set_attr("id", "q" + std::to_string(++ids));
    iq->add_child(std::move(payload));
    const size_t before = from.got.size();
    router->route_from_client(from, std::move(iq));
    REQUIRE(from.got.size() == before + 1);
    auto answer = from.take();
    CHECK(answer->attr_or("id") == "q" + std::to_string(ids));
    return answer;
  }
};

// The payload of a result, or null (with a failed check) for anything else.
const Element* result_payload(const Element& iq, std::string_view name) {
  CHECK_MESSAGE(iq.attr_or("type") == "result", xd::protocol::to_xml(iq, "jabber:client"));
  return iq.child(name, kNs);
}

// The defined condition of an error reply, or "" when it is not one.
std::string error_condition(const Element& iq) {
  if (iq.attr_or("type") != "error") return "";
  const Element* error = iq.child("error", "jabber:client");
  if (error == nullptr) return "";
  for (const auto& n : error->children()) {
    if (n.element && n.element->ns() == kStanzasNs) return n.element->name();
  }
  return "";
}

}  // namespace

TEST_CASE("e2e keys module: publish, devices, claim until exhausted, retract") {
  World w;
  FakeSession& alice = w.online("alice@example.com/phone");
  FakeSession& bob = w.online("bob@example.com/laptop");
  const e2e::DeviceKeys keys = make_keys(12345, 2, 1);

  // spec/e2e-keys.md §3: 'to' absent is the account itself.
  auto r = w.iq(alice, "set", "", e2e::build_publish(keys));
  const Element* result = result_payload(*r, "bundle");
  REQUIRE(result != nullptr);
  std::uint32_t device = 0, prekeys = 0;
  REQUIRE(e2e::parse_publish_result(*result, device, prekeys) == e2e::KeyDirError::kOk);
  CHECK(device == 12345);
  CHECK(prekeys == 2);
  // The own bare JID and the server are the account itself too.
  CHECK(result_payload(*w.iq(alice, "set", "alice@example.com", e2e::build_publish(keys)),
                       "bundle") != nullptr);
  CHECK(result_payload(*w.iq(alice, "set", "example.com", e2e::build_publish(keys)), "bundle") !=
        nullptr);

  // §5: the account sees its prekey counts, others do not.
  std::vector<e2e::DeviceEntry> list;
  r = w.iq(alice, "get", "", e2e::build_devices());
  REQUIRE(result_payload(*r, "devices") != nullptr);
  CHECK(r->attr_or("from") == "");  // 'to' was absent, so no 'from' on the answer
  REQUIRE(e2e::parse_devices_result(*r->child("devices", kNs), list) == e2e::KeyDirError::kOk);
  REQUIRE(list.size() == 1);
  CHECK(list[0].device == 12345);
  CHECK(list[0].prekeys == std::optional<std::uint32_t>(2));
  r = w.iq(bob, "get", "alice@example.com", e2e::build_devices());
  REQUIRE(result_payload(*r, "devices") != nullptr);
  CHECK(r->attr_or("from") == "alice@example.com");
  REQUIRE(e2e::parse_devices_result(*r->child("devices", kNs), list) == e2e::KeyDirError::kOk);
  REQUIRE(list.size() == 1);
  CHECK_FALSE(list[0].prekeys.has_value());
  // Bob has no devices yet: an empty list, not an error.
  r = w.iq(alice, "get", "bob@example.com", e2e::build_devices());
  REQUIRE(e2e::parse_devices_result(*result_payload(*r, "devices"), list) == e2e::KeyDirError::kOk);
  CHECK(list.empty());

  // §4: each claim takes one prekey; then the bundle comes without one.
  std::vector<e2e::PreKeyBundle> bundles;
  for (std::uint32_t want : {1u, 2u, 0u}) {
    CAPTURE(want);
    r = w.iq(bob, "set", "alice@example.com", e2e::build_claim(std::nullopt));
    const Element* claim = result_payload(*r, "claim");
    REQUIRE(claim != nullptr);
    REQUIRE(e2e::parse_claim_result(*claim, bundles) == e2e::KeyDirError::kOk);
    REQUIRE(bundles.size() == 1);
    CHECK(bundles[0].device == 12345);
    CHECK(bundles[0].identity_key == keys.identity_key);
    CHECK(e2e::verify_bundle(bundles[0]));
    CHECK(bundles[0].has_one_time_prekey == (want != 0));
    if (want != 0) {
      CHECK(bundles[0].one_time_prekey_id == want);
      CHECK(bundles[0].one_time_prekey == keys.one_time_prekeys[want - 1].second);
    }
  }
  // A claim limited to a device, and one for the claimer's own account.
  r = w.iq(bob, "set", "alice@example.com", e2e::build_claim(12345));
  REQUIRE(e2e::parse_claim_result(*result_payload(*r, "claim"), bundles) == e2e::KeyDirError::kOk);
  CHECK(bundles.size() == 1);
  r = w.iq(alice, "set", "", e2e::build_claim(std::nullopt));
  REQUIRE(e2e::parse_claim_result(*result_payload(*r, "claim"), bundles) == e2e::KeyDirError::kOk);
  CHECK(bundles.size() == 1);
  // Bob has no device: an empty claim.
  r = w.iq(alice, "set", "bob@example.com", e2e::build_claim(std::nullopt));
  REQUIRE(e2e::parse_claim_result(*result_payload(*r, "claim"), bundles) == e2e::KeyDirError::kOk);
  CHECK(bundles.empty());

  // §6: retract by the account itself.
  CHECK(error_condition(*w.iq(bob, "set", "alice@example.com", e2e::build_retract(12345))) ==
        "forbidden");
  r = w.iq(alice, "set", "", e2e::build_retract(12345));
  CHECK(r->attr_or("type") == "result");
  CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_retract(12345))) == "item-not-found");
  r = w.iq(bob, "get", "alice@example.com", e2e::build_devices());
  REQUIRE(e2e::parse_devices_result(*result_payload(*r, "devices"), list) == e2e::KeyDirError::kOk);
  CHECK(list.empty());
}

TEST_CASE("e2e keys module: the feature is advertised") {
  World w;
  bool found = false;
  for (const std::string& f : w.modules.features()) found |= f == kNs;
  CHECK(found);
}

TEST_CASE("e2e keys module: errors (spec/e2e-keys.md §7)") {
  KeyStoreLimits limits;
  limits.max_devices = 2;
  limits.max_prekeys_per_device = 3;
  World w(limits);
  FakeSession& alice = w.online("alice@example.com/phone");
  FakeSession& bob = w.online("bob@example.com/laptop");
  const e2e::DeviceKeys keys = make_keys(7, 2, 1);
  REQUIRE(result_payload(*w.iq(alice, "set", "", e2e::build_publish(keys)), "bundle"));

  SUBCASE("publishing for someone else is forbidden") {
    CHECK(error_condition(*w.iq(bob, "set", "alice@example.com", e2e::build_publish(keys))) ==
          "forbidden");
  }
  SUBCASE("bad base64, wrong lengths, bad ids and bad signatures are bad-request") {
    const std::string b64_identity = xd::protocol::base64_encode(std::string_view(
        reinterpret_cast<const char*>(keys.identity_key.data()), keys.identity_key.size()));
    auto edit = [&](const std::function<void(Element&)>& change) {
      auto bundle = e2e::build_publish(keys);
      change(*bundle);
      return error_condition(*w.iq(alice, "set", "", std::move(bundle)));
    };
    auto set_identity = [&](std::string text) {
      return [text](Element& b) {
        b.remove_children("identity", kNs);
        b.add_child(kNs, "identity").add_text(text);
      };
    };
    CHECK(edit(set_identity("!!" + b64_identity.substr(2))) == "bad-request");
    CHECK(edit(set_identity(xd::protocol::base64_encode(std::string(31, 'x')))) == "bad-request");
    CHECK(edit(set_identity(xd::protocol::base64_encode(std::string(33, 'x')))) == "bad-request");
    CHECK(edit([](Element& b) { b.set_attr("device", "0"); }) == "bad-request");
    CHECK(edit([](Element& b) { b.set_attr("device", "2147483648"); }) == "bad-request");
    CHECK(edit([](Element& b) {
            b.child("signed-prekey", kNs)
                ->set_attr("signature", xd::protocol::base64_encode(std::string(64, 'x')));
          }) == "bad-request");
    CHECK(edit([](Element& b) { b.child("signed-prekey", kNs)->set_attr("signature", "AAAA"); }) ==
          "bad-request");
    e2e::DeviceKeys other = make_keys(7, 0, 2);
    e2e::DeviceKeys forged = keys;
    forged.signed_prekey = other.signed_prekey;  // not what the identity signed
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_publish(forged))) == "bad-request");
    CHECK(error_condition(*w.iq(bob, "set", "alice@example.com", [] {
            auto c = e2e::build_claim(std::nullopt);
            c->set_attr("device", "x");
            return c;
          }())) == "bad-request");
    CHECK(error_condition(*w.iq(alice, "set", "", [] {
            auto r = e2e::build_retract(1);
            r->set_attr("device", "0");
            return r;
          }())) == "bad-request");
  }
  SUBCASE(
      "another identity for a known device, or another key for a known prekey id, is "
      "conflict") {
    e2e::DeviceKeys reinstalled = make_keys(7, 0, 3);
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_publish(reinstalled))) == "conflict");
    e2e::DeviceKeys changed = keys;
    changed.one_time_prekeys[0].second = make_keys(8, 1, 4).one_time_prekeys[0].second;
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_publish(changed))) == "conflict");
  }
  SUBCASE("the caps are resource-constraint") {
    // 2 stored + 2 new > 3.
    e2e::DeviceKeys more = make_keys(7, 0, 1);
    more.one_time_prekeys = {{10, keys.one_time_prekeys[0].second},
                             {11, keys.one_time_prekeys[1].second}};
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_publish(more))) ==
          "resource-constraint");
    // More in one publish than a device may hold.
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_publish(make_keys(8, 4, 5)))) ==
          "resource-constraint");
    REQUIRE(
        result_payload(*w.iq(alice, "set", "", e2e::build_publish(make_keys(8, 1, 5))), "bundle"));
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_publish(make_keys(9, 1, 6)))) ==
          "resource-constraint");
  }
  SUBCASE("unknown devices are item-not-found") {
    CHECK(error_condition(*w.iq(bob, "set", "alice@example.com", e2e::build_claim(8))) ==
          "item-not-found");
    CHECK(error_condition(*w.iq(alice, "set", "", e2e::build_retract(8))) == "item-not-found");
  }
  SUBCASE("unknown accounts") {
    // The router refuses an IQ to an account that does not exist before any
    // module sees it (RFC 6121 §8.5.1), with the same answer as for any
    // unknown user so accounts cannot be probed (spec/e2e-keys.md §7).
    CHECK(error_condition(*w.iq(bob, "set", "carol@example.com", e2e::build_claim(std::nullopt))) ==
          "service-unavailable");
    CHECK(error_condition(*w.iq(bob, "get", "carol@example.com", e2e::build_devices())) ==
          "service-unavailable");
    // An account removed by another process while a session of it lives
    // still passes the router; the module answers item-not-found.
    FakeSession& carol_session = w.online("carol@example.com/old");
    (void)carol_session;
    CHECK(error_condition(*w.iq(bob, "set", "carol@example.com", e2e::build_claim(std::nullopt))) ==
          "item-not-found");
    CHECK(error_condition(*w.iq(bob, "get", "carol@example.com", e2e::build_devices())) ==
          "item-not-found");
  }
  SUBCASE("devices and claims addressed to the server are not a service") {
    CHECK(error_condition(*w.iq(bob, "set", "example.com", e2e::build_claim(std::nullopt))) ==
          "service-unavailable");
    CHECK(error_condition(*w.iq(bob, "get", "example.com", e2e::build_devices())) ==
          "service-unavailable");
  }
  // Nothing above changed alice's device.
  auto r = w.iq(alice, "get", "", e2e::build_devices());
  std::vector<e2e::DeviceEntry> list;
  REQUIRE(e2e::parse_devices_result(*result_payload(*r, "devices"), list) == e2e::KeyDirError::kOk);
  REQUIRE_FALSE(list.empty());
  CHECK(list[0].device == 7);
  CHECK(list[0].prekeys == std::optional<std::uint32_t>(2));
}
