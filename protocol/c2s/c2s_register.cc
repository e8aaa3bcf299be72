#include "protocol/c2s/c2s_register.h"

#include <openssl/crypto.h>

#include <optional>
#include <string>

#include "protocol/c2s/c2s_features.h"
#include "protocol/c2s/c2s_stanza_filter.h"
#include "protocol/jid/jid.h"
#include "protocol/jid/precis.h"
#include "protocol/stanza_error.h"
#include "protocol/xml/element.h"

namespace xd::protocol {
namespace {

constexpr std::string_view kClientNs = "jabber:client";

// The address-free shell of |iq| that replies are built from: its 'id'
// only, so nothing the unauthenticated client claimed about
// addresses is echoed back.
std::unique_ptr<Element> shell(const Element& iq) {
  auto s = std::make_unique<Element>(kClientNs, "iq");
  if (const std::string* id = iq.attr("id")) s->set_attr("id", *id);
  return s;
}

std::unique_ptr<Element> error_reply(const Element& iq, StanzaCondition condition) {
  StanzaError error;
  error.condition = condition;
  return make_error_reply(*shell(iq), error);
}

std::unique_ptr<Element> result_reply(const Element& iq) {
  auto reply = shell(iq);
  reply->set_attr("type", "result");
  return reply;
}

}  // namespace

std::unique_ptr<Element> c2s_register_reply(const Element& iq, const C2sConfig& config,
                                            C2sHost& host) {
  const std::string_view type = iq.attr_or("type");
  if (type == "error") return nullptr;
  const Element* query = iq.child("query", kRegisterNs);
  if (!query || !c2s_iq_well_formed(iq) || (type != "get" && type != "set")) {
    return error_reply(iq, StanzaCondition::kBadRequest);
  }

  if (type == "get") {
    // XEP-0077 §3.1 Example 2: the fields the host requires.
    auto reply = result_reply(iq);
    Element& q = reply->add_child(kRegisterNs, "query");
    q.add_child(kRegisterNs, "instructions")
        .add_text("Choose a username and password to register with this server.");
    q.add_child(kRegisterNs, "username");
    q.add_child(kRegisterNs, "password");
    return reply;
  }

  // XEP-0077 §3.2: cancelling an account needs an authenticated stream.
  if (query->child("remove", kRegisterNs)) return error_reply(iq, StanzaCondition::kNotAllowed);

  const Element* username = query->child("username", kRegisterNs);
  const Element* password = query->child("password", kRegisterNs);
  // XEP-0077 §3.1: incomplete or unacceptable data is <not-acceptable/>.
  if (!username || !password) return error_reply(iq, StanzaCondition::kNotAcceptable);
  const std::string name = username->text();
  std::string secret = password->text();
  Jid jid;
  std::string prepared;
  // An empty |name| would make from_parts() succeed with no localpart.
  const bool acceptable = !name.empty() &&
                          Jid::from_parts(name, config.domain, {}, jid) == JidError::kOk &&
                          opaque_string(secret, prepared) == PrecisError::kOk;
  std::optional<StanzaCondition> refused;
  if (acceptable) refused = host.register_account(jid.local(), secret);
  // The password must not linger in freed memory.
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  if (!prepared.empty()) OPENSSL_cleanse(prepared.data(), prepared.size());
  if (!acceptable) return error_reply(iq, StanzaCondition::kNotAcceptable);
  if (refused) return error_reply(iq, *refused);
  return result_reply(iq);
}

}  // namespace xd::protocol
