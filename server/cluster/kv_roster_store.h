// Rosters of a cluster (docs/cluster.md §3): the RosterStore interface over
// the replicated JetStream key-value bucket xd_rosters, so a roster edited on
// one node is the roster on every node. One key per user (the hex of the
// enforced localpart) holds the whole roster and its version: every change
// is a compare-and-set on that key's revision, so two nodes changing one
// roster at once never lose an item or reuse a version (the loser reads
// again and retries). Every call is a blocking round trip to NATS on the
// loop thread. Never applies subscription rules (the roster module does).
#pragma once

#include <nats/nats.h>

#include <functional>
#include <string>
#include <vector>

#include "server/storage/roster_store.h"

namespace xd::server {

// The stored form of one user's roster: the version, then the items in the
// record encoding LMDB uses (record_codec.h). Pure functions; decode is
// strict (kCorrupt on anything malformed).
std::string encode_roster(uint64_t version, const std::vector<RosterItem>& items);
StorageError decode_roster(std::string_view bytes, uint64_t& version,
                           std::vector<RosterItem>& items);

class KvRosterStore final : public RosterStore {
 public:
  // |kv| is owned by the NatsLink, which outlives the store.
  explicit KvRosterStore(kvStore* kv) : kv_(kv) {}

  StorageError get_all(std::string_view user, std::vector<RosterItem>& out) override;
  StorageError get(std::string_view user, std::string_view contact, RosterItem& out) override;
  StorageError put(std::string_view user, const RosterItem& item) override;
  StorageError remove(std::string_view user, std::string_view contact) override;
  StorageError version(std::string_view user, uint64_t& out) override;
  // Account removal: no items, the version bumped if there were any.
  StorageError clear(std::string_view user);

 private:
  StorageError read(std::string_view user, uint64_t& version, std::vector<RosterItem>& items);
  // Applies |edit| (which sets its bool when it changed the items, and
  // then the version is bumped) by compare-and-set on the user's key.
  StorageError change(std::string_view user,
                      const std::function<StorageError(std::vector<RosterItem>&, bool&)>& edit);

  kvStore* kv_;
};

}  // namespace xd::server
