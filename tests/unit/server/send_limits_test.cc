// The per-session send limits of catalogue G51 (server/send_limits.h):
// the sliding window of distinct recipients and the presence broadcast
// token bucket, with time passed in.
#include "server/send_limits.h"

#include <doctest/doctest.h>

using namespace xd::server;

TEST_CASE("G51: RecipientWindow admits at most |limit| distinct recipients per window") {
  RecipientWindow w;
  const uint64_t a = RecipientWindow::key("a", "example.com");
  const uint64_t b = RecipientWindow::key("b", "example.com");
  const uint64_t c = RecipientWindow::key("c", "example.com");
  CHECK(a != RecipientWindow::key("a", "example.org"));
  CHECK(w.admit(a, 0, 2));
  CHECK(w.admit(b, 10, 2));
  CHECK_FALSE(w.admit(c, 20, 2));  // a third one within the minute
  CHECK(w.admit(a, 30, 2));        // known ones still pass, and stay fresh
  CHECK(w.size() == 2);
  CHECK_FALSE(w.admit(c, 60009, 2));  // b expires at 60010
  CHECK(w.admit(c, 60010, 2));
  CHECK_FALSE(w.admit(b, 60011, 2));  // a (30) and c (60010) fill it
  CHECK(w.size() == 2);               // never more than the limit
  // 0 turns it off and keeps nothing.
  RecipientWindow off;
  for (uint64_t i = 0; i < 1000; ++i) CHECK(off.admit(i, 0, 0));
  CHECK(off.size() == 0);
}

TEST_CASE("G51: BroadcastBucket gives a minute's burst, then one per 60000/limit ms") {
  BroadcastBucket b;
  for (int i = 0; i < 4; ++i) CHECK(b.take(1000, 4));
  CHECK_FALSE(b.take(1000, 4));
  CHECK(b.wait_ms(1000, 4) == 15000);
  CHECK_FALSE(b.take(15999, 4));
  CHECK(b.wait_ms(15999, 4) == 1);
  CHECK(b.take(16000, 4));
  // A long pause refills to the burst, not beyond.
  for (int i = 0; i < 4; ++i) CHECK(b.take(10000000, 4));
  CHECK_FALSE(b.take(10000000, 4));
  // Time going backwards is treated as no time passing.
  CHECK_FALSE(b.take(5, 4));
  // 0 turns it off.
  BroadcastBucket off;
  for (int i = 0; i < 1000; ++i) CHECK(off.take(0, 0));
  CHECK(off.wait_ms(0, 0) == 0);
}
