#include "server/modules/modules.h"
#include "server/session.h"

namespace xd::server {

namespace {
constexpr std::string_view kCarbonsNs = "urn:xmpp:carbons:2";
}  // namespace

void install_carbons(ModuleRegistry& modules, Router& router) {
  modules.advertise(std::string(kCarbonsNs));
  // XEP-0280 §4: enable and disable are IQ sets to the server (or to the
  // account's own bare JID), per resource.
  auto toggle = [&router](bool on) {
    return [&router, on](const IqRequest& r) {
      if (r.to.has_local() && r.to != r.from.bare()) {
        router.reply_error(r, protocol::StanzaCondition::kForbidden);
        return;
      }
      if (!r.origin) {
        router.reply_error(r, protocol::StanzaCondition::kBadRequest);
        return;
      }
      r.origin->set_carbons(on);
      router.reply_result(r);
    };
  };
  for (std::string_view target : {"host", "bare"}) {
    modules.on_iq(iq_event_key("set", target, kCarbonsNs, "enable"), toggle(true));
    modules.on_iq(iq_event_key("set", target, kCarbonsNs, "disable"), toggle(false));
  }
}

}  // namespace xd::server
