// The delivery states of a message in the client's history and the rule
// that they only move forward. Outgoing: queued -> sent -> delivered ->
// read, with failed reachable from queued or sent; incoming: received ->
// displayed. Pure functions over an enum; this unit never touches storage
// and never reads a clock.
//
//   out:  queued ──> sent ──> delivered ──> read
//           │          │          ^          ^
//           └──> failed <┘        │          │
//                  └──────────────┴──────────┘   (a receipt or marker proves
//                                                  delivery after all)
//   in:   received ──> displayed
#pragma once

#include <string_view>

namespace xd::client {

enum class MessageState {
  kQueued,     // out: written to the outbox, not yet acknowledged by the server
  kSent,       // out: the server acknowledged it (XEP-0198 <a/>)
  kDelivered,  // out: the peer's client sent a receipt (XEP-0184)
  kRead,       // out: the peer's client sent a displayed marker (XEP-0333)
  kFailed,     // out: bounced or could not be encrypted/sent
  kReceived,   // in: stored on arrival
  kDisplayed,  // in: the user has seen it
};

// The direction a state belongs to: true for the outgoing states.
bool message_state_is_outgoing(MessageState state);

// The lower-case name stored in the database ("queued", "sent", ...).
// Static storage.
std::string_view message_state_name(MessageState state);

// Parses a name written by message_state_name; false for anything else.
bool parse_message_state(std::string_view name, MessageState& out);

// True when a message in state |from| may move to |to|: forward along the
// figure above, never to itself, never across directions. A late receipt
// after a read marker therefore changes nothing, and a failed message that
// turns out to have been delivered or read may still say so (the peer's
// receipt is proof; our "failed" was a guess).
bool message_state_can_move(MessageState from, MessageState to);

}  // namespace xd::client
