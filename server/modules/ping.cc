#include "server/modules/modules.h"

namespace xd::server {

namespace {
constexpr std::string_view kPingNs = "urn:xmpp:ping";
}  // namespace

void install_ping(ModuleRegistry& modules, Router& router) {
  modules.advertise(std::string(kPingNs));
  auto pong = [&router](const IqRequest& r) { router.reply_result(r); };
  // XEP-0199 §4.2 (client to server) and §4.3 (to an account's bare JID,
  // answered by the server on its behalf).
  modules.on_iq(iq_event_key("get", "host", kPingNs, "ping"), pong);
  modules.on_iq(iq_event_key("get", "bare", kPingNs, "ping"), pong);
}

}  // namespace xd::server
