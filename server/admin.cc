#include "server/admin.h"

#include <sys/random.h>

#include <cstdio>
#include <iostream>

#include "net/net_loop.h"
#include "protocol/jid/precis.h"
#include "server/cluster/kv_account_store.h"
#include "server/cluster/kv_key_store.h"
#include "server/cluster/nats_link.h"
#include "server/storage/lmdb/lmdb_account_store.h"
#include "server/storage/lmdb/lmdb_env.h"
#include "server/storage/lmdb/lmdb_key_store.h"
#include "server/storage/lmdb/lmdb_message_store.h"

namespace xd::server {
namespace {

void system_random(uint8_t* out, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(out, n, 0);
    if (got <= 0) std::abort();  // no entropy is an environment failure
    out += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace

int run_admin(const ServerConfig& config, const AdminCommand& cmd) {
  LmdbOptions options;
  options.path = config.data_dir;
  options.map_size = static_cast<size_t>(config.lmdb_map_mb) << 20;
  std::string error;
  auto env = LmdbEnv::open(options, error);
  if (!env) {
    std::fprintf(stderr, "xmppd: cannot open %s: %s\n", config.data_dir.c_str(), error.c_str());
    return 1;
  }
  std::unique_ptr<LmdbAccountStore> lmdb_accounts;
  if (StorageError e = LmdbAccountStore::open(*env, lmdb_accounts); e != StorageError::kOk) {
    std::fprintf(stderr, "xmppd: cannot open the account store: %s\n",
                 std::string(storage_error_name(e)).c_str());
    return 1;
  }
  AccountStore* accounts = lmdb_accounts.get();
  // A cluster node's accounts are the cluster's (docs/cluster.md §3).
  net::NetLoop loop;
  std::unique_ptr<NatsLink> link;
  std::unique_ptr<KvRosterStore> kv_rosters;
  std::unique_ptr<KvAccountStore> kv_accounts;
  if (!config.cluster.empty()) {
    NatsLinkConfig nc;
    nc.urls = config.cluster;
    nc.node_id = "admin";
    nc.replicas = static_cast<int>(config.cluster_replicas);
    nc.dead_after_ms = config.cluster_dead_after_ms;
    nc.publish_timeout_ms = config.cluster_publish_timeout_ms;
    link = NatsLink::open(loop, nc, error);
    if (!link) {
      std::fprintf(stderr, "xmppd: %s\n", error.c_str());
      return 1;
    }
    kv_rosters = std::make_unique<KvRosterStore>(link->rosters_kv());
    kv_accounts = std::make_unique<KvAccountStore>(link->accounts_kv(), kv_rosters.get());
    accounts = kv_accounts.get();
  }
  if (cmd.kind == AdminCommand::Kind::kList) {
    std::vector<std::string> names;
    if (accounts->list(names) != StorageError::kOk) return 1;
    for (const auto& n : names) std::printf("%s@%s\n", n.c_str(), config.domain.c_str());
    return 0;
  }
  std::string user;
  if (protocol::username_case_mapped(cmd.username, user) != protocol::PrecisError::kOk) {
    std::fprintf(stderr, "xmppd: '%s' is not a valid username\n", cmd.username.c_str());
    return 2;
  }
  if (cmd.kind == AdminCommand::Kind::kDel) {
    StorageError e = accounts->remove(user);
    if (e != StorageError::kOk) {
      std::fprintf(stderr, "xmppd: %s: %s\n", user.c_str(),
                   std::string(storage_error_name(e)).c_str());
      return 1;
    }
    // Its messages waiting in the cluster's offline stream go too.
    if (link) link->purge_below(kOfflineStream, "xd.offline." + hex_token(user), 0);
    // The account's queued messages and push registrations go with it.
    std::unique_ptr<LmdbMessageStore> messages;
    if (LmdbMessageStore::open(*env, messages) != StorageError::kOk ||
        messages->clear(user) != StorageError::kOk ||
        messages->set_push(user, {}) != StorageError::kOk) {
      std::fprintf(stderr, "xmppd: %s: removed, but its message queue could not be cleared\n",
                   user.c_str());
      return 1;
    }
    // And its E2E keys (spec/e2e-keys.md §6.2).
    std::unique_ptr<LmdbKeyStore> keys;
    const bool cluster_keys_gone =
        !link || KvKeyStore(link->keys_kv()).remove_user(user) == StorageError::kOk;
    if (!cluster_keys_gone || LmdbKeyStore::open(*env, keys) != StorageError::kOk ||
        keys->remove_user(user) != StorageError::kOk) {
      std::fprintf(stderr, "xmppd: %s: removed, but its e2e keys could not be deleted\n",
                   user.c_str());
      return 1;
    }
    std::printf("removed %s@%s\n", user.c_str(), config.domain.c_str());
    return 0;
  }
  std::string password = cmd.password;
  if (!cmd.password_given) std::getline(std::cin, password);
  StoredAccount account;
  if (make_account(user, password, system_random, account) != StorageError::kOk) {
    std::fprintf(stderr, "xmppd: the password is not acceptable\n");
    return 2;
  }
  StorageError e = cmd.kind == AdminCommand::Kind::kAdd ? accounts->create(account)
                                                        : accounts->update_credentials(account);
  if (e != StorageError::kOk) {
    std::fprintf(stderr, "xmppd: %s: %s\n", user.c_str(),
                 std::string(storage_error_name(e)).c_str());
    return 1;
  }
  std::printf("%s %s@%s\n", cmd.kind == AdminCommand::Kind::kAdd ? "created" : "updated",
              user.c_str(), config.domain.c_str());
  return 0;
}

}  // namespace xd::server
