// The node's connection to the NATS cluster (architecture.md §6,
// docs/cluster.md): one natsConnection with a JetStream context, the
// streams and key-value buckets the cluster uses (created if missing), and
// the hand-over of everything libnats delivers on its own threads to the
// loop thread through a LoopMailbox. Every callback this class takes runs
// on the loop thread. Blocking calls (KV reads and writes, fetches) are
// marked; asynchronous JetStream publishes report their acknowledgement
// through a callback on the loop. Never touches sessions or storage.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/loop_mailbox.h"
#include "net/net_loop.h"
#include "net/timer.h"

namespace xd::server {

// Names of the cluster's JetStream objects (docs/cluster.md §2).
inline constexpr const char* kRouteStream = "XD_ROUTE";      // xd.route.<node>
inline constexpr const char* kOfflineStream = "XD_OFFLINE";  // xd.offline.<user-hex>
inline constexpr const char* kJournalStream = "XD_JOURNAL";  // xd.journal.<node>
inline constexpr const char* kAccountsBucket = "xd_accounts";
inline constexpr const char* kRostersBucket = "xd_rosters";
inline constexpr const char* kKeysBucket = "xd_keys";
inline constexpr const char* kPushBucket = "xd_push";
inline constexpr const char* kSessionsBucket = "xd_sessions";
inline constexpr const char* kNodesBucket = "xd_nodes";

// libnats' text for the last error of this thread, never null.
const char* last_nats_error();

// Lower-case hex of |bytes|: a user's token in subjects and keys (a
// localpart may hold any Unicode; subjects and keys allow few characters).
std::string hex_token(std::string_view bytes);
// The inverse; false on anything that is not even-length lower-case hex.
bool unhex_token(std::string_view hex, std::string& out);

struct NatsLinkConfig {
  std::string urls;  // comma-separated
  std::string node_id;
  int replicas = 3;
  int64_t dead_after_ms = 5000;  // TTL of the node heartbeat bucket
  int64_t publish_timeout_ms = 5000;
};

// A NATS message owned by whoever holds a copy; destroyed with the last.
using NatsMsgPtr = std::shared_ptr<natsMsg>;
inline NatsMsgPtr own_msg(natsMsg* m) { return NatsMsgPtr(m, &natsMsg_Destroy); }

// A KV change seen by a watcher: |deleted| for a delete or purge marker.
struct KvChange {
  std::string key;
  std::string value;
  bool deleted = false;
};

class NatsLink {
 public:
  // Connects (retrying for up to 15 s while the servers come up), then
  // creates or binds the streams and buckets. Null with |error| set.
  static std::unique_ptr<NatsLink> open(net::NetLoop& loop, const NatsLinkConfig& config,
                                        std::string& error);
  // Stops the watchers and subscriptions, then closes the connection; no
  // callback runs after it returns.
  ~NatsLink();
  NatsLink(const NatsLink&) = delete;
  NatsLink& operator=(const NatsLink&) = delete;

  const std::string& node_id() const { return config_.node_id; }
  const NatsLinkConfig& config() const { return config_; }

