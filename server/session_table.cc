#include "server/session_table.h"

#include <algorithm>

namespace xd::server {
namespace {
const std::vector<Session*> kNone;
}  // namespace

Session* SessionTable::add(Session* session) {
  auto& list = by_bare_[session->jid().bare_str()];
  for (Session* s : list) {
    if (s->jid().resource() == session->jid().resource()) return s;
  }
  list.push_back(session);
  ++total_;
  if (observer_) observer_(session->jid().local());
  return nullptr;
}

void SessionTable::remove(Session* session) {
  auto it = by_bare_.find(session->jid().bare_str());
  if (it == by_bare_.end()) return;
  auto& list = it->second;
  auto pos = std::find(list.begin(), list.end(), session);
  if (pos == list.end()) return;
  list.erase(pos);
  --total_;
  if (list.empty()) by_bare_.erase(it);
  if (observer_) observer_(session->jid().local());
}

Session* SessionTable::find(const protocol::Jid& full) const {
  for (Session* s : resources(full)) {
    if (s->jid().resource() == full.resource()) return s;
  }
  return nullptr;
}

const std::vector<Session*>& SessionTable::resources(const protocol::Jid& bare) const {
  auto it = by_bare_.find(bare.bare_str());
  return it == by_bare_.end() ? kNone : it->second;
}

}  // namespace xd::server
