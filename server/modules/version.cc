#include "server/modules/modules.h"

namespace xd::server {

namespace {
constexpr std::string_view kVersionNs = "jabber:iq:version";
}  // namespace

void install_version(ModuleRegistry& modules, Router& router) {
  modules.advertise(std::string(kVersionNs));
  modules.on_iq(iq_event_key("get", "host", kVersionNs, "query"), [&router](const IqRequest& r) {
    auto reply = std::make_unique<protocol::Element>("jabber:client", "iq");
    auto& query = reply->add_child(kVersionNs, "query");
    query.add_child(kVersionNs, "name").add_text("xmppd");
    query.add_child(kVersionNs, "version").add_text("0.1.0");
    // XEP-0092 §3: <os/> is optional; we leave it out rather than tell
    // strangers which kernel we run.
    router.reply(r, std::move(reply));
  });
}

}  // namespace xd::server
