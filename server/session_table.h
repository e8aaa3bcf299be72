// The local session table: bare JID -> the sessions bound for it on this
// node. An interface so that a cluster backend (NATS KV) can stand behind
// the same calls later. Never owns sessions; never does I/O.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/session.h"

namespace xd::server {

class SessionTable {
 public:
  // Adds |session| under its bound JID. Returns the session that already
  // holds the same full JID (the caller applies the conflict policy and
  // calls add again after removing it), or null when added.
  Session* add(Session* session);
  // Removes |session| if present.
  void remove(Session* session);
  // The session bound to exactly |full|, or null.
  Session* find(const protocol::Jid& full) const;
  // The sessions of the account |bare| (resources compared exactly), empty
  // when none. The reference is valid until the next add/remove.
  const std::vector<Session*>& resources(const protocol::Jid& bare) const;
  size_t count(const protocol::Jid& bare) const { return resources(bare).size(); }
  size_t total() const { return total_; }
  // Called with the account's localpart after every add or remove that
  // changed the table (the cluster directory follows it).
  void set_observer(std::function<void(const std::string& user)> observer) {
    observer_ = std::move(observer);
  }

 private:
  std::function<void(const std::string& user)> observer_;
  std::unordered_map<std::string, std::vector<Session*>> by_bare_;
  size_t total_ = 0;
};

}  // namespace xd::server
