// The cluster's pure parts: the hex tokens users travel under in NATS
// subjects and KV keys (server/cluster/nats_link.h), the stored form of a
// roster and of a user's E2E devices in the cluster's buckets
// (server/cluster/kv_roster_store.h, kv_key_store.h, kv_record.h), and
// the [cluster] settings' validation (server/config.h). The parts that talk
// to NATS are tested against a real nats-server cluster in
// tests/integration/cluster_test.py.
#include <doctest/doctest.h>

#include <string>

#include "server/cluster/kv_key_store.h"
#include "server/cluster/kv_record.h"
#include "server/cluster/kv_roster_store.h"
#include "server/cluster/nats_link.h"
#include "server/config.h"

namespace xd::server {
namespace {

TEST_CASE("cluster: hex tokens round-trip any localpart, and only lower-case hex parses") {
  const std::string odd = std::string("d\xC3\xA9j\xC3\xA0.vu*>\x01", 11) + std::string(1, '\0');
  for (const std::string& user : {std::string("alice"), std::string(), odd}) {
    const std::string t = hex_token(user);
    CHECK(t.size() == 2 * user.size());
    CHECK(t.find_first_not_of("0123456789abcdef") == std::string::npos);
    std::string back;
    REQUIRE(unhex_token(t, back));
    CHECK(back == user);
  }
  std::string out;
  CHECK_FALSE(unhex_token("616", out));    // odd length
  CHECK_FALSE(unhex_token("6G", out));     // not hex
  CHECK_FALSE(unhex_token("6A", out));     // upper case is not what we write
  CHECK_FALSE(unhex_token("61.62", out));  // a subject separator
}

TEST_CASE("cluster: a node id is required with a cluster URL, and must be a subject token") {
  ServerConfig c;
  std::string error;
  c.allow_plaintext = true;
  c.listen = {"127.0.0.1:5222"};
  CHECK(validate_config(c, error));  // no cluster: no id needed
  c.cluster = "nats://127.0.0.1:4222";
  CHECK_FALSE(validate_config(c, error));
  CHECK(error.find("node_id") != std::string::npos);
  for (const std::string& bad : {std::string("n.1"), std::string("n 1"), std::string("n*"),
                                 std::string("n>"), std::string(65, 'n')}) {
    c.node_id = bad;
    CHECK_FALSE(validate_config(c, error));
  }
  c.node_id = "node-1_A";
  CHECK(validate_config(c, error));
  c.cluster_heartbeat_ms = 1000;
  c.cluster_dead_after_ms = 2999;
  CHECK_FALSE(validate_config(c, error));  // fewer than 3 heartbeats
  c.cluster_dead_after_ms = 3000;
  CHECK(validate_config(c, error));
}

TEST_CASE("cluster: the [cluster] table loads from TOML with its bounds") {
  ServerConfig c;
  std::string error;
  CHECK(
      load_config_text("[cluster]\nurl = \"nats://a:1,nats://b:2\"\nnode_id = \"n7\"\n"
                       "replicas = 1\nheartbeat_ms = 200\ndead_after_ms = 900\n",
                       "t.toml", c, error));
  CHECK(c.cluster == "nats://a:1,nats://b:2");
  CHECK(c.node_id == "n7");
  CHECK(c.cluster_replicas == 1);
  CHECK(c.cluster_heartbeat_ms == 200);
  CHECK(c.cluster_dead_after_ms == 900);
  ServerConfig d;
  CHECK_FALSE(load_config_text("[cluster]\nreplicas = 6\n", "t.toml", d, error));
  CHECK_FALSE(load_config_text("[cluster]\nheartbeat_ms = 10\n", "t.toml", d, error));
}

TEST_CASE("cluster: a roster's stored form round-trips; anything malformed is kCorrupt") {
  RosterItem a;
  a.jid = "bob@example.com";
  a.name = "Bob";
  a.subscription = RosterItem::Subscription::kBoth;
  a.groups = {"friends", "work"};
  RosterItem b;
  b.jid = "carol@example.com";
  b.ask_subscribe = true;
  b.pending_in = true;
  const std::string bytes = encode_roster(42, {a, b});
  uint64_t version = 0;
  std::vector<RosterItem> items;
  REQUIRE(decode_roster(bytes, version, items) == StorageError::kOk);
  CHECK(version == 42);
  REQUIRE(items.size() == 2);
  CHECK(items[0].jid == a.jid);
  CHECK(items[0].name == "Bob");
  CHECK(items[0].subscription == RosterItem::Subscription::kBoth);
  CHECK(items[0].groups == a.groups);
  CHECK(items[1].ask_subscribe);
  CHECK(items[1].pending_in);
  REQUIRE(decode_roster(encode_roster(7, {}), version, items) == StorageError::kOk);
  CHECK(version == 7);
  CHECK(items.empty());
  // Every truncation, and a trailing byte, is refused.
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK(decode_roster(bytes.substr(0, n), version, items) == StorageError::kCorrupt);
  }
  CHECK(decode_roster(bytes + "x", version, items) == StorageError::kCorrupt);
}

TEST_CASE("cluster: framed records split back exactly; a short frame is refused") {
  std::string out;
  append_framed(out, "abc");
  append_framed(out, "");
  append_framed(out, std::string(300, 'x'));
  std::string_view in = out, r;
  REQUIRE(take_framed(in, r));
  CHECK(r == "abc");
  REQUIRE(take_framed(in, r));
  CHECK(r.empty());
  REQUIRE(take_framed(in, r));
  CHECK(r == std::string(300, 'x'));
  CHECK(in.empty());
  CHECK_FALSE(take_framed(in, r));
  std::string_view cut = std::string_view(out).substr(0, 5);  // length 3, one byte of data
  CHECK_FALSE(take_framed(cut, r));
}

protocol::e2e::DeviceKeys sample_device(uint32_t id, uint32_t prekeys) {
  protocol::e2e::DeviceKeys d;
  d.device = id;
  d.identity_key.fill(static_cast<uint8_t>(id));
  d.signed_prekey_id = 1;
  d.signed_prekey.fill(static_cast<uint8_t>(id + 1));
  d.signed_prekey_signature.fill(7);
  for (uint32_t i = 1; i <= prekeys; ++i) {
    protocol::e2e::Key32 k{};
    k.fill(static_cast<uint8_t>(i));
    d.one_time_prekeys.emplace_back(i, k);
  }
  return d;
}

TEST_CASE("cluster: a user's devices round-trip; another user's or a cut value is kCorrupt") {
  const std::vector<protocol::e2e::DeviceKeys> devices = {sample_device(3, 2), sample_device(9, 0)};
  const std::string bytes = encode_user_devices("alice", devices);
  std::vector<protocol::e2e::DeviceKeys> out;
  REQUIRE(decode_user_devices(bytes, "alice", out) == StorageError::kOk);
  REQUIRE(out.size() == 2);
  CHECK(out[0].device == 3);
  CHECK(out[0].one_time_prekeys.size() == 2);
  CHECK(out[1].device == 9);
  CHECK(out[1].identity_key == devices[1].identity_key);
  CHECK(decode_user_devices(bytes, "bob", out) == StorageError::kCorrupt);
  for (size_t n = 0; n < bytes.size(); n += 7) {
    CHECK(decode_user_devices(bytes.substr(0, n), "alice", out) == StorageError::kCorrupt);
  }
  CHECK(decode_user_devices(bytes + "z", "alice", out) == StorageError::kCorrupt);
  REQUIRE(decode_user_devices(encode_user_devices("alice", {}), "alice", out) == StorageError::kOk);
  CHECK(out.empty());
}

}  // namespace
}  // namespace xd::server
