#include "server/storage/roster_store.h"

#include "server/storage/account_store.h"

namespace xd::server {

std::string_view roster_subscription_name(RosterItem::Subscription s) {
  switch (s) {
    case RosterItem::Subscription::kNone:
      return "none";
    case RosterItem::Subscription::kTo:
      return "to";
    case RosterItem::Subscription::kFrom:
      return "from";
    case RosterItem::Subscription::kBoth:
      return "both";
    case RosterItem::Subscription::kRemove:
      return "remove";
  }
  return "none";
}

StorageError validate_contact(std::string_view contact) {
  if (contact.empty() || contact.size() > kMaxContactBytes) return StorageError::kInvalid;
  for (char c : contact) {
    if (c == '\0' || c == '\xff') return StorageError::kInvalid;
  }
  return StorageError::kOk;
}

StorageError validate_roster_item(std::string_view user, const RosterItem& item) {
  if (validate_username(user) != StorageError::kOk ||
      validate_contact(item.jid) != StorageError::kOk) {
    return StorageError::kInvalid;
  }
  switch (item.subscription) {
    case RosterItem::Subscription::kNone:
    case RosterItem::Subscription::kTo:
    case RosterItem::Subscription::kFrom:
    case RosterItem::Subscription::kBoth:
      return StorageError::kOk;
    case RosterItem::Subscription::kRemove:
      break;
  }
  return StorageError::kInvalid;
}

}  // namespace xd::server
