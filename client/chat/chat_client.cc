#include "client/chat/chat_client.h"

#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <utility>

#include "protocol/e2e/envelope.h"
#include "protocol/e2e/key_directory.h"
#include "protocol/jid/jid.h"
#include "protocol/xml/serializer.h"

namespace xd::client {
namespace {

namespace e2e = protocol::e2e;
using protocol::Element;

constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kReceiptsNs = "urn:xmpp:receipts";       // XEP-0184
constexpr std::string_view kMarkersNs = "urn:xmpp:chat-markers:0";  // XEP-0333
constexpr std::string_view kCarbonsNs = "urn:xmpp:carbons:2";       // XEP-0280
constexpr std::string_view kForwardNs = "urn:xmpp:forward:0";       // XEP-0297
constexpr std::string_view kSidNs = "urn:xmpp:sid:0";               // XEP-0359
constexpr std::string_view kHintsNs = "urn:xmpp:hints";             // XEP-0334
constexpr std::string_view kCatchupNs = "urn:xmppd:catchup:0";      // spec/delivery.md §4
constexpr std::string_view kRosterNs = "jabber:iq:roster";
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
// What a client without end-to-end encryption shows (spec/e2e.md §8.1).
constexpr std::string_view kFallbackBody = "[This message is end-to-end encrypted]";

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The bare form of |jid| in canonical spelling, or empty when it is not a
// JID.
std::string bare_of(std::string_view jid) {
  protocol::Jid parsed;
  if (jid.empty() || protocol::Jid::parse(jid, parsed) != protocol::JidError::kOk) return {};
  return parsed.bare_str();
}

void add_hint_store(Element& m) { m.add_child(kHintsNs, "store"); }

std::string stanza_condition(const Element& m) {
  if (const Element* error = m.child("error", kClientNs)) {
    for (const protocol::Node& n : error->children()) {
      if (n.is_element() && n.element->ns() == kStanzasNs) return n.element->name();
    }
  }
  return "error";
}

}  // namespace

ChatClient::ChatClient(net::NetLoop& loop, const ChatConfig& config, ClientStore& store,
                       ChatObserver& observer)
    : loop_(&loop),
      config_(config),
      store_(&store),
      observer_(&observer),
      device_(store, e2e::system_random()) {}

ChatClient::~ChatClient() = default;

bool ChatClient::start(std::string& error) {
  if (!e2e::init()) {
    error = "libsodium cannot be initialised";
    return false;
  }
  const ClientStoreError e = device_.load_or_create(wall_ms());
  if (e != ClientStoreError::kOk) {
    error = "local store: " + std::string(client_store_error_message(e));
    return false;
  }
  timer_ = std::make_unique<net::Timer>(*loop_, [this] { tick(); });
  timer_->start_repeating(1000, 1000);
  session_ = std::make_unique<LoginSession>(*loop_, config_.session,
                                            static_cast<SessionObserver&>(*this), 0);
  if (!session_->start(error)) {
    timer_.reset();
    return false;
  }
  return true;
}

void ChatClient::tick() { iqs_.expire(loop_->now_ms()); }

std::string ChatClient::new_id() {
  // RFC 4122 §4.4 version-4 UUIDs: unguessable, and the compact dialect
  // packs them into 16 octets (spec/compact.md §5.6).
  std::uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

void ChatClient::write(std::string_view xml, const std::string& message_id) {
  if (!session_ || !session_->bound()) return;
  session_->send(xml);
  if (sm_) {
    ++sent_count_;
    unacked_.push_back(Unacked{sent_count_, message_id});
  }
}

void ChatClient::send_iq(Element& iq, std::string to, IqCallback callback) {
  const std::string id = new_id();
  iq.set_attr("id", id);
  if (!to.empty()) iq.set_attr("to", to);
  iqs_.add(id, std::move(to), loop_->now_ms() + config_.iq_timeout_s * 1000ull,
           std::move(callback));
  write(protocol::to_xml(iq, kClientNs));
}

// ---- Login --------------------------------------------------------------

void ChatClient::on_bound(LoginSession& session) {
  full_jid_ = session.jid();
  bare_jid_ = bare_of(full_jid_);
  iqs_.set_own_jid(full_jid_);
  // XEP-0198 first, so every stanza after it is counted (spec/delivery.md
  // §5): "sent" means the server's <a h/> covered it.
  sm_ = false;
  sent_count_ = 0;
  unacked_.clear();
  session.enable_sm(/*resume=*/true);
}

void ChatClient::on_sm_enabled(LoginSession& /*session*/, bool enabled) {
  sm_ = enabled;
  if (!enabled) observer_->on_notice("the server refused stream management: no delivery acks");
  ensure_published([this](bool /*ok*/) { finish_start(); });
}

void ChatClient::on_resumed(LoginSession& /*session*/, bool resumed, std::uint32_t h) {
  if (!resumed) return;  // on_bound() follows for a fresh stream
  on_sm_ack(*session_, h);
  // XEP-0198 §5: the server has what h covers; what it lacks is resent.
  // Only messages matter (they are in the outbox; the server removes
  // duplicates by origin-id); receipts and markers are cheap to lose.
  sm_ = true;
  sent_count_ = h;
  unacked_.clear();
  std::vector<StoredMessage> outbox;
  if (store_->outbox(outbox) == ClientStoreError::kOk) {
    for (const StoredMessage& m : outbox) {
      if (!m.wire.empty()) write(m.wire, m.origin_id);
    }
  }
  if (!unacked_.empty()) session_->request_ack();
}

void ChatClient::ensure_published(std::function<void(bool ok)> next) {
  // spec/e2e-keys.md §5: our own device list tells whether the server has
  // this device and how many one-time prekeys it still holds.
  std::unique_ptr<Element> iq = std::make_unique<Element>(kClientNs, "iq");
  iq->set_attr("type", "get");
  iq->add_child(e2e::build_devices());
  send_iq(*iq, bare_jid_, [this, next = std::move(next)](const Element* reply) {
    std::size_t have = 0;
    bool listed = false;
    if (reply != nullptr && reply->attr_or("type") == "result") {
      if (const Element* d = reply->child("devices", e2e::kKeyDirectoryNs)) {
        std::vector<e2e::DeviceEntry> devices;
        if (e2e::parse_devices_result(*d, devices) == e2e::KeyDirError::kOk) {
          for (const auto& entry : devices) {
            if (entry.device == device_.device_id()) {
              listed = true;
              have = entry.prekeys.value_or(0);
            }
          }
        }
      }
    }
    if (listed && have >= E2eDevice::kPrekeyLowWater) {
      next(true);
      return;
    }
    publish(E2eDevice::kPrekeyTarget - std::min(have, E2eDevice::kPrekeyTarget), std::move(next));
  });
}

void ChatClient::publish(std::size_t new_prekeys, std::function<void(bool ok)> next) {
  e2e::DeviceKeys keys;
  const ClientStoreError e = device_.publishable(new_prekeys, keys);
  if (e != ClientStoreError::kOk) {
    observer_->on_notice("cannot prepare keys: " + std::string(client_store_error_message(e)));
    next(false);
    return;
  }
  Element iq(kClientNs, "iq");
  iq.set_attr("type", "set");
  iq.add_child(e2e::build_publish(keys));
  send_iq(iq, {}, [this, new_prekeys, next = std::move(next)](const Element* reply) mutable {
    const bool ok = reply != nullptr && reply->attr_or("type") == "result";
    if (!ok && reply != nullptr && stanza_condition(*reply) == "resource-constraint" &&
        new_prekeys > 1) {
      // spec/e2e-keys.md §8: the server keeps fewer prekeys per device than
      // we offered; offer half as many (the unpublished ones stay unused).
      publish(new_prekeys / 2, std::move(next));
      return;
    }
    if (!ok) {
      observer_->on_notice(reply ? "the server refused our keys: " + stanza_condition(*reply)
                                 : std::string("publishing our keys timed out"));
    }
    next(ok);
  });
}

void ChatClient::finish_start() {
  // The outbox first: what a previous run queued goes out before anything
  // new, with its original ids (the server drops duplicates, spec/delivery.md
  // §2).
  std::vector<StoredMessage> outbox;
  if (store_->outbox(outbox) == ClientStoreError::kOk) {
    for (const StoredMessage& m : outbox) {
      if (!m.wire.empty()) write(m.wire, m.origin_id);
    }
  }
  if (config_.carbons) {
    Element iq(kClientNs, "iq");
    iq.set_attr("type", "set");
    iq.add_child(kCarbonsNs, "enable");
    send_iq(iq, {}, [this](const Element* reply) {
      if (reply == nullptr || reply->attr_or("type") != "result") {
        observer_->on_notice("the server refused carbons: other devices' messages not copied");
      }
    });
  }
  if (config_.available) write("<presence/>");
  if (sm_ && !unacked_.empty()) session_->request_ack();
  ready_ = true;
  observer_->on_ready();
  pump_sends();
}

// ---- Sending ------------------------------------------------------------

void ChatClient::send_text(const std::string& peer, const std::string& text, bool allow_plaintext,
                           SendDone done) {
  const std::string bare = bare_of(peer);
  if (bare.empty() || bare.find('@') == std::string::npos) {
    done({}, "'" + peer + "' is not a JID like bob@example.org");
    return;
  }
  if (text.empty()) {
    done({}, "empty message");
    return;
  }
  sending_.push_back(PendingText{bare, text, allow_plaintext, std::move(done)});
  pump_sends();
}

void ChatClient::pump_sends() {
  if (!ready_ || busy_ || sending_.empty() || closing_) return;
  busy_ = true;
  const std::string peer = sending_.front().peer;
  prepare_sessions(peer, [this] {
    PendingText pending = std::move(sending_.front());
    sending_.pop_front();
    encrypt_and_queue(std::move(pending));
    busy_ = false;
    pump_sends();
  });
}

void ChatClient::refresh_devices(const std::string& jid, std::function<void()> next) {
  if (refreshed_.count(jid) != 0) {
    next();
    return;
  }
  Element iq(kClientNs, "iq");
  iq.set_attr("type", "get");
  iq.add_child(e2e::build_devices());
  send_iq(iq, jid, [this, jid, next = std::move(next)](const Element* reply) {
    std::vector<std::uint32_t> ids;
    if (reply != nullptr && reply->attr_or("type") == "result") {
      if (const Element* d = reply->child("devices", e2e::kKeyDirectoryNs)) {
        std::vector<e2e::DeviceEntry> devices;
        if (e2e::parse_devices_result(*d, devices) == e2e::KeyDirError::kOk) {
          for (const auto& entry : devices) {
            if (!(jid == bare_jid_ && entry.device == device_.device_id())) {
              ids.push_back(entry.device);
            }
          }
        }
      }
      refreshed_.insert(jid);
    }
    devices_[jid] = ids;
    // Claim a bundle for each device we have no session with, one by one.
    std::vector<std::uint32_t> missing;
    for (std::uint32_t id : ids) {
      if (!device_.has_session(jid, id)) missing.push_back(id);
    }
    claim_each(jid, std::move(missing), next);
  });
}

void ChatClient::claim_each(const std::string& jid, std::vector<std::uint32_t> devices,
                            std::function<void()> next) {
  if (devices.empty()) {
    next();
    return;
  }
  const std::uint32_t device = devices.back();
  devices.pop_back();
  claim_and_start(jid, device,
                  [this, jid, devices = std::move(devices), next = std::move(next)]() mutable {
                    claim_each(jid, std::move(devices), std::move(next));
                  });
}

void ChatClient::prepare_sessions(const std::string& peer, std::function<void()> next) {
  refresh_devices(peer, [this, next = std::move(next)] { refresh_devices(bare_jid_, next); });
}

void ChatClient::claim_and_start(const std::string& jid, std::uint32_t device,
                                 std::function<void()> next) {
  Element iq(kClientNs, "iq");
  iq.set_attr("type", "set");
  iq.add_child(e2e::build_claim(device));
  send_iq(iq, jid, [this, jid, device, next = std::move(next)](const Element* reply) {
    std::vector<e2e::PreKeyBundle> bundles;
    const Element* claim = reply != nullptr && reply->attr_or("type") == "result"
                               ? reply->child("claim", e2e::kKeyDirectoryNs)
                               : nullptr;
    if (claim == nullptr || e2e::parse_claim_result(*claim, bundles) != e2e::KeyDirError::kOk) {
      observer_->on_notice("cannot get the keys of " + jid + " device " + std::to_string(device));
      next();
      return;
    }
    for (const auto& bundle : bundles) {
      if (bundle.device != device) continue;
      bool changed = false;
      const E2eDevice::StartResult r = device_.start_session(jid, bundle, wall_ms(), changed);
      if (r == E2eDevice::StartResult::kBadBundle) {
        observer_->on_notice("refused the keys of " + jid + " device " + std::to_string(device) +
                             ": the signature does not verify");
      } else if (changed) {
        observer_->on_notice(
            "the identity key of " + jid + " device " + std::to_string(device) +
            " changed; compare fingerprints: " + e2e::fingerprint(bundle.identity_key));
      }
    }
    next();
  });
}

void ChatClient::encrypt_and_queue(PendingText pending) {
  std::vector<DeviceAddress> targets;
  for (std::uint32_t d : devices_[pending.peer]) {
    if (device_.has_session(pending.peer, d)) targets.push_back({pending.peer, d});
  }
  const bool peer_has_keys = !targets.empty();
  if (pending.peer != bare_jid_) {
    for (std::uint32_t d : devices_[bare_jid_]) {
      if (device_.has_session(bare_jid_, d)) targets.push_back({bare_jid_, d});
    }
  }
  if (!peer_has_keys && !pending.allow_plaintext) {
    pending.done({}, pending.peer +
                         " has no end-to-end encryption keys (no device published any); send "
                         "with --plaintext to send it unencrypted");
    return;
  }
  const std::string id = new_id();
  Element m(kClientNs, "message");
  m.set_attr("type", "chat");
  m.set_attr("to", pending.peer);
  m.set_attr("id", id);
  std::string wire;
  ClientStoreError e = store_->transaction([&] {
    if (peer_has_keys) {
      e2e::EncryptedMessage encrypted;
      if (!device_.encrypt(targets, pending.text, encrypted)) return false;
      e2e::add_encrypted(m, encrypted);
      m.add_child(kClientNs, "body").add_text(kFallbackBody);
    } else {
      m.add_child(kClientNs, "body").add_text(pending.text);
    }
    m.add_child(kReceiptsNs, "request");
    m.add_child(kMarkersNs, "markable");
    m.add_child(kSidNs, "origin-id").set_attr("id", id);
    add_hint_store(m);
    wire = protocol::to_xml(m, kClientNs);
    return store_->add_outgoing(pending.peer, id, pending.text, peer_has_keys, wire, wall_ms()) ==
           ClientStoreError::kOk;
  });
  if (e != ClientStoreError::kOk) {
    pending.done({}, "cannot queue the message: " + std::string(client_store_error_message(e)));
    return;
  }
  write(wire, id);
  if (sm_) session_->request_ack();
  pending.done(id, {});
  report_state(pending.peer, id);
}

void ChatClient::when_acknowledged(std::function<void()> fn) {
  ack_waiters_.push_back(std::move(fn));
  if (sm_ && session_ && !unacked_.empty()) session_->request_ack();
  run_ack_waiters();
}

void ChatClient::run_ack_waiters() {
  if (!all_acknowledged() || ack_waiters_.empty()) return;
  std::vector<std::function<void()>> waiters;
  waiters.swap(ack_waiters_);
  for (auto& fn : waiters) fn();
}

void ChatClient::report_state(const std::string& peer, const std::string& id) {
  StoredMessage m;
  if (store_->find(id, m, peer) == ClientStoreError::kOk) observer_->on_state(m);
}

void ChatClient::on_sm_ack(LoginSession& /*session*/, std::uint32_t h) {
  // XEP-0198 §4: everything up to h (mod 2^32) was handled: for xmppd,
  // committed to the recipient's queue or delivered (spec/delivery.md §1).
  while (!unacked_.empty() && static_cast<std::int32_t>(h - unacked_.front().seq) >= 0) {
    const std::string id = std::move(unacked_.front().message_id);
    unacked_.pop_front();
    if (id.empty()) continue;
    StoredMessage m;
    if (store_->find(id, m) != ClientStoreError::kOk || m.direction != MessageDirection::kOut)
      continue;
    bool changed = false;
    if (store_->mark_state(m.peer, id, MessageState::kSent, changed) == ClientStoreError::kOk &&
        changed) {
      report_state(m.peer, id);
    }
  }
  run_ack_waiters();
}

void ChatClient::mark_displayed(const std::string& peer, const std::string& id) {
  bool changed = false;
  if (store_->mark_state(peer, id, MessageState::kDisplayed, changed) != ClientStoreError::kOk ||
      !changed) {
    return;
  }
  // XEP-0333 §3: the marker goes to the sender; stored so an offline
  // sender learns it later.
  Element m(kClientNs, "message");
  m.set_attr("to", peer);
  m.set_attr("type", "chat");
  m.set_attr("id", new_id());
  m.add_child(kMarkersNs, "displayed").set_attr("id", id);
  add_hint_store(m);
  write(protocol::to_xml(m, kClientNs));
}

void ChatClient::send_receipt(const std::string& to, const std::string& id) {
  // XEP-0184 §5.
  Element m(kClientNs, "message");
  m.set_attr("to", to);
  m.set_attr("type", "chat");
  m.set_attr("id", new_id());
  m.add_child(kReceiptsNs, "received").set_attr("id", id);
  add_hint_store(m);
  write(protocol::to_xml(m, kClientNs));
}

// ---- Receiving ----------------------------------------------------------

void ChatClient::on_message(LoginSession& /*session*/, const Element& message) {
  const std::string_view type = message.attr_or("type", "normal");
  if (type == "error") {
    // A bounce of one of ours (RFC 6120 §8.3): the message failed.
    const std::string id(message.attr_or("id"));
    StoredMessage m;
    if (!id.empty() && store_->find(id, m) == ClientStoreError::kOk &&
        m.direction == MessageDirection::kOut) {
      bool changed = false;
      if (store_->mark_state(m.peer, id, MessageState::kFailed, changed,
                             stanza_condition(message)) == ClientStoreError::kOk &&
          changed) {
        report_state(m.peer, id);
      }
    }
    return;
  }
  if (const Element* c = message.child("catchup", kCatchupNs)) {
    // spec/delivery.md §4: only the server sends these.
    if (message.attr_or("from") == config_.session.domain && c->attr_or("state") == "done") {
      unsigned count = 0;
      std::sscanf(std::string(c->attr_or("count", "0")).c_str(), "%u", &count);
      observer_->on_caught_up(count);
    }
    return;
  }
  if (message.child("received", kCarbonsNs) || message.child("sent", kCarbonsNs)) {
    handle_carbon(message);
    return;
  }
  handle_incoming(message, /*carbon_sent=*/false, /*carbon=*/false);
}

void ChatClient::handle_carbon(const Element& message) {
  // XEP-0280 §11 (CVE-2017-5589): a carbon is genuine only from our own
  // bare JID; anything else is a forgery and is dropped unseen.
  const std::string from = bare_of(message.attr_or("from"));
  if (from != bare_jid_ || message.attr_or("from") != bare_jid_) {
    observer_->on_notice("ignored a forged carbon copy from " +
                         std::string(message.attr_or("from", "(nobody)")));
    return;
  }
  const bool sent = message.child("sent", kCarbonsNs) != nullptr;
  const Element* wrapper = message.child(sent ? "sent" : "received", kCarbonsNs);
  const Element* forwarded = wrapper ? wrapper->child("forwarded", kForwardNs) : nullptr;
  const Element* inner = forwarded ? forwarded->child("message", kClientNs) : nullptr;
  if (inner == nullptr) return;
  handle_incoming(*inner, sent, /*carbon=*/true);
}

void ChatClient::handle_incoming(const Element& message, bool carbon_sent, bool carbon) {
  const std::string from_full(message.attr_or("from"));
  const std::string peer = carbon_sent ? bare_of(message.attr_or("to")) : bare_of(from_full);
  if (peer.empty()) return;
  // Receipts and markers about our messages (XEP-0184, XEP-0333).
  auto advance = [&](std::string_view id, MessageState state) {
    bool changed = false;
    if (!id.empty() && store_->mark_state(peer, id, state, changed) == ClientStoreError::kOk &&
        changed) {
      report_state(peer, std::string(id));
    }
  };
  if (!carbon_sent) {
    if (const Element* r = message.child("received", kReceiptsNs)) {
      advance(r->attr_or("id"), MessageState::kDelivered);
    }
    if (const Element* r = message.child("received", kMarkersNs)) {
      advance(r->attr_or("id"), MessageState::kDelivered);
    }
    if (const Element* r = message.child("displayed", kMarkersNs)) {
      advance(r->attr_or("id"), MessageState::kRead);
    }
    std::string retry_id;
    std::uint32_t retry_device = 0;
    if (e2e::parse_retry(message, retry_id, retry_device)) {
      handle_retry(peer, retry_id, retry_device);
      return;
    }
  }
  const Element* body = message.child("body", kClientNs);
  e2e::EncryptedMessage encrypted;
  const e2e::EncryptedError enc = e2e::parse_encrypted(message, encrypted);
  if (body == nullptr && enc == e2e::EncryptedError::kMissing) return;
  std::string id(message.attr_or("id"));
  if (id.empty()) {
    if (const Element* o = message.child("origin-id", kSidNs)) id = o->attr_or("id");
  }
  if (id.empty()) return;  // nothing to de-duplicate or acknowledge by
  std::string stanza_id;
  if (const Element* s = message.child("stanza-id", kSidNs)) {
    if (s->attr_or("by") == bare_jid_) stanza_id = s->attr_or("id");
  }
  const bool wants_receipt =
      !carbon && message.child("request", kReceiptsNs) != nullptr && !from_full.empty();
  StoredMessage existing;
  if (store_->find(id, existing, peer) == ClientStoreError::kOk &&
      existing.direction == (carbon_sent ? MessageDirection::kOut : MessageDirection::kIn)) {
    // Already have it (a resend after a lost ack): acknowledge again.
    if (wants_receipt) send_receipt(from_full, id);
    return;
  }
  if (enc != e2e::EncryptedError::kOk && enc != e2e::EncryptedError::kMissing) {
    observer_->on_notice("dropped a malformed encrypted message from " + peer + ": " +
                         std::string(e2e::encrypted_error_name(enc)));
    return;
  }
  std::string text;
  std::string detail;
  bool identity_changed = false;
  E2eDevice::DecryptResult result = E2eDevice::DecryptResult::kOk;
  const std::string sender_jid = carbon_sent ? bare_jid_ : peer;
  ClientStoreError e = store_->transaction([&] {
    if (enc == e2e::EncryptedError::kOk) {
      result = device_.decrypt(sender_jid, encrypted, wall_ms(), text, identity_changed, detail);
      if (result != E2eDevice::DecryptResult::kOk) {
        // kUndecryptable still stored the session step when the envelope
        // was genuine; keep that, store no message.
        return result == E2eDevice::DecryptResult::kUndecryptable;
      }
    } else {
      text = body->text();
    }
    const bool is_encrypted = enc == e2e::EncryptedError::kOk;
    if (carbon_sent) {
      return store_->add_sent_copy(peer, id, text, is_encrypted, wall_ms()) ==
             ClientStoreError::kOk;
    }
    return store_->add_incoming(peer, id, stanza_id, text, is_encrypted, wall_ms()) ==
           ClientStoreError::kOk;
  });
  if (identity_changed) {
    observer_->on_notice("the identity key of " + sender_jid + " device " +
                         std::to_string(encrypted.sid) + " changed");
  }
  if (result == E2eDevice::DecryptResult::kDuplicate) return;
  if (result == E2eDevice::DecryptResult::kOk && enc == e2e::EncryptedError::kOk &&
      e == ClientStoreError::kOk) {
    replenish_after_prekey_use(encrypted);
  }
  if (result == E2eDevice::DecryptResult::kNotForThisDevice ||
      result == E2eDevice::DecryptResult::kUndecryptable) {
    // spec/e2e.md §9: show that something arrived, ask the sender once to
    // encrypt it again for this device.
    StoredMessage placeholder;
    placeholder.peer = peer;
    placeholder.direction = MessageDirection::kIn;
    placeholder.origin_id = id;
    placeholder.body = "[undecryptable message: " + detail + "]";
    placeholder.encrypted = true;
    placeholder.state = MessageState::kReceived;
    placeholder.ts_ms = wall_ms();
    observer_->on_message(placeholder);
    if (!carbon && retried_.insert(id).second) {
      Element m(kClientNs, "message");
      m.set_attr("to", from_full);
      m.set_attr("type", "chat");
      m.set_attr("id", new_id());
      e2e::add_retry(m, id, device_.device_id());
      add_hint_store(m);
      write(protocol::to_xml(m, kClientNs));
    }
    return;
  }
  if (e != ClientStoreError::kOk) {
    observer_->on_notice("cannot store a message from " + peer + ": " +
                         std::string(client_store_error_message(e)));
    return;
  }
  // The receipt first: the observer may mark the message displayed at
  // once, and the sender should see delivered before read.
  if (wants_receipt) send_receipt(from_full, id);
  StoredMessage stored;
  if (store_->find(id, stored, peer) == ClientStoreError::kOk) observer_->on_message(stored);
}

void ChatClient::replenish_after_prekey_use(const e2e::EncryptedMessage& message) {
  // spec/e2e-keys.md §8: each new session from a pre-key envelope may have
  // used one of our one-time prekeys on the server. Every few of them, see
  // how many remain and top them up, so a long-running client never runs
  // dry (a run's start does the same).
  for (const auto& k : message.keys) {
    e2e::Envelope envelope;
    if (k.rid != device_.device_id() ||
        e2e::parse_envelope(k.envelope, envelope) != e2e::EnvelopeError::kOk || !envelope.prekey) {
      continue;
    }
    if (++prekey_sessions_ % kReplenishEvery == 0 && ready_) {
      ensure_published([](bool) {});
    }
    return;
  }
}

void ChatClient::handle_retry(const std::string& peer, const std::string& id,
                              std::uint32_t device) {
  // spec/e2e.md §9.3: |peer|'s |device| could not decrypt our message |id|.
  // Once per message and device per run: a fresh session from a newly
  // claimed bundle, and the message again for that device only.
  StoredMessage m;
  if (store_->find(id, m, peer) != ClientStoreError::kOk || m.direction != MessageDirection::kOut ||
      !m.encrypted || !retried_.insert(id + "/" + std::to_string(device)).second) {
    return;
  }
  device_.drop_session(peer, device);
  claim_and_start(peer, device, [this, peer, id, device, body = m.body] {
    Element out(kClientNs, "message");
    out.set_attr("type", "chat");
    out.set_attr("to", peer);
    out.set_attr("id", id);
    e2e::EncryptedMessage encrypted;
    bool ok = false;
    store_->transaction([&] {
      ok = device_.encrypt({DeviceAddress{peer, device}}, body, encrypted);
      return ok;
    });
    if (!ok) {
      observer_->on_notice("cannot re-encrypt message " + id + " for " + peer + " device " +
                           std::to_string(device));
      return;
    }
    e2e::add_encrypted(out, encrypted);
    out.add_child(kClientNs, "body").add_text(kFallbackBody);
    out.add_child(kReceiptsNs, "request");
    out.add_child(kMarkersNs, "markable");
    // A new origin-id: the server drops a repeated one (spec/delivery.md §2);
    // the message id, which receipts name, stays.
    out.add_child(kSidNs, "origin-id").set_attr("id", new_id());
    add_hint_store(out);
    write(protocol::to_xml(out, kClientNs));
    if (sm_) session_->request_ack();
  });
}

bool ChatClient::on_iq_request(LoginSession& session, const Element& iq) {
  if (const Element* q = iq.child("query", kRosterNs); q && iq.attr_or("type") == "set") {
    // RFC 6121 §2.1.6 (CVE-2016-9928): a roster push is genuine only
    // without 'from' or from our own bare JID. A forged one is refused
    // (the session answers service-unavailable) and not applied.
    const std::string_view from = iq.attr_or("from");
    if (!from.empty() && bare_of(from) != bare_jid_) {
      observer_->on_notice("ignored a forged roster push from " + std::string(from));
      return false;
    }
    Element reply(kClientNs, "iq");
    reply.set_attr("type", "result");
    reply.set_attr("id", iq.attr_or("id"));
    session.send(protocol::to_xml(reply, kClientNs));
    if (sm_) {
      ++sent_count_;
      unacked_.push_back(Unacked{sent_count_, {}});
    }
    return true;
  }
  return false;
}

void ChatClient::on_iq_response(LoginSession& /*session*/, const Element& iq) {
  if (!iqs_.on_reply(iq)) {
    // RFC 6120 §8.1.2.1 (CVE-2013-6483): a reply we did not ask that
    // entity for is ignored.
    observer_->on_notice("ignored an IQ reply from " + std::string(iq.attr_or("from", "(nobody)")) +
                         " that answers no request sent to it");
  }
}

// ---- Ending -------------------------------------------------------------

void ChatClient::close() {
  closing_ = true;
  if (session_ && !ended_) {
    session_->close();
  } else if (ended_ && !reported_end_) {
    reported_end_ = true;
    observer_->on_ended({});
  }
}

void ChatClient::on_ended(LoginSession& session, std::string_view reason) {
  iqs_.fail_all();
  ready_ = false;
  if (!closing_ && session.was_bound() && !session.sm_id().empty() &&
      reconnects_ < kMaxReconnects) {
    // XEP-0198 §5: the network dropped us; come back on the same stream.
    ++reconnects_;
    resume_id_ = session.sm_id();
    resume_h_ = session.sm_inbound();
    observer_->on_notice("connection lost (" + std::string(reason) + "); reconnecting");
    reconnect_timer_ = std::make_unique<net::Timer>(*loop_, [this] { reconnect(); });
    reconnect_timer_->start(500ull * reconnects_);
    return;
  }
  ended_ = true;
  timer_.reset();
  if (reported_end_) return;
  reported_end_ = true;
  observer_->on_ended(closing_ ? std::string_view() : reason);
}

void ChatClient::reconnect() {
  SessionConfig config = config_.session;
  config.resume_id = resume_id_;
  config.resume_h = resume_h_;
  session_ =
      std::make_unique<LoginSession>(*loop_, config, static_cast<SessionObserver&>(*this), 0);
  std::string error;
  if (!session_->start(error)) {
    ended_ = true;
    timer_.reset();
    reported_end_ = true;
    observer_->on_ended("reconnect failed: " + error);
  }
}

}  // namespace xd::client
