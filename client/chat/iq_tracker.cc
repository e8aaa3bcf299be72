#include "client/chat/iq_tracker.h"

#include <utility>

#include "protocol/jid/jid.h"

namespace xd::client {
namespace {

// The canonical form of a JID for comparison (RFC 7622 §3: the parts
// prepared); the input itself when it does not parse, which then matches
// nothing but the identical string.
std::string canonical(std::string_view jid) {
  protocol::Jid parsed;
  if (protocol::Jid::parse(jid, parsed) != protocol::JidError::kOk) return std::string(jid);
  return parsed.str();
}

}  // namespace

void IqTracker::set_own_jid(std::string own_full) {
  own_full_ = canonical(own_full);
  protocol::Jid parsed;
  own_bare_ = protocol::Jid::parse(own_full_, parsed) == protocol::JidError::kOk
                  ? parsed.bare().str()
                  : own_full_;
}

void IqTracker::add(std::string id, std::string to, std::uint64_t deadline_ms,
                    IqCallback callback) {
  pending_[std::move(id)] = Pending{canonical(to), deadline_ms, std::move(callback)};
}

bool IqTracker::sender_matches(const Pending& p, std::string_view from) const {
  const std::string sender = from.empty() ? std::string() : canonical(from);
  if (p.to.empty() || p.to == own_bare_) {
    // RFC 6120 §8.1.2.1 and §10.3.3: the account answers for itself, with
    // or without a 'from'.
    return sender.empty() || sender == own_bare_ || sender == own_full_;
  }
  return sender == p.to;
}

bool IqTracker::on_reply(const protocol::Element& iq) {
  auto it = pending_.find(std::string(iq.attr_or("id")));
  if (it == pending_.end() || !sender_matches(it->second, iq.attr_or("from"))) return false;
  IqCallback callback = std::move(it->second.callback);
  pending_.erase(it);
  callback(&iq);
  return true;
}

void IqTracker::expire(std::uint64_t now_ms) {
  std::vector<IqCallback> due;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline_ms <= now_ms) {
      due.push_back(std::move(it->second.callback));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& callback : due) callback(nullptr);
}

void IqTracker::fail_all() {
  std::unordered_map<std::string, Pending> all;
  all.swap(pending_);
  for (auto& [id, p] : all) p.callback(nullptr);
}

}  // namespace xd::client
