// The wire forms of the per-device key directory (spec/e2e-keys.md): the
// <bundle/> a device publishes, the <claim/> and <devices/> requests and
// results, and <retract/>, in namespace urn:xmppd:e2e:1. Both the server
// (server/modules/e2e_keys.cc) and the client build and parse them here, so
// the two sides cannot disagree about the limits. Sans-I/O: it never reads a
// clock, never keeps state and never throws; a hostile element yields an
// error value, never a crash or an unbounded allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "protocol/e2e/e2e_keys.h"
#include "protocol/xml/element.h"

namespace xd::protocol::e2e {

// The namespace of every key directory element (spec/e2e-keys.md §2.3):
// the end-to-end namespace.
inline constexpr std::string_view kKeyDirectoryNs = kE2eNs;

// Identifier ranges (spec/e2e-keys.md §2.3).
// Default cap on the one-time prekeys of one publish (spec/e2e-keys.md §8).
inline constexpr std::size_t kMaxPublishPreKeys = 100;
// The most bundles a claim result, and devices a devices result, may list
// (spec/e2e-keys.md §8). The server's device cap is bounded by it, so a
// conforming server never sends more.
inline constexpr std::size_t kMaxResultDevices = 64;

// X(enumerator, name, message). Failures occupy the reserved range
// [860, 879]; kOk is 0. None is fatal: each is an answer about one element
// (the server maps all of them to <bad-request/> except kTooMany, which is
// <resource-constraint/> on publish; spec/e2e-keys.md §7).
#define XD_KEY_DIR_ERRORS(X)                                                                    \
  X(kMalformed, "malformed",                                                                    \
    "the element is not a well-formed key directory element (ids, base64, lengths, structure)") \
  X(kTooMany, "too-many", "more one-time prekeys, bundles or devices than the limit allows")    \
  X(kBadSignature, "bad-signature", "a signed prekey signature does not verify")

enum class KeyDirError : int {
  kOk = 0,
  kFirst_ = 859,
#define XD_X(e, n, m) e,
  XD_KEY_DIR_ERRORS(XD_X)
#undef XD_X
      kLast_,
};
static_assert(static_cast<int>(KeyDirError::kLast_) <= 880, "KeyDirError overflows [860, 879]");

// Stable lower-case name of |error| ("ok" for kOk, "unknown" outside the
// list); static storage.
std::string_view key_dir_error_name(KeyDirError error);
// One-line English description of |error| for logs and tests; static
// storage.
std::string_view key_dir_error_message(KeyDirError error);

// One device as a devices result lists it (spec/e2e-keys.md §5). The count
// of stored one-time prekeys is present only in an answer about the
// requester's own account.
struct DeviceEntry {
  std::uint32_t device = 0;
  std::optional<std::uint32_t> prekeys;
};

// ---- Publish (spec/e2e-keys.md §3) --------------------------------------

// The <bundle xmlns='urn:xmppd:e2e:1'/> payload publishing |keys|. The
// caller owns the result. |keys| is written as given; nothing is checked
// (parse_publish is the side that refuses).
std::unique_ptr<Element> build_publish(const DeviceKeys& keys);

// Reads a publish payload into |out|. kMalformed unless |bundle| is
// <bundle/> in kKeyDirectoryNs with a device id in 1..kMaxDeviceId, exactly
// one <identity/> and one <signed-prekey/> (id 1..2^32-1, a 64-octet
// signature, a 32-octet key), at most one <prekeys/> whose <pk/> children
// each have an id in 1..2^32-1 and a 32-octet key, no id twice; every key
// in strict base64 (protocol/sasl/base64.h). kTooMany when more than
// |max_prekeys| <pk/> are listed. kBadSignature when the signed prekey does
// not verify under the identity key (checked last, so a structurally bad
// element is kMalformed). Children in other namespaces are ignored. |out|
// is written only on kOk.
KeyDirError parse_publish(const Element& bundle, DeviceKeys& out,
                          std::size_t max_prekeys = kMaxPublishPreKeys);

// The publish result <bundle device='D' prekeys='N'/> (|prekeys| one-time
// prekeys are stored for |device| now), and its reader: kMalformed unless
// both attributes are valid decimal numbers (device 1..kMaxDeviceId).
std::unique_ptr<Element> build_publish_result(std::uint32_t device, std::uint32_t prekeys);
KeyDirError parse_publish_result(const Element& bundle, std::uint32_t& device,
                                 std::uint32_t& prekeys);

// ---- Claim (spec/e2e-keys.md §4) ----------------------------------------

// The <claim/> request, limited to |device| when it is set.
std::unique_ptr<Element> build_claim(std::optional<std::uint32_t> device);
// Reads a <claim/> request: |device| is set from the optional 'device'
// attribute. kMalformed for an element that is not <claim/> in
// kKeyDirectoryNs or a device attribute outside 1..kMaxDeviceId.
KeyDirError parse_claim(const Element& claim, std::optional<std::uint32_t>& device);

// The <claim/> result listing |bundles| in order, each with its one-time
// prekey when has_one_time_prekey is set. The caller owns the result.
std::unique_ptr<Element> build_claim_result(const std::vector<PreKeyBundle>& bundles);

// Reads a claim result into |out| (replaced; cleared on any error).
// kTooMany for more than kMaxResultDevices bundles; kMalformed for any
// bundle that is not well formed as for parse_publish (with at most one
// <pk/> directly under <bundle/>) or repeats a device; kBadSignature when
// any bundle's signed prekey does not verify. One bad bundle refuses the
// whole result: only a broken or hostile server sends one, and the client
// must not build a session on what it said.
KeyDirError parse_claim_result(const Element& claim, std::vector<PreKeyBundle>& out);

// ---- Devices (spec/e2e-keys.md §5) --------------------------------------

// The empty <devices/> request.
std::unique_ptr<Element> build_devices();
// The <devices/> result: one <device id='D'/> per entry, with
// prekeys='N' when the entry has a count.
std::unique_ptr<Element> build_devices_result(const std::vector<DeviceEntry>& devices);
// Reads a devices result into |out| (replaced; cleared on any error).
// kTooMany beyond kMaxResultDevices entries; kMalformed for a bad or
// repeated id or a bad prekeys attribute.
KeyDirError parse_devices_result(const Element& devices, std::vector<DeviceEntry>& out);

// ---- Retract (spec/e2e-keys.md §6) --------------------------------------

// <retract device='D'/>, and its reader (kMalformed unless the element is
// <retract/> in kKeyDirectoryNs with a device in 1..kMaxDeviceId).
std::unique_ptr<Element> build_retract(std::uint32_t device);
KeyDirError parse_retract(const Element& retract, std::uint32_t& device);

// ---- Shared pieces ------------------------------------------------------

// A decimal id as the directory writes it: 1 to 10 ASCII digits without a
// sign or leading zero, at most |max|. False otherwise (0 is never an id).
bool parse_key_dir_id(std::string_view text, std::uint32_t max, std::uint32_t& out);

}  // namespace xd::protocol::e2e
