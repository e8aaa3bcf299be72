// The cluster's pure parts: the hex tokens users travel under in NATS
// subjects and KV keys (server/cluster/nats_link.h), the stored form of a
// roster in the cluster's bucket (server/cluster/kv_roster_store.h), and
// the [cluster] settings' validation (server/config.h). The parts that talk
// to NATS are tested against a real nats-server cluster in
// tests/integration/cluster_test.py.
#include <doctest/doctest.h>

#include <string>

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

}  // namespace
}  // namespace xd::server
