#include "protocol/xml/serializer.h"
#include "server/modules/modules.h"
#include "server/session.h"

namespace xd::server {

namespace {

constexpr std::string_view kPushNs = "urn:xmpp:push:0";
constexpr std::string_view kDataNs = "jabber:x:data";
// A publish-options form larger than this is refused (it is stored and
// repeated in every notification).
constexpr size_t kMaxOptionsBytes = 4096;
constexpr size_t kMaxNodeBytes = 1024;

}  // namespace

void install_push(ModuleRegistry& modules, Router& router, MessageStore& store) {
  modules.advertise(std::string(kPushNs));
  // XEP-0357 §5: enabling, by the account itself, for one app server node.
  auto enable = [&router, &store](const IqRequest& r) {
    if (r.to.has_local() && r.to != r.from.bare()) {
      router.reply_error(r, protocol::StanzaCondition::kForbidden);
      return;
    }
    protocol::Jid app;
    const std::string_view node = r.payload.attr_or("node");
    if (protocol::Jid::parse(r.payload.attr_or("jid"), app) != protocol::JidError::kOk ||
        node.empty() || node.size() > kMaxNodeBytes) {
      router.reply_error(r, protocol::StanzaCondition::kBadRequest);
      return;
    }
    if (!router.is_local_domain(app) || !app.has_local()) {
      // Without server-to-server links only a local app server is
      // reachable; saying so now beats silently never notifying.
      router.reply_error(r, protocol::StanzaCondition::kRemoteServerNotFound);
      return;
    }
    PushRegistration reg;
    reg.jid = app.str();
    reg.node = std::string(node);
    if (const protocol::Element* form = r.payload.child("x", kDataNs)) {
      if (!protocol::serialize(*form, reg.options_xml, "jabber:client") ||
          reg.options_xml.size() > kMaxOptionsBytes) {
        router.reply_error(r, protocol::StanzaCondition::kNotAcceptable);
        return;
      }
    }
    const std::string& user = r.from.local();
    std::vector<PushRegistration> regs;
    if (store.get_push(user, regs) != StorageError::kOk) {
      router.reply_error(r, protocol::StanzaCondition::kInternalServerError);
      return;
    }
    std::erase_if(
        regs, [&](const PushRegistration& p) { return p.jid == reg.jid && p.node == reg.node; });
    if (regs.size() >= kMaxPushRegistrations) {
      router.reply_error(r, protocol::StanzaCondition::kResourceConstraint);
      return;
    }
    regs.push_back(std::move(reg));
    StorageError e = store.set_push(user, regs);
    if (e != StorageError::kOk) {
      router.reply_error(r, e == StorageError::kFull
                                ? protocol::StanzaCondition::kResourceConstraint
                                : protocol::StanzaCondition::kInternalServerError);
      return;
    }
    router.reply_result(r);
  };
  // XEP-0357 §6: disabling one node, or every node of an app server.
  auto disable = [&router, &store](const IqRequest& r) {
    if (r.to.has_local() && r.to != r.from.bare()) {
      router.reply_error(r, protocol::StanzaCondition::kForbidden);
      return;
    }
    protocol::Jid app;
    if (protocol::Jid::parse(r.payload.attr_or("jid"), app) != protocol::JidError::kOk) {
      router.reply_error(r, protocol::StanzaCondition::kBadRequest);
      return;
    }
    const std::string_view node = r.payload.attr_or("node");
    const std::string& user = r.from.local();
    std::vector<PushRegistration> regs;
    if (store.get_push(user, regs) != StorageError::kOk) {
      router.reply_error(r, protocol::StanzaCondition::kInternalServerError);
      return;
    }
    std::erase_if(regs, [&](const PushRegistration& p) {
      return p.jid == app.str() && (node.empty() || p.node == node);
    });
    if (store.set_push(user, regs) != StorageError::kOk) {
      router.reply_error(r, protocol::StanzaCondition::kInternalServerError);
      return;
    }
    router.reply_result(r);
  };
  for (std::string_view target : {"host", "bare"}) {
    modules.on_iq(iq_event_key("set", target, kPushNs, "enable"), enable);
    modules.on_iq(iq_event_key("set", target, kPushNs, "disable"), disable);
  }
}

}  // namespace xd::server
