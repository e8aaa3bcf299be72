// NatsLink: libnats with its own threads; everything it hands back goes
// through the LoopMailbox, so the rest of the server stays single-threaded.
#include "server/cluster/nats_link.h"

#include <chrono>
#include <cstring>

#include "server/log.h"

namespace xd::server {

namespace {

constexpr const char* kRefHeader = "Xd-Ref";
// JetStream's "stream name already in use" (a stream that exists with
// another configuration): we bind to it as it is.
constexpr int kStreamNameInUse = 10058;

std::vector<std::string> split_urls(const std::string& urls) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= urls.size()) {
    size_t comma = urls.find(',', start);
    if (comma == std::string::npos) comma = urls.size();
    std::string one = urls.substr(start, comma - start);
    while (!one.empty() && one.front() == ' ') one.erase(one.begin());
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (!one.empty()) out.push_back(one);
    start = comma + 1;
  }
  return out;
}

std::string status_text(natsStatus s) { return natsStatus_GetText(s); }

}  // namespace

const char* last_nats_error() {
  const char* e = nats_GetLastError(nullptr);
  return e ? e : "";
}

std::string hex_token(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

bool unhex_token(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  out.clear();
  out.reserve(hex.size() / 2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

NatsLink::NatsLink(net::NetLoop& loop, const NatsLinkConfig& config)
    : loop_(loop), config_(config), mailbox_(loop) {
  retry_timer_ = std::make_unique<net::Timer>(loop_, [this] { retry_due(); });
}

std::unique_ptr<NatsLink> NatsLink::open(net::NetLoop& loop, const NatsLinkConfig& config,
                                         std::string& error) {
  std::unique_ptr<NatsLink> link(new NatsLink(loop, config));
  if (!link->connect(error) || !link->provision(error)) return nullptr;
  return link;
}

bool NatsLink::connect(std::string& error) {
  natsStatus s = nats_Open(-1);
  if (s != NATS_OK) {
    error = "cluster: cannot initialise the NATS library: " + status_text(s);
    return false;
  }
  std::vector<std::string> urls = split_urls(config_.urls);
  if (urls.empty()) {
    error = "cluster: no NATS server in '" + config_.urls + "'";
    return false;
  }
  std::vector<const char*> servers;
  for (const auto& u : urls) servers.push_back(u.c_str());
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  const std::string name = "xmppd-" + config_.node_id;
  natsOptions_SetName(opts, name.c_str());
  // A node never gives up on the cluster: it keeps reconnecting (to any of
  // the servers) for as long as it runs, buffering publishes meanwhile.
  natsOptions_SetAllowReconnect(opts, true);
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetReconnectWait(opts, 250);
  natsOptions_SetReconnectBufSize(opts, 64 * 1024 * 1024);
  natsOptions_SetDisconnectedCB(
      opts, [](natsConnection*, void*) { XD_WARN("cluster: disconnected from NATS"); }, nullptr);
  natsOptions_SetReconnectedCB(
      opts, [](natsConnection*, void*) { XD_INFO("cluster: reconnected to NATS"); }, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    s = natsConnection_Connect(&conn_, opts);
    if (s == NATS_OK || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    error = "cluster: cannot connect to " + config_.urls + ": " + status_text(s);
    return false;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  // Blocking API calls (KV reads, stream info, fetches) wait at most this
  // long: while a stream elects a leader they fail fast and are retried
  // later instead of stalling the loop for every connection.
  jo.Wait = std::min<int64_t>(config_.publish_timeout_ms, 1000);
  jo.PublishAsync.MaxPending = 1 << 16;
  jo.PublishAsync.AckHandler = &NatsLink::on_pub_ack;
  jo.PublishAsync.AckHandlerClosure = this;
  s = natsConnection_JetStream(&js_, conn_, &jo);
  if (s != NATS_OK) {
    error = "cluster: no JetStream context: " + status_text(s);
    return false;
  }
  return true;
}

bool NatsLink::provision(std::string& error) {
  // Streams: created with this configuration when missing; one that exists
  // is used as it is (an operator may have tuned it).
  auto stream = [&](const char* name, const char* subject, jsRetentionPolicy retention) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    const char* subjects[] = {subject};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = retention;
    cfg.Replicas = static_cast<int64_t>(config_.replicas);
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    // The meta leader may still be in election right after the servers
    // start: retry for a while.
    natsStatus s = NATS_OK;
    for (int attempt = 0; attempt < 40; ++attempt) {
      s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
      if (s == NATS_OK || jerr == kStreamNameInUse) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (si) jsStreamInfo_Destroy(si);
    if (s != NATS_OK && jerr != kStreamNameInUse) {
      error = std::string("cluster: cannot create stream ") + name + ": " + status_text(s) + " (" +
              std::to_string(static_cast<int>(jerr)) + ")";
      return false;
    }
    return true;
  };
  if (!stream(kRouteStream, "xd.route.*", js_WorkQueuePolicy)) return false;
  if (!stream(kOfflineStream, "xd.offline.*", js_LimitsPolicy)) return false;
  if (!stream(kJournalStream, "xd.journal.*", js_LimitsPolicy)) return false;
  auto bucket = [&](const char* name, int64_t ttl_ms, kvStore** out) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = name;
    kc.History = 1;
    kc.Replicas = config_.replicas;
    kc.StorageType = js_FileStorage;
    kc.TTL = ttl_ms * 1000 * 1000;  // libnats passes it on as the stream's MaxAge, in ns
    natsStatus s = NATS_OK;
    for (int attempt = 0; attempt < 40; ++attempt) {
      s = js_CreateKeyValue(out, js_, &kc);
      if (s != NATS_OK) s = js_KeyValue(out, js_, name);
      if (s == NATS_OK) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (s != NATS_OK) {
      error = std::string("cluster: cannot open bucket ") + name + ": " + status_text(s) + " " +
              last_nats_error();
      return false;
    }
    return true;
  };
  if (!bucket(kAccountsBucket, 0, &accounts_)) return false;
  if (!bucket(kRostersBucket, 0, &rosters_)) return false;
  if (!bucket(kKeysBucket, 0, &keys_)) return false;
  if (!bucket(kPushBucket, 0, &push_)) return false;
  if (!bucket(kSessionsBucket, 0, &sessions_)) return false;
  if (!bucket(kNodesBucket, config_.dead_after_ms, &nodes_)) return false;
  return true;
}

NatsLink::~NatsLink() {
  stopping_ = true;
  for (kvWatcher* w : watcher_handles_) kvWatcher_Stop(w);
  for (auto& t : watchers_) t.join();
  for (kvWatcher* w : watcher_handles_) kvWatcher_Destroy(w);
  for (auto& [id, sub] : subs_) {
    natsSubscription_Unsubscribe(sub->sub);
    natsSubscription_Destroy(sub->sub);
  }
  if (conn_) natsConnection_Close(conn_);
  // Messages handed over but not yet run, and callbacks of publishes that
  // will never be answered, are destroyed while the library is open.
  mailbox_.discard();
  publishes_.clear();
  if (accounts_) kvStore_Destroy(accounts_);
  if (rosters_) kvStore_Destroy(rosters_);
  if (keys_) kvStore_Destroy(keys_);
  if (push_) kvStore_Destroy(push_);
  if (sessions_) kvStore_Destroy(sessions_);
  if (nodes_) kvStore_Destroy(nodes_);
  if (js_) jsCtx_Destroy(js_);
  if (conn_) natsConnection_Destroy(conn_);
  // Waits for libnats' threads, so no callback can post into the mailbox
  // after this object is gone.
  nats_CloseAndWait(5000);
  subs_.clear();
}

bool NatsLink::connected() const {
  return conn_ && natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED;
}

void NatsLink::publish(const std::string& subject, std::string_view data,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       PublishDone done) {
  const uint64_t ref = next_ref_++;
  Publish p;
  p.subject = subject;
  p.headers = headers;
  p.data.assign(data);
  if (!done) {
    // Nobody waits for it: sent once, not kept.
    send(0, p);
    return;
  }
  p.done = std::move(done);
  p.deadline_ms = loop_.now_ms() + static_cast<uint64_t>(config_.publish_timeout_ms);
  Publish& kept = publishes_.emplace(ref, std::move(p)).first->second;
  send(ref, kept);
}

bool NatsLink::publish_sync(const std::string& subject, std::string_view data,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
  natsMsg* m = nullptr;
  if (natsMsg_Create(&m, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size())) !=
      NATS_OK) {
    return false;
  }
  for (const auto& [k, v] : headers) natsMsgHeader_Set(m, k.c_str(), v.c_str());
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = config_.publish_timeout_ms;
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PublishMsg(&ack, js_, m, &po, &jerr);
  natsMsg_Destroy(m);
  if (ack) jsPubAck_Destroy(ack);
  return s == NATS_OK;
}

void NatsLink::send(uint64_t ref, Publish& p) {
  natsMsg* m = nullptr;
  if (natsMsg_Create(&m, p.subject.c_str(), nullptr, p.data.data(),
                     static_cast<int>(p.data.size())) != NATS_OK) {
    m = nullptr;
  }
  if (m) {
    for (const auto& [k, v] : p.headers) natsMsgHeader_Set(m, k.c_str(), v.c_str());
    natsMsgHeader_Set(m, kRefHeader, std::to_string(ref).c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = config_.publish_timeout_ms;
    if (js_PublishMsgAsync(js_, &m, &po) == NATS_OK) return;
    natsMsg_Destroy(m);
  }
  if (ref == 0) return;
  // Not even queued (the connection is down and its buffer full): as a
  // failed attempt.
  retries_.push_back(ref);
  if (!retry_timer_->active()) retry_timer_->start(250);
}

void NatsLink::retry_due() {
  std::vector<uint64_t> due = std::move(retries_);
  retries_.clear();
  const uint64_t now = loop_.now_ms();
  for (uint64_t ref : due) {
    auto it = publishes_.find(ref);
    if (it == publishes_.end()) continue;
    if (now >= it->second.deadline_ms) {
      XD_WARN("cluster: publish to %s failed for %lld ms; given up", it->second.subject.c_str(),
              static_cast<long long>(config_.publish_timeout_ms));
      PublishDone done = std::move(it->second.done);
      publishes_.erase(it);
      done(false, 0);
      continue;
    }
    send(ref, it->second);
  }
}

void NatsLink::on_pub_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* self = static_cast<NatsLink*>(closure);
  const char* ref_text = nullptr;
  uint64_t ref = 0;
  if (natsMsgHeader_Get(msg, kRefHeader, &ref_text) == NATS_OK && ref_text) {
    ref = std::strtoull(ref_text, nullptr, 10);
  }
  const bool ok = pa != nullptr && pae == nullptr;
  const uint64_t seq = ok ? pa->Sequence : 0;
  // JetStream refusing the message itself is final; no responders or no
  // answer in time is what a stream without a leader looks like for a few
  // seconds after a server died, so it is tried again.
  const bool final_refusal = !ok && pae && pae->ErrCode != 0;
  if (!ok && pae && ref != 0) {
    XD_DEBUG("cluster: publish to %s not stored: %s", natsMsg_GetSubject(msg),
             pae->ErrText ? pae->ErrText : status_text(pae->Err).c_str());
  }
  natsMsg_Destroy(msg);
  if (ref == 0 || self->stopping_) return;
  self->mailbox_.post([self, ref, ok, seq, final_refusal] {
    auto it = self->publishes_.find(ref);
    if (it == self->publishes_.end()) return;
    if (!ok && !final_refusal) {
      self->retries_.push_back(ref);
      if (!self->retry_timer_->active()) self->retry_timer_->start(250);
      return;
    }
    PublishDone done = std::move(it->second.done);
    self->publishes_.erase(it);
    if (!ok) XD_WARN("cluster: JetStream refused a publish");
    done(ok, seq);
  });
}

void NatsLink::publish_core(const std::string& subject, std::string_view data,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
  natsMsg* m = nullptr;
  if (natsMsg_Create(&m, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size())) !=
      NATS_OK) {
    return;
  }
  for (const auto& [k, v] : headers) natsMsgHeader_Set(m, k.c_str(), v.c_str());
  natsConnection_PublishMsg(conn_, m);
  natsMsg_Destroy(m);
}

void NatsLink::on_sub_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* sub = static_cast<Sub*>(closure);
  NatsLink* self = sub->link;
  const uint64_t id = sub->id;
  NatsMsgPtr owned = own_msg(msg);
  if (self->stopping_) return;
  self->mailbox_.post([self, id, owned] {
    auto it = self->subs_.find(id);
    if (it == self->subs_.end()) return;  // unsubscribed meanwhile: dropped unseen
    it->second->handler(owned);
  });
}

uint64_t NatsLink::subscribe(const std::string& subject, MessageHandler on_msg) {
  auto sub = std::make_unique<Sub>();
  sub->link = this;
  sub->id = next_sub_++;
  sub->handler = std::move(on_msg);
  if (natsConnection_Subscribe(&sub->sub, conn_, subject.c_str(), &NatsLink::on_sub_msg,
                               sub.get()) != NATS_OK) {
    return 0;
  }
  const uint64_t id = sub->id;
  subs_.emplace(id, std::move(sub));
  return id;
}

void NatsLink::unsubscribe(uint64_t id) {
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  natsSubscription_Unsubscribe(it->second->sub);
  natsSubscription_Destroy(it->second->sub);
  // Messages already posted find no entry and are destroyed unseen.
  subs_.erase(it);
}

uint64_t NatsLink::consume(const char* stream, const std::string& subject,
                           const std::string& durable, MessageHandler on_msg) {
  auto sub = std::make_unique<Sub>();
  sub->link = this;
  sub->id = next_sub_++;
  sub->handler = std::move(on_msg);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream;
  so.Config.Durable = durable.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  // A hand-off is acknowledged when its message is delivered, which may
  // take as long as its recipient stays connected without reading: a day
  // before JetStream offers it again (a duplicate, at least once).
  so.Config.AckWait = static_cast<int64_t>(24) * 3600 * 1000 * 1000 * 1000;  // ns
  so.Config.MaxAckPending = 1 << 20;
  so.Config.DeliverPolicy = js_DeliverAll;
  so.ManualAck = true;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = NATS_OK;
  for (int attempt = 0; attempt < 40; ++attempt) {
    s = js_Subscribe(&sub->sub, js_, subject.c_str(), &NatsLink::on_sub_msg, sub.get(), nullptr,
                     &so, &jerr);
    if (s == NATS_OK) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (s != NATS_OK) {
    XD_ERROR("cluster: cannot consume %s: %s (%d) %s", subject.c_str(), status_text(s).c_str(),
             static_cast<int>(jerr), last_nats_error());
    return 0;
  }
  natsSubscription_SetPendingLimits(sub->sub, -1, -1);
  const uint64_t id = sub->id;
  subs_.emplace(id, std::move(sub));
  return id;
}

bool NatsLink::delete_consumer(const char* stream, const std::string& name) {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_DeleteConsumer(js_, stream, name.c_str(), nullptr, &jerr);
  return s == NATS_OK || s == NATS_NOT_FOUND;
}

bool NatsLink::consumer_exists(const char* stream, const std::string& name, bool& known) {
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, js_, stream, name.c_str(), nullptr, &jerr);
  if (ci) jsConsumerInfo_Destroy(ci);
  known = s == NATS_OK || s == NATS_NOT_FOUND;
  return s == NATS_OK;
}

bool NatsLink::count_subject(const char* stream, const std::string& subject, uint64_t& out) {
  out = 0;
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Info.SubjectsFilter = subject.c_str();
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, stream, &o, &jerr);
  if (s != NATS_OK) {
    XD_WARN("cluster: cannot count %s: %s (%d)", subject.c_str(), status_text(s).c_str(),
            static_cast<int>(jerr));
    return false;
  }
  if (si->State.Subjects) {
    for (int i = 0; i < si->State.Subjects->Count; ++i) {
      if (subject == si->State.Subjects->List[i].Subject) out += si->State.Subjects->List[i].Msgs;
    }
  }
  jsStreamInfo_Destroy(si);
  return true;
}

bool NatsLink::fetch_all(const char* stream, const std::string& subject, size_t limit,
                         std::vector<NatsMsgPtr>& out, uint64_t after) {
  // One request answers the common case, an empty subject, without a
  // consumer; otherwise exactly what is there is fetched, so no fetch
  // ever waits for messages that will not come.
  uint64_t pending = 0;
  if (!count_subject(stream, subject, pending)) return false;
  if (pending == 0) return true;
  limit = std::min<uint64_t>(limit, pending);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream;
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.MaxAckPending = static_cast<int64_t>(limit) + 1;
  so.Config.DeliverPolicy = after > 0 ? js_DeliverByStartSequence : js_DeliverAll;
  so.Config.OptStartSeq = after > 0 ? after + 1 : 0;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&sub, js_, subject.c_str(), nullptr, nullptr, &so, &jerr);
  if (s != NATS_OK) {
    XD_WARN("cluster: cannot read %s: %s (%d)", subject.c_str(), status_text(s).c_str(),
            static_cast<int>(jerr));
    return false;
  }
  if (after > 0) {
    // Only what lies past |after| counts: the consumer says how much.
    jsConsumerInfo* ci = nullptr;
    if (natsSubscription_GetConsumerInfo(&ci, sub, nullptr, &jerr) != NATS_OK) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
      return false;
    }
    limit = std::min<uint64_t>(limit, ci->NumPending);
    jsConsumerInfo_Destroy(ci);
  }
  bool ok = true;
  while (out.size() < limit) {
    natsMsgList list{};
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = static_cast<int>(std::min<size_t>(256, limit - out.size()));
    req.Expires = static_cast<int64_t>(1000) * 1000 * 1000;  // 1 s, as every blocking call
    s = natsSubscription_FetchRequest(&list, sub, &req);
    if (s == NATS_TIMEOUT || s == NATS_NOT_FOUND) break;  // nothing more
    if (s != NATS_OK) {
      ok = false;
      break;
    }
    const int n = list.Count;
    for (int i = 0; i < n; ++i) {
      out.push_back(own_msg(list.Msgs[i]));
      list.Msgs[i] = nullptr;
    }
    natsMsgList_Destroy(&list);
    if (n == 0) break;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  // Fewer than the stream said it holds (a consumer made right after a
  // stream changed leader can come up short): not a complete read.
  if (ok && out.size() < limit) {
    XD_WARN("cluster: read %zu of %llu messages on %s; to be read again", out.size(),
            static_cast<unsigned long long>(limit), subject.c_str());
    ok = false;
  }
  return ok;
}

