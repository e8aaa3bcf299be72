// XEP-0357 push notifications, sent by the server on behalf of an account
// to the app servers the account registered: when a message is stored and
// no connected session took it, and when stanzas stay unacknowledged on a
// session for too long (a half-dead mobile connection). Notifications are
// summaries (message count, last sender; the body only when configured),
// coalesced and rate-limited per account: the first goes out at once, later
// ones at most once per interval, carrying the latest count. App servers
// are entities on this server (there are no server-to-server links), so a
// notification is an IQ routed to a local JID. Never blocks; one timer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/net_loop.h"
#include "net/timer.h"
#include "protocol/xml/element.h"
#include "server/storage/message_store.h"

namespace xd::server {

class Router;

struct PushOptions {
  uint64_t min_interval_ms = 10000;  // per account, between two notifications
  bool include_body = false;         // last-message-body field (privacy: off)
};

class PushNotifier {
 public:
  PushNotifier(net::NetLoop& loop, MessageStore& store, Router& router, PushOptions options);

  // |message| to the account |user| was stored and no connected session
  // took it. |sender| is the sender's full JID.
  void stored(const std::string& user, const protocol::Element& message, std::string_view sender);
  // Stanzas for |user| have waited for an acknowledgement too long.
  void stalled(const std::string& user);

  // Cancels coalesced notifications (shutdown), so the loop can end.
  void stop() { timer_.stop(); }

  // Notifications sent so far (logs, tests).
  uint64_t sent() const { return sent_; }

 private:
  struct Account {
    uint64_t last_sent_ms = 0;
    bool dirty = false;
    std::string last_sender;
    std::string last_body;
  };
  void want(const std::string& user, std::string_view sender, std::string_view body);
  void send(const std::string& user, Account& a);
  void on_timer();
  void arm();

  net::NetLoop& loop_;
  MessageStore& store_;
  Router& router_;
  PushOptions options_;
  std::unordered_map<std::string, Account> accounts_;
  net::Timer timer_;
  uint64_t sent_ = 0;
  uint64_t next_id_ = 0;
};

}  // namespace xd::server
