// Rosters (RFC 6121 §2): the stored item, the storage interface every
// backend implements, and the per-user version counter behind roster
// versioning (RFC 6121 §2.6). Storage keeps what the roster module decided;
// it never applies subscription rules, never sends pushes and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/storage/storage_error.h"

namespace xd::server {

// Longest contact we store, in octets: an enforced bare JID (RFC 7622 §3.2:
// localpart and domainpart of up to 1023 octets each, plus '@').
inline constexpr size_t kMaxContactBytes = 2047;

// One roster item (RFC 6121 §2.1.2).
struct RosterItem {
  // The subscription attribute (RFC 6121 §2.1.2.5). kRemove exists only
  // for roster pushes on the wire; it is never stored.
  enum class Subscription { kNone, kTo, kFrom, kBoth, kRemove };

  std::string jid;   // bare, normalised (Jid::bare_str of an enforced Jid)
  std::string name;  // the user's handle for the contact; empty = none
  Subscription subscription = Subscription::kNone;
  bool ask_subscribe = false;  // pending outbound request, ask='subscribe' (§2.1.2.2)
  bool pending_in = false;     // pending inbound subscription request (§3.1.3)
  std::vector<std::string> groups;
};

// The wire value of |s| ("none", "to", "from", "both", "remove"); static
// storage.
std::string_view roster_subscription_name(RosterItem::Subscription s);

// kOk when |contact| can be a storage key: 1..kMaxContactBytes octets
// without NUL or 0xFF (an enforced JID is UTF-8 without controls). kInvalid
// otherwise.
StorageError validate_contact(std::string_view contact);

// kOk when |item| may be stored for |user|: validate_username(|user|),
// validate_contact(|item.jid|) and a subscription other than kRemove.
// kInvalid otherwise. Every backend calls this, so all refuse the same items.
// Size limits on |name| and |groups| are the roster module's policy
// (RFC 6121 §2.3.3 <not-acceptable/>), not storage's.
StorageError validate_roster_item(std::string_view user, const RosterItem& item);

// Per-user rosters. Users are enforced localparts of local accounts; this
// store does not check that the account exists (AccountStore::remove clears
// the roster of a deleted account). Used from one thread at a time; never
// calls back. The caller owns every argument and output.
class RosterStore {
 public:
  virtual ~RosterStore() = default;

  // Replaces |out| with every item of |user|, in no promised order. A user
  // without items gets kOk and an empty |out|. kCorrupt if a record is
  // unreadable (|out| then holds the readable items).
  virtual StorageError get_all(std::string_view user, std::vector<RosterItem>& out) = 0;

  // Reads the item for |contact| into |out|. kNotFound if there is none.
  virtual StorageError get(std::string_view user, std::string_view contact, RosterItem& out) = 0;

  // Inserts or replaces the item keyed by |item.jid| and bumps the version
  // in the same transaction. kInvalid per validate_roster_item, kFull when
  // out of space (nothing changed), kIo on a failed commit (fatal).
  virtual StorageError put(std::string_view user, const RosterItem& item) = 0;

  // Deletes the item for |contact| and bumps the version. kNotFound (and no
  // bump) if there is none.
  virtual StorageError remove(std::string_view user, std::string_view contact) = 0;

  // The roster version of |user| (RFC 6121 §2.6): 0 until the first change,
  // then bumped by one on every put, remove and account removal. It never
  // goes back, so "ver" strings handed to clients stay unique per content.
  virtual StorageError version(std::string_view user, uint64_t& out) = 0;
};

}  // namespace xd::server
