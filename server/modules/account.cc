#include "protocol/jid/precis.h"
#include "server/modules/modules.h"

namespace xd::server {

namespace {
constexpr std::string_view kRegisterNs = "jabber:iq:register";
}  // namespace

void install_account(ModuleRegistry& modules, Router& router, AccountStore& accounts,
                     std::function<void(uint8_t*, size_t)> random_bytes,
                     std::function<void(const protocol::Jid&)> on_removed) {
  auto handler = [&router, &accounts, random_bytes, on_removed](const IqRequest& r) {
    // Only the account itself, on its own server or bare JID.
    if (r.to.has_local() && r.to != r.from.bare()) {
      router.reply_error(r, protocol::StanzaCondition::kForbidden);
      return;
    }
    const std::string& user = r.from.local();
    if (r.payload.child("remove", kRegisterNs)) {
      // XEP-0077 §3.2: result first, then the sessions end.
      if (accounts.remove(user) != StorageError::kOk) {
        router.reply_error(r, protocol::StanzaCondition::kInternalServerError);
        return;
      }
      router.reply_result(r);
      on_removed(r.from.bare());
      return;
    }
    const protocol::Element* username = r.payload.child("username", kRegisterNs);
    const protocol::Element* password = r.payload.child("password", kRegisterNs);
    if (!username || !password) {
      router.reply_error(r, protocol::StanzaCondition::kBadRequest);
      return;
    }
    // XEP-0077 §3.3: the username must be the account's own.
    std::string enforced;
    if (protocol::username_case_mapped(username->text(), enforced) != protocol::PrecisError::kOk ||
        enforced != user) {
      router.reply_error(r, protocol::StanzaCondition::kNotAuthorized);
      return;
    }
    StoredAccount account;
    StorageError made = make_account(user, password->text(), random_bytes, account);
    if (made != StorageError::kOk) {
      router.reply_error(r, protocol::StanzaCondition::kNotAcceptable);
      return;
    }
    if (accounts.update_credentials(account) != StorageError::kOk) {
      router.reply_error(r, protocol::StanzaCondition::kResourceConstraint);
      return;
    }
    router.reply_result(r);
  };
  modules.on_iq(iq_event_key("set", "host", kRegisterNs, "query"), handler);
  modules.on_iq(iq_event_key("set", "bare", kRegisterNs, "query"), handler);
}

}  // namespace xd::server
