// Routes stanzas between local sessions and server modules following
// RFC 6121 §8 (message, presence, iq to bare and full JIDs, resource
// priority) and RFC 6120 §8.3 (errors, never an error in answer to an
// error). 'from' has already been stamped by the c2s stream; the router
// trusts nothing else in the stanza. Single-threaded; never does I/O
// itself (sessions queue their output).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "protocol/jid/jid.h"
#include "protocol/stanza_error.h"
#include "protocol/xml/element.h"
#include "server/module_registry.h"
#include "server/send_limits.h"
#include "server/session_table.h"
#include "server/storage/account_store.h"

namespace xd::server {

class ClusterNode;
class DeliveryQueue;
class PresenceManager;
struct Metrics;

class Router {
 public:
  Router(const protocol::Jid& domain, AccountStore& accounts, SessionTable& sessions,
         ModuleRegistry& modules)
      : domain_(domain), accounts_(accounts), sessions_(sessions), modules_(modules) {}

  void set_presence_manager(PresenceManager* presence) { presence_ = presence; }
  // Storable messages go through |delivery| (spec/delivery.md); without
  // one they are delivered live only.
  void set_delivery(DeliveryQueue* delivery) { delivery_ = delivery; }
  // A cluster node (docs/cluster.md): accounts connected on other nodes are
  // reached through it. Null for a single node.
  void set_cluster(ClusterNode* cluster) { cluster_ = cluster; }
  ClusterNode* cluster() const { return cluster_; }
  // Sends |stanza| to the sessions of |to| on other cluster nodes (nothing
  // without a cluster).
  void forward_live(const protocol::Jid& to, const protocol::Element& stanza);
  // A stanza the node |from_node| forwarded for the local |to|: to the
  // local sessions only, as that node's router would have delivered it.
  void deliver_from_cluster(const protocol::Jid& to, const protocol::Element& stanza,
                            const std::string& from_node);
  // Counts the stanza errors bounce() generates into |metrics| (may be
  // null: nothing is counted).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }
  // Catalogue G51: the per-session send limits and the loop clock (ms) they
  // are measured with. Without a clock time stands still at 0.
  void set_send_limits(const SendLimits& limits, std::function<uint64_t()> clock) {
    limits_ = limits;
    clock_ = std::move(clock);
  }
  const SendLimits& send_limits() const { return limits_; }
  uint64_t now_ms() const { return clock_ ? clock_() : 0; }

  // RFC 6121 §8.5: the sessions a message of |type| to the local |to|
  // reaches now: the exact resource of a full JID if bound, otherwise the
  // available resources of highest non-negative priority (every
  // non-negative one for headline). Empty when none.
  std::vector<Session*> message_targets(const protocol::Jid& to, std::string_view type);
  // XEP-0280 §6: 'received' copies of |m| to the carbons-enabled resources
  // of |account| other than |skip|.
  void carbon_received(const protocol::Jid& account, const protocol::Element& m,
                       const std::vector<Session*>& skip) {
    send_carbons(account, m, "received", skip);
  }

  // A stanza from the bound local session |origin|: 'from' is origin's
  // full JID, 'to' (if any) is a normalised JID.
  void route_from_client(Session& origin, std::unique_ptr<protocol::Element> stanza);

  // A stanza the server itself sends to a local entity (roster pushes,
  // presence on behalf of a contact), on this node and, in a cluster, on
  // the others. Undeliverable ones are dropped.
  void deliver_to_local(const protocol::Jid& to, const protocol::Element& stanza);

  // Sends the error reply for |stanza| to |origin| (or routes it, when the
  // origin is gone), with |app_specific| (may be null) as the error's
  // application-specific child. Never answers an error with an error.
  void bounce(Session* origin, const protocol::Element& stanza, protocol::StanzaCondition condition,
              std::unique_ptr<protocol::Element> app_specific = nullptr);

  // Replies to an IQ: |reply| gets type/id/to/from set from |request|.
  void reply(const IqRequest& request, std::unique_ptr<protocol::Element> reply);
  // An empty type='result' reply.
  void reply_result(const IqRequest& request);
  void reply_error(const IqRequest& request, protocol::StanzaCondition condition);

  bool is_local_domain(const protocol::Jid& jid) const { return jid.domain() == domain_.domain(); }
  // True when the local account |username| (an enforced localpart) exists:
  // one read of the account store.
  bool account_exists(std::string_view username);
  // True when the account that the local address |to| names (its localpart;
  // any resource is ignored) exists, asked while routing a stanza from
  // |origin|. A bound session of that account answers without reading
  // storage: sessions bind only after authenticating against an existing
  // account, and removing an account through XEP-0077 kicks its sessions,
  // which leave the table before the next read is handled
  // (Server::kick_account; one already dropped for not reading leaves when
  // its close completes). The one session that can still route after that
  // is the remover's own, for stanzas it pipelined behind the removal, so
  // |origin|'s own account always takes the storage read. Positive answers
  // are not cached: an account can also be removed by another process
  // (`xmppd user del`, server/admin.h), which this process never hears
  // about; its live sessions then keep answering true until they end.
  bool account_exists(const protocol::Jid& to, const Session& origin);
  const protocol::Jid& domain() const { return domain_; }
  SessionTable& sessions() { return sessions_; }

 private:
  void route_message(Session& origin, const protocol::Jid& to,
                     std::unique_ptr<protocol::Element> m);
  void route_iq(Session& origin, const protocol::Jid& to, std::unique_ptr<protocol::Element> iq);
  // XEP-0280 §6: copies of an eligible chat message to the carbons-enabled
  // resources of |account| that did not get it themselves.
  void send_carbons(const protocol::Jid& account, const protocol::Element& m,
                    std::string_view direction, const std::vector<Session*>& skip);
  void dispatch_iq(Session& origin, const protocol::Jid& to, const protocol::Element& iq,
                   std::string_view target);

  protocol::Jid domain_;
  AccountStore& accounts_;
  SessionTable& sessions_;
  ModuleRegistry& modules_;
  PresenceManager* presence_ = nullptr;
  DeliveryQueue* delivery_ = nullptr;
  ClusterNode* cluster_ = nullptr;
  Metrics* metrics_ = nullptr;
  SendLimits limits_;
  std::function<uint64_t()> clock_;
};

}  // namespace xd::server