  // --- JetStream publishes (asynchronous; |done| on the loop) ------------
  // Publishes |data| to |subject| with |headers| (name, value pairs).
  // |done(true, stream_seq)| once JetStream stored it (replicated as
  // configured); |done(false, 0)| when it refused, or kept failing for
  // publish_timeout_ms (a failure that can pass, no responders while a
  // stream elects its leader after a server died, is retried every
  // 250 ms until then). |done| may be empty (fire and forget, no retry).
  using PublishDone = std::function<void(bool ok, uint64_t seq)>;
  void publish(const std::string& subject, std::string_view data,
               const std::vector<std::pair<std::string, std::string>>& headers, PublishDone done);
  // The same, waiting for JetStream's acknowledgement on this thread (at
  // shutdown, with the loop stopped). True once stored.
  bool publish_sync(const std::string& subject, std::string_view data,
                    const std::vector<std::pair<std::string, std::string>>& headers);
  // Core NATS publish, at most once (wake-ups and live stanzas).
  void publish_core(const std::string& subject, std::string_view data,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

  // --- Subscriptions -------------------------------------------------------
  // A core subscription; |on_msg| gets each message. Returns an id for
  // unsubscribe(), 0 on failure.
  using MessageHandler = std::function<void(const NatsMsgPtr& msg)>;
  uint64_t subscribe(const std::string& subject, MessageHandler on_msg);
  void unsubscribe(uint64_t id);
  // The durable JetStream consumer |durable| on |subject| of |stream|,
  // manual acks (natsMsg_Ack from the loop after the message is safe).
  // Returns the subscription id for unsubscribe(), 0 on failure.
  uint64_t consume(const char* stream, const std::string& subject, const std::string& durable,
                   MessageHandler on_msg);

  // --- Blocking calls on the loop thread ---------------------------------
  // Every message of |stream| on |subject| now with a sequence above
  // |after|, oldest first (an ephemeral pull consumer, fetched until
  // empty), at most |limit|. False when the read failed or came up short of
  // what the stream said it holds (|out| then has the prefix it got).
  bool fetch_all(const char* stream, const std::string& subject, size_t limit,
                 std::vector<NatsMsgPtr>& out, uint64_t after = 0);
  // Deletes message |seq| of |stream| without waiting for the answer.
  void delete_msg_async(const char* stream, uint64_t seq);
  // Deletes the consumer |name| of |stream|; true when it is gone (or was).
  bool delete_consumer(const char* stream, const std::string& name);
  // Whether the consumer |name| of |stream| exists; false also when the
  // question could not be asked (|known| false then).
  bool consumer_exists(const char* stream, const std::string& name, bool& known);
  // How many messages |stream| holds on |subject| (one API request).
  bool count_subject(const char* stream, const std::string& subject, uint64_t& out);
  // Deletes every message of |stream| on |subject| with a sequence below
  // |below| (0: every message on it).
  bool purge_below(const char* stream, const std::string& subject, uint64_t below);

  kvStore* accounts_kv() { return accounts_; }
  kvStore* rosters_kv() { return rosters_; }
  kvStore* keys_kv() { return keys_; }
  kvStore* push_kv() { return push_; }
  kvStore* sessions_kv() { return sessions_; }
  kvStore* nodes_kv() { return nodes_; }
  // KV put/delete through an asynchronous publish on the bucket's subject
  // (the directory writes these on every login; they must not block).
  void kv_put_async(const char* bucket, const std::string& key, std::string_view value);
  void kv_delete_async(const char* bucket, const std::string& key);

  // Watches every key of |kv| on a thread of its own; |on_change| runs on
  // the loop for each change (the initial values first).
  void watch(kvStore* kv, std::function<void(const KvChange&)> on_change);

  // Blocks until the server has processed everything sent so far (at a
  // clean shutdown: the last deletes are out before the connection closes).
  void flush() { natsConnection_Flush(conn_); }

  net::LoopMailbox& mailbox() { return mailbox_; }
  bool connected() const;

 private:
  NatsLink(net::NetLoop& loop, const NatsLinkConfig& config);
  bool connect(std::string& error);
  bool provision(std::string& error);
  static void on_pub_ack(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  static void on_sub_msg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);

  struct Sub {
    NatsLink* link;
    uint64_t id;
    MessageHandler handler;
    natsSubscription* sub = nullptr;
  };

  net::NetLoop& loop_;
  NatsLinkConfig config_;
  net::LoopMailbox mailbox_;
  natsConnection* conn_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* accounts_ = nullptr;
  kvStore* rosters_ = nullptr;
  kvStore* keys_ = nullptr;
  kvStore* push_ = nullptr;
  kvStore* sessions_ = nullptr;
  kvStore* nodes_ = nullptr;
  // Publishes waiting for their acknowledgement, by the Xd-Ref header.
  struct Publish {
    std::string subject;
    std::string data;
    std::vector<std::pair<std::string, std::string>> headers;
    PublishDone done;
    uint64_t deadline_ms = 0;  // loop clock
  };
  // Sends |p| (again) under |ref|.
  void send(uint64_t ref, Publish& p);
  void retry_due();
  std::unordered_map<uint64_t, Publish> publishes_;
  std::vector<uint64_t> retries_;  // refs to send again at the next tick
  std::unique_ptr<net::Timer> retry_timer_;
  uint64_t next_ref_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Sub>> subs_;
  uint64_t next_sub_ = 1;
  std::vector<std::thread> watchers_;
  std::vector<kvWatcher*> watcher_handles_;
  std::atomic<bool> stopping_{false};
};

}  // namespace xd::server
