// The small built-in feature modules. Each registers its IQ handlers by
// event key and advertises its disco feature (conventions.md §9); none of
// them keeps state of its own beyond what it is given here.
#pragma once

#include <functional>
#include <string>

#include "server/module_registry.h"
#include "server/router.h"
#include "server/storage/account_store.h"
#include "server/storage/key_store.h"
#include "server/storage/message_store.h"

namespace xd::server {

// XEP-0030 service discovery: disco#info (identity server/im and every
// advertised feature) and an empty disco#items, on the server's domain.
void install_disco(ModuleRegistry& modules, Router& router);

// XEP-0199: answers pings to the server and to a user's bare JID.
void install_ping(ModuleRegistry& modules, Router& router);

// XEP-0092: software version of the server.
void install_version(ModuleRegistry& modules, Router& router);

// XEP-0280 message carbons: enable/disable per resource; the router makes
// the copies.
void install_carbons(ModuleRegistry& modules, Router& router);

// XEP-0077 after authentication: password change and account removal by
// the account itself. |random_bytes| draws salts; |on_removed| lets the
// server end the account's sessions.
void install_account(ModuleRegistry& modules, Router& router, AccountStore& accounts,
                     std::function<void(uint8_t*, size_t)> random_bytes,
                     std::function<void(const protocol::Jid&)> on_removed);

// XEP-0357 push: enable/disable of app-server nodes by the account
// itself, kept in |store|; PushNotifier sends the notifications.
void install_push(ModuleRegistry& modules, Router& router, MessageStore& store);

// The end-to-end key directory (spec/e2e-keys.md, urn:xmppd:e2e:1):
// publish and retract by the account itself, devices and claims by any
// authenticated local user about any local account, kept in |keys| (which
// must outlive the registry) under |limits|.
void install_e2e_keys(ModuleRegistry& modules, Router& router, KeyStore& keys,
                      const KeyStoreLimits& limits);

}  // namespace xd::server
