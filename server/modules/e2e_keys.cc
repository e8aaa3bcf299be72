// The key directory module (spec/e2e-keys.md): publish, devices, claim and
// retract IQs in urn:xmppd:e2e:1, answered from a KeyStore. The XML is read
// and written by protocol/e2e/key_directory.h; this file decides who may do
// what and maps outcomes to stanza errors (spec/e2e-keys.md §7).
#include "protocol/e2e/key_directory.h"
#include "server/log.h"
#include "server/modules/modules.h"

namespace xd::server {

namespace {

namespace e2e = protocol::e2e;
using protocol::StanzaCondition;

constexpr std::string_view kNs = e2e::kKeyDirectoryNs;

// spec/e2e-keys.md §7: storage outcomes that are not answers about the
// request itself.
StanzaCondition storage_condition(StorageError e) {
  switch (e) {
    case StorageError::kFull:
      return StanzaCondition::kResourceConstraint;
    case StorageError::kInvalid:
      return StanzaCondition::kBadRequest;
    default:
      return StanzaCondition::kInternalServerError;
  }
}

void reply_with(Router& router, const IqRequest& r, std::unique_ptr<protocol::Element> payload) {
  auto iq = std::make_unique<protocol::Element>("jabber:client", "iq");
  iq->add_child(std::move(payload));
  router.reply(r, std::move(iq));
}

// Only the account itself publishes and retracts (spec/e2e-keys.md §3.1,
// §6): 'to' absent (the router fills in the sender's bare JID), the
// server, or the sender's own bare JID.
bool own_account(const IqRequest& r) { return !r.to.has_local() || r.to == r.from.bare(); }

}  // namespace

void install_e2e_keys(ModuleRegistry& modules, Router& router, KeyStore& keys,
                      const KeyStoreLimits& limits) {
  modules.advertise(std::string(kNs));

  // spec/e2e-keys.md §3.
  auto publish = [&router, &keys, limits](const IqRequest& r) {
    if (!own_account(r)) {
      router.reply_error(r, StanzaCondition::kForbidden);
      return;
    }
    e2e::DeviceKeys device;
    switch (e2e::parse_publish(r.payload, device, limits.max_prekeys_per_device)) {
      case e2e::KeyDirError::kOk:
        break;
      case e2e::KeyDirError::kTooMany:
        // More in one publish than a device may ever hold (§3.2, §8).
        router.reply_error(r, StanzaCondition::kResourceConstraint);
        return;
      default:
        router.reply_error(r, StanzaCondition::kBadRequest);
        return;
    }
    PublishOutcome outcome;
    StorageError e = keys.publish(r.from.local(), device, limits, outcome);
    if (e != StorageError::kOk) {
      if (e == StorageError::kCorrupt) {
        XD_WARN("e2e keys of %s device %u: unreadable record", r.from.local().c_str(),
                device.device);
      }
      router.reply_error(r, storage_condition(e));
      return;
    }
    switch (outcome.result) {
      case PublishOutcome::Result::kStored:
        reply_with(
            router, r,
            e2e::build_publish_result(device.device, static_cast<std::uint32_t>(outcome.prekeys)));
        return;
      case PublishOutcome::Result::kIdentityConflict:
      case PublishOutcome::Result::kPreKeyConflict:
        router.reply_error(r, StanzaCondition::kConflict);
        return;
      case PublishOutcome::Result::kTooManyDevices:
      case PublishOutcome::Result::kTooManyPreKeys:
        router.reply_error(r, StanzaCondition::kResourceConstraint);
        return;
    }
  };

  // spec/e2e-keys.md §5. The router has already refused an address whose
  // account does not exist; the check here covers an account removed by
  // another process while its sessions live (Router::account_exists), and
  // costs a read only when the account has no device.
  auto devices = [&router, &keys](const IqRequest& r) {
    const std::string& user = r.to.local();
    std::vector<DeviceSummary> list;
    StorageError e = keys.devices(user, list);
    if (e != StorageError::kOk && e != StorageError::kCorrupt) {
      router.reply_error(r, storage_condition(e));
      return;
    }
    if (e == StorageError::kCorrupt) XD_WARN("e2e keys of %s: unreadable record", user.c_str());
    if (list.empty() && !router.account_exists(user)) {
      router.reply_error(r, StanzaCondition::kItemNotFound);
      return;
    }
    // Prekey counts tell how often a user's devices were claimed: only the
    // account itself learns them (§5, §9.4).
    const bool self = r.to.bare() == r.from.bare();
    std::vector<e2e::DeviceEntry> entries;
    entries.reserve(list.size());
    for (const DeviceSummary& d : list) {
      e2e::DeviceEntry entry;
      entry.device = d.device;
      if (self) entry.prekeys = static_cast<std::uint32_t>(d.prekeys);
      entries.push_back(entry);
    }
    reply_with(router, r, e2e::build_devices_result(entries));
  };

  // spec/e2e-keys.md §4.
  auto claim = [&router, &keys](const IqRequest& r) {
    std::optional<std::uint32_t> device;
    if (e2e::parse_claim(r.payload, device) != e2e::KeyDirError::kOk) {
      router.reply_error(r, StanzaCondition::kBadRequest);
      return;
    }
    const std::string& user = r.to.local();
    std::vector<e2e::PreKeyBundle> bundles;
    StorageError e = keys.claim(user, device, bundles);
    if (e == StorageError::kNotFound) {
      router.reply_error(r, StanzaCondition::kItemNotFound);
      return;
    }
    if (e == StorageError::kCorrupt) {
      // The readable devices' prekeys are already gone from the store:
      // hand them out rather than waste them (key_store.h).
      XD_WARN("e2e keys of %s: unreadable record", user.c_str());
    } else if (e != StorageError::kOk) {
      router.reply_error(r, storage_condition(e));
      return;
    }
    if (bundles.empty() && !router.account_exists(user)) {
      router.reply_error(r, StanzaCondition::kItemNotFound);
      return;
    }
    reply_with(router, r, e2e::build_claim_result(bundles));
  };

  // spec/e2e-keys.md §6.
  auto retract = [&router, &keys](const IqRequest& r) {
    if (!own_account(r)) {
      router.reply_error(r, StanzaCondition::kForbidden);
      return;
    }
    std::uint32_t device = 0;
    if (e2e::parse_retract(r.payload, device) != e2e::KeyDirError::kOk) {
      router.reply_error(r, StanzaCondition::kBadRequest);
      return;
    }
    StorageError e = keys.retract(r.from.local(), device);
    if (e == StorageError::kNotFound) {
      router.reply_error(r, StanzaCondition::kItemNotFound);
      return;
    }
    if (e != StorageError::kOk) {
      router.reply_error(r, storage_condition(e));
      return;
    }
    router.reply_result(r);
  };

  for (std::string_view target : {"host", "bare"}) {
    modules.on_iq(iq_event_key("set", target, kNs, "bundle"), publish);
    modules.on_iq(iq_event_key("set", target, kNs, "retract"), retract);
  }
  // Devices and claims name the account asked about; one addressed to the
  // server names nobody and stays service-unavailable (the router's answer).
  modules.on_iq(iq_event_key("get", "bare", kNs, "devices"), devices);
  modules.on_iq(iq_event_key("set", "bare", kNs, "claim"), claim);
}

}  // namespace xd::server
