#include "protocol/e2e/key_directory.h"

#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "protocol/name_table.h"
#include "protocol/sasl/base64.h"

namespace xd::protocol::e2e {
namespace {

constexpr std::string_view kNs = kKeyDirectoryNs;
constexpr std::uint32_t kMaxPreKeyId = 0xFFFFFFFFu;

struct ErrorEntry {
  std::string_view name;
  std::string_view message;
};

constexpr ErrorEntry kErrors[] = {
#define XD_X(e, n, m) {n, m},
    XD_KEY_DIR_ERRORS(XD_X)
#undef XD_X
};

// Decimal without sign or leading zero (spec/e2e-keys.md §2.3): exactly one
// spelling per number, like the strict base64, so nothing downstream has
// to compare two spellings of one id. "0" is the only number that may
// start with 0, and only when |min| allows it.
bool parse_decimal(std::string_view text, std::uint64_t min, std::uint64_t max,
                   std::uint64_t& out) {
  if (text.empty() || text.size() > 10) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v < min || v > max) return false;
  out = v;
  return true;
}

bool parse_u32_attr(const Element& e, std::string_view name, std::uint32_t min, std::uint32_t max,
                    std::uint32_t& out) {
  const std::string* text = e.attr(name);
  std::uint64_t v = 0;
  if (text == nullptr || !parse_decimal(*text, min, max, v)) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

template <std::size_t N>
std::string b64(const std::array<std::uint8_t, N>& bytes) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Strict base64 of exactly N octets (spec/e2e-keys.md §2.3).
template <std::size_t N>
bool unb64(std::string_view text, std::array<std::uint8_t, N>& out) {
  // Longer text cannot decode to N octets; refusing it first bounds the
  // allocation by the limit, not by the stanza.
  if (text.size() != (N + 2) / 3 * 4) return false;
  std::optional<std::string> bytes = base64_decode(text);
  if (!bytes || bytes->size() != N) return false;
  std::memcpy(out.data(), bytes->data(), N);
  return true;
}

std::string dec(std::uint64_t v) { return std::to_string(v); }

// The only child element named |name| in kNs; null when there is none or
// more than one (|twice| then set).
const Element* only_child(const Element& parent, std::string_view name, bool& twice) {
  const Element* found = nullptr;
  for (const Node& n : parent.children()) {
    if (!n.element || !n.element->is(name, kNs)) continue;
    if (found != nullptr) {
      twice = true;
      return nullptr;
    }
    found = n.element.get();
  }
  return found;
}

// The parts of a bundle shared by publish and a claim result: device,
// identity, signed prekey (spec/e2e-keys.md §3, §4). Does not check the
// signature.
struct BundleCore {
  std::uint32_t device = 0;
  Key32 identity{};
  std::uint32_t spk_id = 0;
  Key32 spk{};
  Sig64 sig{};
};

bool parse_core(const Element& bundle, BundleCore& out) {
  if (!bundle.is("bundle", kNs)) return false;
  if (!parse_u32_attr(bundle, "device", 1, kMaxDeviceId, out.device)) return false;
  bool twice = false;
  const Element* identity = only_child(bundle, "identity", twice);
  const Element* spk = only_child(bundle, "signed-prekey", twice);
  if (twice || identity == nullptr || spk == nullptr) return false;
  if (!unb64(identity->text(), out.identity)) return false;
  if (!parse_u32_attr(*spk, "id", 1, kMaxPreKeyId, out.spk_id)) return false;
  if (!unb64(spk->attr_or("signature"), out.sig)) return false;
  return unb64(spk->text(), out.spk);
}

void add_core(Element& bundle, std::uint32_t device, const Key32& identity, std::uint32_t spk_id,
              const Key32& spk, const Sig64& sig) {
  bundle.set_attr("device", dec(device));
  bundle.add_child(kNs, "identity").add_text(b64(identity));
  Element& s = bundle.add_child(kNs, "signed-prekey");
  s.set_attr("id", dec(spk_id));
  s.set_attr("signature", b64(sig));
  s.add_text(b64(spk));
}

// One <pk id='N'>B64</pk>.
bool parse_pk(const Element& pk, std::uint32_t& id, Key32& key) {
  return parse_u32_attr(pk, "id", 1, kMaxPreKeyId, id) && unb64(pk.text(), key);
}

void add_pk(Element& parent, std::uint32_t id, const Key32& key) {
  Element& pk = parent.add_child(kNs, "pk");
  pk.set_attr("id", dec(id));
  pk.add_text(b64(key));
}

}  // namespace

std::string_view key_dir_error_name(KeyDirError error) {
  if (error == KeyDirError::kOk) return "ok";
  const ErrorEntry* e = name_table_entry(kErrors, error);
  return e ? e->name : "unknown";
}

std::string_view key_dir_error_message(KeyDirError error) {
  if (error == KeyDirError::kOk) return "no error";
  const ErrorEntry* e = name_table_entry(kErrors, error);
  return e ? e->message : "unknown error";
}

bool parse_key_dir_id(std::string_view text, std::uint32_t max, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (!parse_decimal(text, 1, max, v)) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

// ---- Publish --------------------------------------------------------------

std::unique_ptr<Element> build_publish(const DeviceKeys& keys) {
  auto bundle = std::make_unique<Element>(kNs, "bundle");
  add_core(*bundle, keys.device, keys.identity_key, keys.signed_prekey_id, keys.signed_prekey,
           keys.signed_prekey_signature);
  Element& prekeys = bundle->add_child(kNs, "prekeys");
  for (const auto& [id, key] : keys.one_time_prekeys) add_pk(prekeys, id, key);
  return bundle;
}

KeyDirError parse_publish(const Element& bundle, DeviceKeys& out, std::size_t max_prekeys) {
  BundleCore core;
  if (!parse_core(bundle, core)) return KeyDirError::kMalformed;
  bool twice = false;
  const Element* prekeys = only_child(bundle, "prekeys", twice);
  if (twice) return KeyDirError::kMalformed;
  std::vector<std::pair<std::uint32_t, Key32>> pks;
  if (prekeys != nullptr) {
    // Counted before anything is decoded: the cap bounds the work
    // (spec/e2e-keys.md §8).
    std::size_t count = 0;
    for (const Node& n : prekeys->children()) {
      if (n.element && n.element->is("pk", kNs)) ++count;
    }
    if (count > max_prekeys) return KeyDirError::kTooMany;
    pks.reserve(count);
    std::set<std::uint32_t> seen;
    for (const Node& n : prekeys->children()) {
      if (!n.element || !n.element->is("pk", kNs)) continue;
      std::uint32_t id = 0;
      Key32 key{};
      // spec/e2e-keys.md §3.2: an id twice in one publish is malformed.
      if (!parse_pk(*n.element, id, key) || !seen.insert(id).second) {
        return KeyDirError::kMalformed;
      }
      pks.emplace_back(id, key);
    }
  }
  if (!verify_signed_prekey(core.identity, core.spk, core.sig)) return KeyDirError::kBadSignature;
  out.device = core.device;
  out.identity_key = core.identity;
  out.signed_prekey_id = core.spk_id;
  out.signed_prekey = core.spk;
  out.signed_prekey_signature = core.sig;
  out.one_time_prekeys = std::move(pks);
  return KeyDirError::kOk;
}

std::unique_ptr<Element> build_publish_result(std::uint32_t device, std::uint32_t prekeys) {
  auto bundle = std::make_unique<Element>(kNs, "bundle");
  bundle->set_attr("device", dec(device));
  bundle->set_attr("prekeys", dec(prekeys));
  return bundle;
}

KeyDirError parse_publish_result(const Element& bundle, std::uint32_t& device,
                                 std::uint32_t& prekeys) {
  std::uint32_t d = 0;
  std::uint32_t n = 0;
  if (!bundle.is("bundle", kNs) || !parse_u32_attr(bundle, "device", 1, kMaxDeviceId, d) ||
      !parse_u32_attr(bundle, "prekeys", 0, kMaxPreKeyId, n)) {
    return KeyDirError::kMalformed;
  }
  device = d;
  prekeys = n;
  return KeyDirError::kOk;
}

// ---- Claim ----------------------------------------------------------------

std::unique_ptr<Element> build_claim(std::optional<std::uint32_t> device) {
  auto claim = std::make_unique<Element>(kNs, "claim");
  if (device) claim->set_attr("device", dec(*device));
  return claim;
}

KeyDirError parse_claim(const Element& claim, std::optional<std::uint32_t>& device) {
  if (!claim.is("claim", kNs)) return KeyDirError::kMalformed;
  if (claim.attr("device") == nullptr) {
    device.reset();
    return KeyDirError::kOk;
  }
  std::uint32_t d = 0;
  if (!parse_u32_attr(claim, "device", 1, kMaxDeviceId, d)) return KeyDirError::kMalformed;
  device = d;
  return KeyDirError::kOk;
}

std::unique_ptr<Element> build_claim_result(const std::vector<PreKeyBundle>& bundles) {
  auto claim = std::make_unique<Element>(kNs, "claim");
  for (const PreKeyBundle& b : bundles) {
    Element& bundle = claim->add_child(kNs, "bundle");
    add_core(bundle, b.device, b.identity_key, b.signed_prekey_id, b.signed_prekey,
             b.signed_prekey_signature);
    if (b.has_one_time_prekey) add_pk(bundle, b.one_time_prekey_id, b.one_time_prekey);
  }
  return claim;
}

KeyDirError parse_claim_result(const Element& claim, std::vector<PreKeyBundle>& out) {
  out.clear();
  if (!claim.is("claim", kNs)) return KeyDirError::kMalformed;
  std::size_t count = 0;
  for (const Node& n : claim.children()) {
    if (n.element && n.element->is("bundle", kNs)) ++count;
  }
  if (count > kMaxResultDevices) return KeyDirError::kTooMany;
  std::vector<PreKeyBundle> bundles;
  bundles.reserve(count);
  std::set<std::uint32_t> seen;
  bool bad_signature = false;
  for (const Node& n : claim.children()) {
    if (!n.element || !n.element->is("bundle", kNs)) continue;
    const Element& e = *n.element;
    BundleCore core;
    if (!parse_core(e, core) || !seen.insert(core.device).second) return KeyDirError::kMalformed;
    PreKeyBundle b;
    b.device = core.device;
    b.identity_key = core.identity;
    b.signed_prekey_id = core.spk_id;
    b.signed_prekey = core.spk;
    b.signed_prekey_signature = core.sig;
    bool twice = false;
    // spec/e2e-keys.md §4.2: at most one one-time prekey per bundle.
    if (const Element* pk = only_child(e, "pk", twice)) {
      if (!parse_pk(*pk, b.one_time_prekey_id, b.one_time_prekey)) return KeyDirError::kMalformed;
      b.has_one_time_prekey = true;
    }
    if (twice) return KeyDirError::kMalformed;
    // Structure first for every bundle, so a result that is both malformed
    // and badly signed reports kMalformed whatever the order.
    if (!verify_signed_prekey(b.identity_key, b.signed_prekey, b.signed_prekey_signature)) {
      bad_signature = true;
    }
    bundles.push_back(b);
  }
  if (bad_signature) return KeyDirError::kBadSignature;
  out = std::move(bundles);
  return KeyDirError::kOk;
}

// ---- Devices --------------------------------------------------------------

std::unique_ptr<Element> build_devices() { return std::make_unique<Element>(kNs, "devices"); }

std::unique_ptr<Element> build_devices_result(const std::vector<DeviceEntry>& devices) {
  auto list = std::make_unique<Element>(kNs, "devices");
  for (const DeviceEntry& d : devices) {
    Element& e = list->add_child(kNs, "device");
    e.set_attr("id", dec(d.device));
    if (d.prekeys) e.set_attr("prekeys", dec(*d.prekeys));
  }
  return list;
}

KeyDirError parse_devices_result(const Element& devices, std::vector<DeviceEntry>& out) {
  out.clear();
  if (!devices.is("devices", kNs)) return KeyDirError::kMalformed;
  std::size_t count = 0;
  for (const Node& n : devices.children()) {
    if (n.element && n.element->is("device", kNs)) ++count;
  }
  if (count > kMaxResultDevices) return KeyDirError::kTooMany;
  std::vector<DeviceEntry> entries;
  entries.reserve(count);
  std::set<std::uint32_t> seen;
  for (const Node& n : devices.children()) {
    if (!n.element || !n.element->is("device", kNs)) continue;
    DeviceEntry d;
    if (!parse_u32_attr(*n.element, "id", 1, kMaxDeviceId, d.device) ||
        !seen.insert(d.device).second) {
      return KeyDirError::kMalformed;
    }
    if (n.element->attr("prekeys") != nullptr) {
      std::uint32_t c = 0;
      if (!parse_u32_attr(*n.element, "prekeys", 0, kMaxPreKeyId, c)) {
        return KeyDirError::kMalformed;
      }
      d.prekeys = c;
    }
    entries.push_back(d);
  }
  out = std::move(entries);
  return KeyDirError::kOk;
}

// ---- Retract --------------------------------------------------------------

std::unique_ptr<Element> build_retract(std::uint32_t device) {
  auto retract = std::make_unique<Element>(kNs, "retract");
  retract->set_attr("device", dec(device));
  return retract;
}

KeyDirError parse_retract(const Element& retract, std::uint32_t& device) {
  std::uint32_t d = 0;
  if (!retract.is("retract", kNs) || !parse_u32_attr(retract, "device", 1, kMaxDeviceId, d)) {
    return KeyDirError::kMalformed;
  }
  device = d;
  return KeyDirError::kOk;
}

}  // namespace xd::protocol::e2e
