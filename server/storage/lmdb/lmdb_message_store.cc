#include "server/storage/lmdb/lmdb_message_store.h"

#include <algorithm>

#include "server/storage/account_store.h"
#include "server/storage/fault_hook.h"
#include "server/storage/lmdb/record_codec.h"

namespace xd::server {
namespace {

constexpr std::string_view kLastSeqKey = "last_seq";
// Aging work per commit is bounded so one commit never stalls the loop.
constexpr size_t kMaxAgedPerCommit = 512;

bool valid_sm_id(std::string_view id) { return !id.empty() && id.size() <= 128; }

}  // namespace

StorageError LmdbMessageStore::open(LmdbEnv& env, std::unique_ptr<LmdbMessageStore>& out) {
  Dbs dbs;
  StorageError e = env.open_db(kLmdbQueueDb, dbs.queue);
  if (e == StorageError::kOk) e = env.open_db(kLmdbDedupeDb, dbs.dedupe);
  if (e == StorageError::kOk) e = env.open_db(kLmdbDedupeAgeDb, dbs.dedupe_age);
  if (e == StorageError::kOk) e = env.open_db(kLmdbSmDb, dbs.sm);
  if (e == StorageError::kOk) e = env.open_db(kLmdbMetaDb, dbs.meta);
  if (e == StorageError::kOk) e = env.open_db(kLmdbPushDb, dbs.push);
  if (e != StorageError::kOk) return e;
  std::unique_ptr<LmdbMessageStore> store(new LmdbMessageStore(env, dbs));
  e = env.read([&](LmdbTxn& txn) {
    std::string_view bytes;
    StorageError g = txn.get(dbs.meta, kLastSeqKey, bytes);
    if (g == StorageError::kNotFound) return StorageError::kOk;
    if (g != StorageError::kOk) return g;
    return decode_counter(bytes, store->last_seq_);
  });
  if (e != StorageError::kOk) return e;
  out = std::move(store);
  return StorageError::kOk;
}

StorageError LmdbMessageStore::queue_length(LmdbTxn& txn, const std::string& user,
                                            std::unordered_map<std::string, size_t>& fresh,
                                            size_t& out) {
  if (auto it = fresh.find(user); it != fresh.end()) {
    out = it->second;
    return StorageError::kOk;
  }
  if (auto it = counts_.find(user); it != counts_.end()) {
    out = it->second;
    fresh[user] = out;
    return StorageError::kOk;
  }
  size_t n = 0;
  StorageError e =
      txn.scan(dbs_.queue, queue_key_prefix(user), [&](std::string_view, std::string_view) {
        ++n;
        return StorageError::kOk;
      });
  if (e != StorageError::kOk) return e;
  fresh[user] = n;
  out = n;
  return StorageError::kOk;
}

StorageError LmdbMessageStore::commit(CommitBatch& batch, const QueuePolicy& policy,
                                      uint64_t now_ms) {
  for (auto& r : batch.stores) r.result = StoreRequest::Result::kPending;
  if (batch.empty()) return StorageError::kOk;
  // Queue lengths as this transaction sees them; merged into counts_ only
  // after the commit (the body may run again after the map grew).
  std::unordered_map<std::string, size_t> fresh;
  uint64_t max_seq = 0;
  StorageError e = env_.write([&](LmdbTxn& txn) -> StorageError {
    fresh.clear();
    max_seq = 0;
    StorageError x = StorageError::kOk;
    // Age the de-duplication index: by time, then by count.
    {
      const uint64_t horizon =
          now_ms > policy.dedupe_window_ms ? now_ms - policy.dedupe_window_ms : 0;
      size_t total = 0;
      if ((x = txn.entries(dbs_.dedupe_age, total)) != StorageError::kOk) return x;
      std::vector<std::string> old;
      x = txn.scan(dbs_.dedupe_age, {}, [&](std::string_view key, std::string_view) {
        if (old.size() >= kMaxAgedPerCommit || key.size() < 8) return StorageError::kNotFound;
        uint64_t stamp = 0;
        for (size_t i = 0; i < 8; ++i) stamp = (stamp << 8) | static_cast<uint8_t>(key[i]);
        if (stamp >= horizon && total - old.size() <= policy.dedupe_max)
          return StorageError::kNotFound;
        old.emplace_back(key);
        return StorageError::kOk;
      });
      if (x != StorageError::kOk && x != StorageError::kNotFound) return x;
      for (const std::string& key : old) {
        if ((x = txn.del(dbs_.dedupe_age, key)) != StorageError::kOk) return x;
        std::string_view dkey = std::string_view(key).substr(8);
        std::string_view bytes;
        uint64_t stamp = 0;
        // The index entry may be older than a newer record for the same key
        // (impossible today: duplicates are never re-recorded), so compare.
        if (txn.get(dbs_.dedupe, dkey, bytes) == StorageError::kOk &&
            decode_dedupe(bytes, stamp) == StorageError::kOk &&
            big_endian64(stamp) == key.substr(0, 8)) {
          if ((x = txn.del(dbs_.dedupe, dkey)) != StorageError::kOk) return x;
        }
      }
    }
    for (auto& r : batch.stores) {
      std::string dkey;
      if (!r.dedupe_key.empty()) {
        dkey = key_part(r.dedupe_key);
        std::string_view bytes;
        x = txn.get(dbs_.dedupe, dkey, bytes);
        if (x == StorageError::kOk) {
          r.result = StoreRequest::Result::kDuplicate;
          continue;
        }
        if (x != StorageError::kNotFound) return x;
      }
      size_t length = 0;
      if ((x = queue_length(txn, r.stanza.user, fresh, length)) != StorageError::kOk) return x;
      if (length >= policy.quota) {
        r.result = StoreRequest::Result::kQuota;
        continue;
      }
      if ((x = txn.put(dbs_.queue, queue_key(r.stanza.user, r.stanza.seq),
                       encode_queued(r.stanza))) != StorageError::kOk) {
        return x;
      }
      fresh[r.stanza.user] = length + 1;
      max_seq = std::max(max_seq, r.stanza.seq);
      if (!dkey.empty()) {
        if ((x = txn.put(dbs_.dedupe, dkey, encode_dedupe(r.stanza.stamp_ms))) !=
                StorageError::kOk ||
            (x = txn.put(dbs_.dedupe_age, big_endian64(r.stanza.stamp_ms) + dkey, {})) !=
                StorageError::kOk) {
          return x;
        }
      }
      r.result = StoreRequest::Result::kStored;
    }
    for (const auto& d : batch.removals) {
      if (validate_username(d.user) != StorageError::kOk) continue;
      x = txn.del(dbs_.queue, queue_key(d.user, d.seq));
      if (x == StorageError::kNotFound) continue;
      if (x != StorageError::kOk) return x;
      // A known length drops by one; an unknown one is scanned when first
      // needed, and that scan already sees the delete.
      if (auto f = fresh.find(d.user); f != fresh.end()) {
        if (f->second > 0) --f->second;
      } else if (auto c = counts_.find(d.user); c != counts_.end()) {
        fresh[d.user] = c->second > 0 ? c->second - 1 : 0;
      }
    }
    for (const auto& s : batch.sm_puts) {
      if (!valid_sm_id(s.id)) continue;
      if ((x = txn.put(dbs_.sm, s.id, encode_sm(s))) != StorageError::kOk) return x;
    }
    for (const auto& id : batch.sm_removals) {
      if (!valid_sm_id(id)) continue;
      x = txn.del(dbs_.sm, id);
      if (x != StorageError::kOk && x != StorageError::kNotFound) return x;
    }
    if (max_seq > 0) {
      // The counter only moves forward, whatever order batches commit in.
      uint64_t stored = 0;
      std::string_view bytes;
      x = txn.get(dbs_.meta, kLastSeqKey, bytes);
      if (x == StorageError::kOk) {
        if ((x = decode_counter(bytes, stored)) != StorageError::kOk) return x;
      } else if (x != StorageError::kNotFound) {
        return x;
      }
      if (max_seq > stored &&
          (x = txn.put(dbs_.meta, kLastSeqKey, encode_counter(max_seq))) != StorageError::kOk) {
        return x;
      }
    }
    fault_point("in-commit");
    return StorageError::kOk;
  });
  if (e != StorageError::kOk) {
    for (auto& r : batch.stores) r.result = StoreRequest::Result::kFull;
    return e;
  }
  for (auto& [user, n] : fresh) counts_[user] = n;
  return StorageError::kOk;
}

StorageError LmdbMessageStore::load(std::string_view user, uint64_t after, size_t limit,
                                    std::vector<QueuedStanza>& out) {
  if (validate_username(user) != StorageError::kOk || limit == 0 || after == UINT64_MAX) {
    return StorageError::kOk;
  }
  const std::string prefix = queue_key_prefix(user);
  const std::string start = queue_key(user, after + 1);
  const size_t base = out.size();
  bool corrupt = false;
  StorageError e = env_.read([&](LmdbTxn& txn) {
    out.resize(base);
    return txn.scan_from(
        dbs_.queue, prefix, start, [&](std::string_view key, std::string_view value) {
          QueuedStanza q;
          if (!queue_key_seq(key, q.seq) || decode_queued(value, q) != StorageError::kOk ||
              q.user != user) {
            // An unreadable entry is skipped (and reported), never delivered.
            corrupt = true;
            return StorageError::kOk;
          }
          out.push_back(std::move(q));
          return out.size() - base >= limit ? StorageError::kNotFound : StorageError::kOk;
        });
  });
  if (e == StorageError::kNotFound) e = StorageError::kOk;
  if (e != StorageError::kOk) return e;
  return corrupt ? StorageError::kCorrupt : StorageError::kOk;
}

StorageError LmdbMessageStore::has_dedupe(std::string_view dedupe_key, bool& found) {
  found = false;
  const std::string dkey = key_part(dedupe_key);
  return env_.read([&](LmdbTxn& txn) {
    std::string_view bytes;
    const StorageError x = txn.get(dbs_.dedupe, dkey, bytes);
    if (x == StorageError::kOk) found = true;
    return x == StorageError::kNotFound ? StorageError::kOk : x;
  });
}

StorageError LmdbMessageStore::count(std::string_view user, size_t& out) {
  out = 0;
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  if (auto it = counts_.find(std::string(user)); it != counts_.end()) {
    out = it->second;
    return StorageError::kOk;
  }
  size_t n = 0;
  StorageError e = env_.read([&](LmdbTxn& txn) {
    n = 0;
    return txn.scan(dbs_.queue, queue_key_prefix(user), [&](std::string_view, std::string_view) {
      ++n;
      return StorageError::kOk;
    });
  });
  if (e != StorageError::kOk) return e;
  counts_[std::string(user)] = n;
  out = n;
  return StorageError::kOk;
}

StorageError LmdbMessageStore::count_all(size_t& out) {
  out = 0;
  size_t n = 0;
  StorageError e = env_.read([&](LmdbTxn& txn) { return txn.entries(dbs_.queue, n); });
  if (e == StorageError::kOk) out = n;
  return e;
}

StorageError LmdbMessageStore::queued_users(std::vector<std::string>& out) {
  out.clear();
  return env_.read([&](LmdbTxn& txn) {
    out.clear();
    // Keys are user NUL seq(8): one user's keys are adjacent.
    return txn.scan(dbs_.queue, {}, [&](std::string_view key, std::string_view) {
      if (key.size() < 9 || key[key.size() - 9] != '\0') return StorageError::kOk;
      std::string_view user = key.substr(0, key.size() - 9);
      if (out.empty() || out.back() != user) out.emplace_back(user);
      return StorageError::kOk;
    });
  });
}

StorageError LmdbMessageStore::clear(std::string_view user) {
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  size_t deleted = 0;
  StorageError e = env_.write(
      [&](LmdbTxn& txn) { return txn.del_prefix(dbs_.queue, queue_key_prefix(user), deleted); });
  if (e == StorageError::kOk) counts_.erase(std::string(user));
  return e;
}

StorageError LmdbMessageStore::get_sm(std::string_view id, SmRecord& out) {
  if (!valid_sm_id(id)) return StorageError::kNotFound;
  return env_.read([&](LmdbTxn& txn) {
    std::string_view bytes;
    StorageError e = txn.get(dbs_.sm, id, bytes);
    if (e != StorageError::kOk) return e;
    SmRecord r;
    if (decode_sm(bytes, r) != StorageError::kOk || r.id != id) return StorageError::kCorrupt;
    out = std::move(r);
    return StorageError::kOk;
  });
}

StorageError LmdbMessageStore::prune_sm(uint64_t before_ms, size_t& removed) {
  removed = 0;
  return env_.write([&](LmdbTxn& txn) {
    removed = 0;
    std::vector<std::string> old;
    StorageError e = txn.scan(dbs_.sm, {}, [&](std::string_view key, std::string_view value) {
      SmRecord r;
      if (decode_sm(value, r) != StorageError::kOk || r.stamp_ms < before_ms) old.emplace_back(key);
      return StorageError::kOk;
    });
    if (e != StorageError::kOk) return e;
    for (const std::string& key : old) {
      if ((e = txn.del(dbs_.sm, key)) != StorageError::kOk) return e;
      ++removed;
    }
    return StorageError::kOk;
  });
}

StorageError LmdbMessageStore::get_push(std::string_view user, std::vector<PushRegistration>& out) {
  out.clear();
  if (validate_username(user) != StorageError::kOk) return StorageError::kOk;
  const std::string key = account_key(user);
  return env_.read([&](LmdbTxn& txn) {
    std::string_view bytes;
    StorageError e = txn.get(dbs_.push, key, bytes);
    if (e == StorageError::kNotFound) return StorageError::kOk;
    if (e != StorageError::kOk) return e;
    return decode_push(bytes, out);
  });
}

StorageError LmdbMessageStore::set_push(std::string_view user,
                                        const std::vector<PushRegistration>& registrations) {
  if (validate_username(user) != StorageError::kOk ||
      registrations.size() > kMaxPushRegistrations) {
    return StorageError::kInvalid;
  }
  const std::string key = account_key(user);
  const std::string record = registrations.empty() ? std::string() : encode_push(registrations);
  return env_.write([&](LmdbTxn& txn) {
    if (registrations.empty()) {
      StorageError e = txn.del(dbs_.push, key);
      return e == StorageError::kNotFound ? StorageError::kOk : e;
    }
    return txn.put(dbs_.push, key, record);
  });
}

}  // namespace xd::server
