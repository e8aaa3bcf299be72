// Where server features plug in: handlers registered by event key
// ("iq-get/host/urn:xmpp:ping:ping") and the disco features they advertise
// (conventions.md §9). The router dispatches to them and answers what no
// module claims with service-unavailable. Never does I/O itself.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/jid/jid.h"
#include "protocol/xml/element.h"

namespace xd::server {

class Session;

// One IQ get/set addressed to the server (target "host") or to an account's
// bare JID and handled by the server on its behalf (target "bare").
struct IqRequest {
  Session* origin;                   // the local sender's session, or null
  const protocol::Element& iq;       // 'from' stamped, 'to' normalised
  const protocol::Jid& from;         // the sender's full JID
  const protocol::Jid& to;           // the addressed entity
  const protocol::Element& payload;  // the single child element
};

using IqHandler = std::function<void(const IqRequest&)>;

// "iq-<get|set>/<host|bare>/<namespace>:<element>".
std::string iq_event_key(std::string_view type, std::string_view target, std::string_view ns,
                         std::string_view name);

class ModuleRegistry {
 public:
  void on_iq(std::string key, IqHandler handler) { iq_[std::move(key)] = std::move(handler); }
  const IqHandler* find_iq(const std::string& key) const {
    auto it = iq_.find(key);
    return it == iq_.end() ? nullptr : &it->second;
  }
  // A disco#info feature of the server (XEP-0030).
  void advertise(std::string feature) { features_.push_back(std::move(feature)); }
  const std::vector<std::string>& features() const { return features_; }

 private:
  std::unordered_map<std::string, IqHandler> iq_;
  std::vector<std::string> features_;
};

}  // namespace xd::server
