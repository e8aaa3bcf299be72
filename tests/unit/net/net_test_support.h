// Shared fixtures for the net/ unit tests: a bounded loop runner (a safety
// timer instead of sleeps), a recording ConnectionHandler, a listener +
// client harness on 127.0.0.1 port 0, and the location of the TLS fixtures
// made by scripts/make_test_certs.sh.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/connection.h"
#include "net/listener.h"
#include "net/net_loop.h"
#include "net/timer.h"

namespace xd::net::test {

// tests/data, from the build's XD_TEST_DATA_DIR, the environment, or this
// header's own path.
inline std::string data_dir() {
#ifdef XD_TEST_DATA_DIR
  return XD_TEST_DATA_DIR;
#else
  if (const char* env = std::getenv("XD_TEST_DATA_DIR")) return env;
  std::string here = __FILE__;  // .../tests/unit/net/net_test_support.h
  const std::string tail = "unit/net/net_test_support.h";
  if (here.size() >= tail.size() &&
      here.compare(here.size() - tail.size(), tail.size(), tail) == 0) {
    return here.substr(0, here.size() - tail.size()) + "data";
  }
  return "tests/data";
#endif
}
inline std::string cert_path(std::string_view name) {
  return data_dir() + "/certs/" + std::string(name);
}

// Runs |loop| one iteration at a time until |done| holds or |timeout_ms| of
// loop time passed (a safety net: tests never wait on time to pass for
// correctness). Returns done().
inline bool run_until(NetLoop& loop, const std::function<bool()>& done,
                      std::uint64_t timeout_ms = 10'000) {
  bool expired = false;
  Timer safety(loop, [&expired] { expired = true; });
  safety.start(timeout_ms);
  while (!done() && !expired) loop.run_once();
  return done();
}

// A ConnectionHandler that records everything and runs optional hooks.
struct Peer : ConnectionHandler {
  std::unique_ptr<Connection> conn;
  std::string received;
  std::vector<std::string> chunks;
  int connected = 0;
  int tls_ready = 0;
  int writable = 0;
  int delivered = 0;                 // on_delivered() calls
  std::uint64_t delivered_seen = 0;  // delivered_mark() at the last of them
  int closed = 0;
  std::string close_reason;
  std::string close_detail;
  bool release_on_close = true;  // destroy the Connection inside on_closed
  std::function<void(Peer&, std::string_view)> read_hook;
  std::function<void(Peer&)> tls_hook;
  std::function<void(Peer&)> connected_hook;
  std::function<void(Peer&)> delivered_hook;

  void on_connected(Connection&) override {
    ++connected;
    if (connected_hook) connected_hook(*this);
  }
  void on_read(Connection&, std::string_view data) override {
    received.append(data);
    chunks.emplace_back(data);
    if (read_hook) read_hook(*this, data);
  }
  void on_tls_ready(Connection&) override {
    ++tls_ready;
    if (tls_hook) tls_hook(*this);
  }
  void on_writable(Connection&) override { ++writable; }
  void on_delivered(Connection& c) override {
    // The contract: only when the mark advanced, never past write_mark(),
    // never after on_closed().
    CHECK(c.delivered_mark() > delivered_seen);
    CHECK(c.delivered_mark() <= c.write_mark());
    CHECK(closed == 0);
    ++delivered;
    delivered_seen = c.delivered_mark();
    if (delivered_hook) delivered_hook(*this);
  }
  void on_closed(Connection& c, std::string_view reason) override {
    ++closed;
    close_reason = std::string(reason);
    close_detail = c.close_detail();
    if (release_on_close) conn.reset();
  }
};

// One listener on 127.0.0.1:0 whose first accepted connection becomes
// |server|, and one outgoing |client|.
struct Harness {
  NetLoop loop;
  std::unique_ptr<Listener> listener;
  Peer server;
  Peer client;
  ConnectionOptions server_options;
  ConnectionOptions client_options;
  // Runs right after the server connection was adopted.
  std::function<void(Peer&)> on_server_adopt;

  Harness() {
    // Most tests move small amounts; limits get their own tests.
    server_options.read_rate.bytes_per_second = 0;
    client_options.read_rate.bytes_per_second = 0;
  }

  void listen() {
    NetStatus error;
    listener = Listener::listen(
        loop, "127.0.0.1:0", ListenerOptions{},
        [this](AcceptedSocket&& socket) {
          NetStatus e;
          server.conn = Connection::adopt(loop, std::move(socket), server, server_options, e);
          REQUIRE(server.conn);
          if (on_server_adopt) on_server_adopt(server);
        },
        error);
    REQUIRE_MESSAGE(listener, error.to_string());
  }

  void connect() {
    NetStatus error;
    client.conn = Connection::connect(loop, "127.0.0.1:" + std::to_string(listener->port()), client,
                                      client_options, error);
    REQUIRE_MESSAGE(client.conn, error.to_string());
  }

  // listen() + connect() and wait until both ends exist.
  void open() {
    listen();
    connect();
    REQUIRE(run_until(loop, [this] { return server.conn && client.connected == 1; }));
  }

  bool run(const std::function<bool()>& done, std::uint64_t timeout_ms = 10'000) {
    return run_until(loop, done, timeout_ms);
  }

  // Releases everything and closes the loop; true when nothing leaked.
  bool finish() {
    server.conn.reset();
    client.conn.reset();
    listener.reset();
    return loop.close();
  }
};

}  // namespace xd::net::test