void NatsLink::delete_msg_async(const char* stream, uint64_t seq) {
  // The JetStream API answers to a reply subject; nobody listens on this
  // one (the outcome changes nothing here: a message that stays is read
  // again at most, at least once).
  const std::string subject = std::string("$JS.API.STREAM.MSG.DELETE.") + stream;
  const std::string body = "{\"seq\":" + std::to_string(seq) + ",\"no_erase\":true}";
  natsConnection_PublishRequest(conn_, subject.c_str(), "_INBOX.xd-unanswered", body.data(),
                                static_cast<int>(body.size()));
}

bool NatsLink::purge_below(const char* stream, const std::string& subject, uint64_t below) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Purge.Subject = subject.c_str();
  o.Stream.Purge.Sequence = below;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PurgeStream(js_, stream, &o, &jerr);
  if (s != NATS_OK) {
    XD_WARN("cluster: cannot purge %s below %llu: %s", subject.c_str(),
            static_cast<unsigned long long>(below), status_text(s).c_str());
    return false;
  }
  return true;
}

void NatsLink::kv_put_async(const char* bucket, const std::string& key, std::string_view value) {
  publish(std::string("$KV.") + bucket + "." + key, value, {}, {});
}

void NatsLink::kv_delete_async(const char* bucket, const std::string& key) {
  publish(std::string("$KV.") + bucket + "." + key, {}, {{"KV-Operation", "DEL"}}, {});
}

void NatsLink::watch(kvStore* kv, std::function<void(const KvChange&)> on_change) {
  kvWatcher* w = nullptr;
  if (kvStore_WatchAll(&w, kv, nullptr) != NATS_OK) {
    XD_ERROR("cluster: cannot watch a bucket: %s", last_nats_error());
    return;
  }
  watcher_handles_.push_back(w);
  watchers_.emplace_back([this, w, on_change = std::move(on_change)] {
    while (!stopping_) {
      kvEntry* e = nullptr;
      natsStatus s = kvWatcher_Next(&e, w, 500);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) break;     // stopped
      if (e == nullptr) continue;  // the initial values are all in
      KvChange c;
      c.key = kvEntry_Key(e);
      const kvOperation op = kvEntry_Operation(e);
      c.deleted = op == kvOp_Delete || op == kvOp_Purge;
      if (!c.deleted && kvEntry_ValueLen(e) > 0) {
        c.value.assign(static_cast<const char*>(kvEntry_Value(e)),
                       static_cast<size_t>(kvEntry_ValueLen(e)));
      }
      kvEntry_Destroy(e);
      mailbox_.post([on_change, c = std::move(c)] { on_change(c); });
    }
  });
}

}  // namespace xd::server
