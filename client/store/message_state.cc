#include "client/store/message_state.h"

namespace xd::client {

bool message_state_is_outgoing(MessageState state) {
  switch (state) {
    case MessageState::kQueued:
    case MessageState::kSent:
    case MessageState::kDelivered:
    case MessageState::kRead:
    case MessageState::kFailed:
      return true;
    case MessageState::kReceived:
    case MessageState::kDisplayed:
      return false;
  }
  return false;
}

std::string_view message_state_name(MessageState state) {
  switch (state) {
    case MessageState::kQueued:
      return "queued";
    case MessageState::kSent:
      return "sent";
    case MessageState::kDelivered:
      return "delivered";
    case MessageState::kRead:
      return "read";
    case MessageState::kFailed:
      return "failed";
    case MessageState::kReceived:
      return "received";
    case MessageState::kDisplayed:
      return "displayed";
  }
  return "unknown";
}

bool parse_message_state(std::string_view name, MessageState& out) {
  for (const MessageState s :
       {MessageState::kQueued, MessageState::kSent, MessageState::kDelivered, MessageState::kRead,
        MessageState::kFailed, MessageState::kReceived, MessageState::kDisplayed}) {
    if (message_state_name(s) == name) {
      out = s;
      return true;
    }
  }
  return false;
}

bool message_state_can_move(MessageState from, MessageState to) {
  switch (to) {
    case MessageState::kQueued:
    case MessageState::kReceived:
      return false;  // initial states: nothing moves back into them
    case MessageState::kSent:
      return from == MessageState::kQueued;
    case MessageState::kDelivered:
      return from == MessageState::kQueued || from == MessageState::kSent ||
             from == MessageState::kFailed;
    case MessageState::kRead:
      return from == MessageState::kQueued || from == MessageState::kSent ||
             from == MessageState::kDelivered || from == MessageState::kFailed;
    case MessageState::kFailed:
      return from == MessageState::kQueued || from == MessageState::kSent;
    case MessageState::kDisplayed:
      return from == MessageState::kReceived;
  }
  return false;
}

}  // namespace xd::client
