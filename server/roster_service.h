// The roster (RFC 6121 §2) and the server side of the subscription state
// machine (RFC 6121 §3): stored items, roster pushes to interested
// resources, and the state changes each subscription stanza causes. Used by
// the jabber:iq:roster module and by the presence manager. Single-threaded;
// storage is synchronous (LMDB or memory).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/jid/jid.h"
#include "protocol/xml/element.h"
#include "server/router.h"
#include "server/storage/roster_store.h"

namespace xd::server {

inline constexpr std::string_view kRosterNs = "jabber:iq:roster";

class RosterService {
 public:
  RosterService(RosterStore& store, Router& router, std::function<std::string()> make_id)
      : store_(store), router_(router), make_id_(std::move(make_id)) {}

  // Registers jabber:iq:roster get/set on the account's bare JID.
  void install(ModuleRegistry& modules);

  // Items of |user| that belong in the roster: a pending inbound request
  // alone does not create a roster item (RFC 6121 §3.1.3).
  std::vector<RosterItem> items(const std::string& user);
  bool find(const std::string& user, const std::string& contact, RosterItem& out);
  // Bare JIDs with an unanswered subscription request to |user|.
  std::vector<std::string> pending_requests(const std::string& user);

  // Subscription transitions (RFC 6121 §3.1-§3.3). |user| is a local
  // username, |contact| a bare JID string. Each stores the item and pushes
  // it when it changed; the return says whether the stanza should be routed
  // on (outbound) or delivered (inbound).
  bool outbound_subscribe(const std::string& user, const std::string& contact);
  bool outbound_subscribed(const std::string& user, const std::string& contact);
  bool outbound_unsubscribe(const std::string& user, const std::string& contact);
  bool outbound_unsubscribed(const std::string& user, const std::string& contact);
  enum class Inbound { kDeliver, kAutoReplySubscribed, kDrop };
  Inbound inbound_subscribe(const std::string& user, const std::string& contact);
  bool inbound_subscribed(const std::string& user, const std::string& contact);
  bool inbound_unsubscribe(const std::string& user, const std::string& contact);
  bool inbound_unsubscribed(const std::string& user, const std::string& contact);

  // Sends a roster push for |item| to every interested resource of |user|.
  void push(const std::string& user, const RosterItem& item);

 private:
  void handle_get(const IqRequest& request);
  void handle_set(const IqRequest& request);
  bool store(const std::string& user, const RosterItem& item);
  std::unique_ptr<protocol::Element> item_element(const RosterItem& item) const;

  RosterStore& store_;
  Router& router_;
  std::function<std::string()> make_id_;
};

bool has_to(RosterItem::Subscription s);
bool has_from(RosterItem::Subscription s);

}  // namespace xd::server
