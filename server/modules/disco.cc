#include "server/modules/modules.h"

namespace xd::server {

namespace {
constexpr std::string_view kInfoNs = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kItemsNs = "http://jabber.org/protocol/disco#items";
}  // namespace

void install_disco(ModuleRegistry& modules, Router& router) {
  modules.advertise(std::string(kInfoNs));
  modules.advertise(std::string(kItemsNs));
  modules.on_iq(iq_event_key("get", "host", kInfoNs, "query"),
                [&modules, &router](const IqRequest& r) {
                  // XEP-0030 §3.1; a 'node' we do not know is item-not-found (§3.3).
                  if (r.payload.attr("node")) {
                    router.reply_error(r, protocol::StanzaCondition::kItemNotFound);
                    return;
                  }
                  auto reply = std::make_unique<protocol::Element>("jabber:client", "iq");
                  auto& query = reply->add_child(kInfoNs, "query");
                  auto& identity = query.add_child(kInfoNs, "identity");
                  identity.set_attr("category", "server");
                  identity.set_attr("type", "im");
                  identity.set_attr("name", "xmppd");
                  for (const std::string& f : modules.features()) {
                    query.add_child(kInfoNs, "feature").set_attr("var", f);
                  }
                  router.reply(r, std::move(reply));
                });
  modules.on_iq(iq_event_key("get", "host", kItemsNs, "query"), [&router](const IqRequest& r) {
    auto reply = std::make_unique<protocol::Element>("jabber:client", "iq");
    reply->add_child(kItemsNs, "query");
    router.reply(r, std::move(reply));
  });
}

}  // namespace xd::server
