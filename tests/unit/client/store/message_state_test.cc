// The forward-only rule of message states (client/store/message_state.h).
#include "client/store/message_state.h"

#include <doctest/doctest.h>

namespace xd::client {

TEST_CASE("message_state: names round-trip") {
  for (const MessageState s :
       {MessageState::kQueued, MessageState::kSent, MessageState::kDelivered, MessageState::kRead,
        MessageState::kFailed, MessageState::kReceived, MessageState::kDisplayed}) {
    MessageState back = MessageState::kQueued;
    REQUIRE(parse_message_state(message_state_name(s), back));
    CHECK(back == s);
  }
  MessageState out = MessageState::kQueued;
  CHECK_FALSE(parse_message_state("Sent", out));
  CHECK_FALSE(parse_message_state("", out));
}

TEST_CASE("message_state: outgoing states only move forward") {
  using S = MessageState;
  CHECK(message_state_can_move(S::kQueued, S::kSent));
  CHECK(message_state_can_move(S::kSent, S::kDelivered));
  CHECK(message_state_can_move(S::kDelivered, S::kRead));
  CHECK(message_state_can_move(S::kQueued, S::kRead));  // a skipped step is fine
  CHECK(message_state_can_move(S::kQueued, S::kFailed));
  CHECK(message_state_can_move(S::kSent, S::kFailed));
  CHECK(message_state_can_move(S::kFailed, S::kDelivered));  // a receipt is proof

  CHECK_FALSE(message_state_can_move(S::kRead, S::kDelivered));  // late receipt
  CHECK_FALSE(message_state_can_move(S::kDelivered, S::kSent));
  CHECK_FALSE(message_state_can_move(S::kSent, S::kQueued));
  CHECK_FALSE(message_state_can_move(S::kDelivered, S::kFailed));
  CHECK_FALSE(message_state_can_move(S::kRead, S::kFailed));
  CHECK_FALSE(message_state_can_move(S::kFailed, S::kSent));
  CHECK_FALSE(message_state_can_move(S::kSent, S::kSent));
  CHECK_FALSE(message_state_can_move(S::kRead, S::kRead));
}

TEST_CASE("message_state: incoming states and no crossing between directions") {
  using S = MessageState;
  CHECK(message_state_can_move(S::kReceived, S::kDisplayed));
  CHECK_FALSE(message_state_can_move(S::kDisplayed, S::kReceived));
  CHECK_FALSE(message_state_can_move(S::kReceived, S::kRead));
  CHECK_FALSE(message_state_can_move(S::kSent, S::kDisplayed));
  CHECK(message_state_is_outgoing(S::kFailed));
  CHECK_FALSE(message_state_is_outgoing(S::kDisplayed));
}

}  // namespace xd::client
