// Connection with TLS over real loopback sockets: direct TLS (XEP-0368),
// STARTTLS (RFC 6120 §5), verification failures, legacy clients, the
// handshake deadline, orderly TLS shutdown and the delivery marks across
// the switch to TLS.
#include <dirent.h>
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <map>
#include <string>

#include "net/connection.h"
#include "tests/unit/net/tls_test_support.h"

namespace xd::net {
namespace {

using test::cert_hash;
using test::client_context;
using test::Harness;
using test::Peer;
using test::server_context;

int open_fd_count() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

// Owns every accepted connection and drops each one in its on_closed().
struct ServerPool : ConnectionHandler {
  std::map<Connection*, std::unique_ptr<Connection>> conns;
  int closed = 0;
  void on_read(Connection&, std::string_view) override {}
  void on_tls_ready(Connection&) override {}
  void on_closed(Connection& c, std::string_view) override {
    ++closed;
    conns.erase(&c);  // destroys |c|: allowed in on_closed
  }
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('A' + (i * 13 + i / 509) % 26);
  return s;
}

TEST_SUITE("net.connection.tls") {
  TEST_CASE("direct TLS: handshake, data both ways, equal channel bindings on both ends") {
    auto sctx = server_context("server", {"xmpp-client"});
    auto cctx = client_context("ca.pem", {"xmpp-client"});
    Harness h;
    h.on_server_adopt = [&](Peer& s) {
      REQUIRE(s.conn->start_tls_server(*sctx).ok());
      s.read_hook = [](Peer& p, std::string_view d) { p.conn->write(d); };
    };
    h.listen();
    h.connect();
    REQUIRE(h.client.conn->start_tls_client(*cctx, "localhost").ok());
    // Queued before the handshake: sent once it completes.
    h.client.conn->write("<presence/>");
    REQUIRE(h.run([&] { return h.client.received == "<presence/>"; }));
    CHECK(h.server.tls_ready == 1);
    CHECK(h.client.tls_ready == 1);
    CHECK(h.server.conn->tls_ready());
    CHECK(h.client.conn->is_tls());

    TlsInfo s, c;
    REQUIRE(h.server.conn->tls_info(s));
    REQUIRE(h.client.conn->tls_info(c));
    CHECK(s.tls13);
    CHECK(s.alpn == "xmpp-client");
    CHECK(c.alpn == "xmpp-client");
    CHECK(s.exporter.size() == 32);
    CHECK(s.exporter == c.exporter);
    const std::string end_point = cert_hash("server.pem", EVP_sha256());
    CHECK(s.server_end_point == end_point);
    CHECK(c.server_end_point == end_point);

    // A starttls on top of TLS is never a second layer (catalogue 33).
    CHECK(h.server.conn->start_tls_server(*sctx).code == NetError::kInvalidState);

    const std::string big = pattern(2 << 20);
    h.client.received.clear();
    h.client.conn->write(big);
    REQUIRE(h.run([&] { return h.client.received.size() == big.size(); }));
    CHECK(h.client.received == big);
    CHECK(h.server.closed == 0);
    CHECK(h.client.closed == 0);
    CHECK(h.finish());
  }

  TEST_CASE("STARTTLS: plaintext exchange, <proceed/> in the clear, then TLS") {
    auto sctx = server_context();
    auto cctx = client_context();
    Harness h;
    std::string server_plain_before_tls;
    h.on_server_adopt = [&](Peer& s) {
      s.read_hook = [&](Peer& p, std::string_view d) {
        if (!p.conn->is_tls()) {
          server_plain_before_tls.append(d);
          if (d.find("<starttls/>") != std::string_view::npos) {
            p.conn->write("<proceed/>");
            REQUIRE(p.conn->start_tls_server(*sctx).ok());
            // Writes after the switch are encrypted and wait for the handshake.
            p.conn->write("<features-after-tls/>");
          } else {
            p.conn->write("<features/>");
          }
        }
      };
    };
    h.client.read_hook = [&](Peer& p, std::string_view d) {
      if (d.find("<proceed/>") != std::string_view::npos) {
        REQUIRE(p.conn->start_tls_client(*cctx, "example.com").ok());
      }
    };
    h.open();
    h.client.conn->write("<stream>");
    REQUIRE(h.run([&] { return h.client.received == "<features/>"; }));
    h.client.conn->write("<starttls/>");
    REQUIRE(h.run([&] { return h.client.tls_ready == 1 && h.server.tls_ready == 1; }));
    REQUIRE(
        h.run([&] { return h.client.received == "<features/><proceed/><features-after-tls/>"; }));
    h.client.conn->write("<auth>secret</auth>");
    REQUIRE(h.run([&] { return h.server.received.size() == server_plain_before_tls.size() + 19; }));
    CHECK(server_plain_before_tls == "<stream><starttls/>");
    CHECK(h.server.received == "<stream><starttls/><auth>secret</auth>");
    CHECK(h.finish());
  }

  TEST_CASE("STARTTLS: bytes read with <starttls/> are not delivered after the switch") {
    // hostile-inputs.md catalogue 32: the injected tail arrives in the same
    // chunk as <starttls/>; the owner sees it in that call and must discard
    // it, and nothing of it is decoded as TLS or delivered again.
    auto sctx = server_context();
    Harness h;
    h.on_server_adopt = [&](Peer& s) {
      s.read_hook = [&](Peer& p, std::string_view d) {
        if (!p.conn->is_tls() && d.find("<starttls/>") != std::string_view::npos) {
          p.conn->write("<proceed/>");
          REQUIRE(p.conn->start_tls_server(*sctx).ok());
        }
      };
    };
    h.open();
    h.client.conn->write("<starttls/><auth>injected</auth>");
    REQUIRE(h.run([&] { return h.client.received == "<proceed/>"; }));
    REQUIRE(h.server.chunks.size() == 1);
    CHECK(h.server.chunks[0] == "<starttls/><auth>injected</auth>");
    CHECK(h.server.closed == 0);  // the tail was not fed to TLS
    CHECK(h.finish());
  }

  TEST_CASE("the client refuses a server certificate for the wrong host name") {
    auto sctx = server_context();
    auto cctx = client_context();
    Harness h;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.open();
    REQUIRE(h.client.conn->start_tls_client(*cctx, "evil.example.org").ok());
    h.client.conn->write("<auth>credentials</auth>");
    REQUIRE(h.run([&] { return h.client.closed == 1 && h.server.closed == 1; }));
    CHECK(h.client.close_reason == "tls-certificate-invalid");
    CHECK(h.client.close_detail.find("hostname mismatch") != std::string::npos);
    CHECK(h.client.tls_ready == 0);
    CHECK(h.server.tls_ready == 0);
    CHECK(h.server.received.empty());  // the credentials never left
    CHECK(h.finish());
  }

  TEST_CASE("a TLS 1.1 client is refused by the server") {
    auto sctx = server_context();
    auto cctx = test::legacy_client_context();
    Harness h;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.open();
    REQUIRE(h.client.conn->start_tls_client(*cctx, "localhost").ok());
    REQUIRE(h.run([&] { return h.client.closed == 1 && h.server.closed == 1; }));
    CHECK(h.server.close_reason == "tls-handshake-failed");
    CHECK(h.server.close_detail.find("unsupported protocol") != std::string::npos);
    CHECK(h.server.tls_ready == 0);
    CHECK(h.client.tls_ready == 0);
    CHECK(h.finish());
  }

  TEST_CASE("a handshake that never starts times out") {
    auto sctx = server_context();
    Harness h;
    h.server_options.tls_handshake_timeout_ms = 50;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.open();
    // The client connected and says nothing (catalogue 35).
    REQUIRE(h.run([&] { return h.server.closed == 1 && h.client.closed == 1; }));
    CHECK(h.server.close_reason == "tls-handshake-timeout");
    CHECK(h.client.close_reason == "eof");
    CHECK(h.finish());
  }

  TEST_CASE("a partial ClientHello followed by silence times out") {
    auto sctx = server_context();
    Harness h;
    h.server_options.tls_handshake_timeout_ms = 50;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.open();
    // A TLS record header announcing a 512-byte ClientHello, and 3 bytes of it.
    h.client.conn->write(std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8));
    REQUIRE(h.run([&] { return h.server.closed == 1; }));
    CHECK(h.server.close_reason == "tls-handshake-timeout");
    CHECK(h.finish());
  }

  TEST_CASE("a completed handshake cancels the deadline") {
    auto sctx = server_context();
    auto cctx = client_context();
    Harness h;
    h.server_options.tls_handshake_timeout_ms = 60;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.open();
    REQUIRE(h.client.conn->start_tls_client(*cctx, "localhost").ok());
    REQUIRE(h.run([&] { return h.server.tls_ready == 1 && h.client.tls_ready == 1; }));
    // Wait, on loop time, well past the deadline: nothing closes.
    bool waited = false;
    {
      Timer t(h.loop, [&] { waited = true; });
      t.start(120);
      REQUIRE(h.run([&] { return waited; }));
    }
    CHECK(h.server.closed == 0);
    CHECK(h.client.closed == 0);
    CHECK(h.finish());
  }

  TEST_CASE("close_after_flush over TLS sends data and close_notify, the peer sees eof") {
    auto sctx = server_context();
    auto cctx = client_context();
    Harness h;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.server.tls_hook = [](Peer& p) {
      p.conn->write("</stream:stream>");
      p.conn->close_after_flush();
    };
    h.open();
    REQUIRE(h.client.conn->start_tls_client(*cctx, "localhost").ok());
    REQUIRE(h.run([&] { return h.client.closed == 1 && h.server.closed == 1; }));
    CHECK(h.client.received == "</stream:stream>");
    CHECK(h.client.close_reason == "eof");
    CHECK(h.client.close_detail == "TLS close_notify");
    CHECK(h.server.close_reason == "closed");
    CHECK(h.finish());
  }

  TEST_CASE("churn: connect, STARTTLS, abort mid-handshake, many times, leaves nothing behind") {
    // hostile-inputs.md catalogue 61 (Prosody CVE-2026-43506 shape): every
    // cycle's handles, SSL objects and descriptors are released (LSan checks
    // the heap at exit; the descriptor count is checked here).
    auto sctx = server_context();
    auto cctx = client_context();
    NetLoop loop;
    ServerPool pool;
    ConnectionOptions options;
    options.read_rate.bytes_per_second = 0;
    NetStatus error;
    auto listener = Listener::listen(
        loop, "127.0.0.1:0", {},
        [&](AcceptedSocket&& s) {
          NetStatus e;
          auto c = Connection::adopt(loop, std::move(s), pool, options, e);
          REQUIRE(c);
          REQUIRE(c->start_tls_server(*sctx).ok());
          Connection* raw = c.get();
          pool.conns.emplace(raw, std::move(c));
        },
        error);
    REQUIRE(listener);
    const std::string target = "127.0.0.1:" + std::to_string(listener->port());
    // Cycle 0 is a warm-up: libuv reserves a loop-wide descriptor for its
    // own EMFILE handling on the first TCP handle, which is not a leak.
    int fds_before = 0;
    constexpr int kCycles = 201;
    for (int i = 0; i < kCycles; ++i) {
      if (i == 1) {
        REQUIRE(test::run_until(loop, [&] { return pool.closed == 1; }));
        fds_before = open_fd_count();
      }
      Peer client;
      client.release_on_close = false;
      client.conn = Connection::connect(loop, target, client, options, error);
      REQUIRE(client.conn);
      if (i % 2 == 0) {
        // Abort right after the ClientHello went out.
        REQUIRE(client.conn->start_tls_client(*cctx, "localhost").ok());
        REQUIRE(test::run_until(
            loop, [&] { return client.connected == 1 && client.conn->queued_bytes() == 0; }));
      } else {
        // A partial stream header, then gone.
        client.conn->write("<stream:stream to='exam");
        REQUIRE(test::run_until(loop, [&] { return client.connected == 1; }));
      }
      client.conn.reset();
    }
    REQUIRE(test::run_until(loop, [&] { return pool.closed == kCycles; }));
    CHECK(pool.conns.empty());
    for (int i = 0; i < 3; ++i) loop.run_nowait();
    CHECK(open_fd_count() == fds_before);
    listener.reset();
    CHECK(loop.close());
  }

  TEST_CASE("delivery marks over TLS: counted once the records are accepted") {
    auto sctx = server_context();
    auto cctx = client_context();
    Harness h;
    h.server_options.write_queue_cap = 64 << 20;
    const std::string early = "<stream:features/>";
    h.on_server_adopt = [&](Peer& s) {
      REQUIRE(s.conn->start_tls_server(*sctx).ok());
      // Queued before the handshake: counted by write_mark() only.
      CHECK(s.conn->write(early));
    };
    h.open();
    CHECK(h.server.conn->write_mark() == early.size());
    CHECK(h.server.conn->delivered_mark() == 0);
    REQUIRE(h.client.conn->start_tls_client(*cctx, "localhost").ok());
    REQUIRE(h.run([&] { return h.client.received == early; }));
    CHECK(h.server.conn->delivered_mark() == early.size());
    CHECK(h.server.delivered_seen == early.size());

    // Three writes after the handshake.
    const std::string a = "<message id='1'/>";
    const std::string b = pattern(40'000);
    const std::string c = "<message id='3'/>";
    CHECK(h.server.conn->write(a));
    CHECK(h.server.conn->write(b));
    CHECK(h.server.conn->write(c));
    std::uint64_t total = early.size() + a.size() + b.size() + c.size();
    CHECK(h.server.conn->write_mark() == total);
    REQUIRE(h.run([&] { return h.client.received.size() == total; }));
    CHECK(h.client.received == early + a + b + c);
    CHECK(h.server.conn->delivered_mark() == total);
    CHECK(h.server.delivered_seen == total);

    // A peer that stops reading: the encrypted flush is not counted until
    // all of its records are in the kernel.
    h.client.conn->pause_reading();
    const std::string big = pattern(16 << 20);
    const std::uint64_t syscalls = h.server.conn->write_syscalls_for_test();
    CHECK(h.server.conn->write(big));
    const std::uint64_t before_big = total;
    total += big.size();
    // Wait for the flush that encrypts and hands out the big write.
    REQUIRE(h.run([&] { return h.server.conn->write_syscalls_for_test() > syscalls; }));
    for (int i = 0; i < 20; ++i) h.loop.run_nowait();
    REQUIRE(h.server.conn->queued_bytes() > 0);
    CHECK(h.server.conn->delivered_mark() == before_big);
    CHECK(h.server.conn->write_mark() == total);
    h.client.conn->resume_reading();
    REQUIRE(h.run([&] { return h.client.received.size() == total; }));
    REQUIRE(h.run([&] { return h.server.delivered_seen == total; }));
    CHECK(h.server.conn->delivered_mark() == h.server.conn->write_mark());
    CHECK(h.server.conn->buffer_capacity_for_test() == 0);
    // The client's own writes (handshake records interleaved) add up too.
    CHECK(h.client.conn->write("<presence/>"));
    REQUIRE(h.run([&] { return h.server.received == "<presence/>"; }));
    CHECK(h.client.conn->delivered_mark() == h.client.conn->write_mark());
    CHECK(h.client.conn->write_mark() == 11);
    CHECK(h.client.delivered >= 1);
    CHECK(h.finish());
  }

  TEST_CASE("delivery marks across STARTTLS: plaintext first, then TLS records") {
    auto sctx = server_context();
    auto cctx = client_context();
    Harness h;
    const std::string features = "<features/>";
    const std::string proceed = "<proceed/>";
    const std::string after = "<features-after-tls/>";
    std::uint64_t server_delivered_at_proceed = 0;
    std::uint64_t server_written_at_proceed = 0;
    h.on_server_adopt = [&](Peer& s) {
      s.read_hook = [&](Peer& p, std::string_view d) {
        if (p.conn->is_tls()) return;
        if (d.find("<starttls/>") != std::string_view::npos) {
          p.conn->write(proceed);
          REQUIRE(p.conn->start_tls_server(*sctx).ok());
          p.conn->write(after);
        } else {
          p.conn->write(features);
        }
      };
    };
    h.client.read_hook = [&](Peer& p, std::string_view d) {
      if (d.find(proceed) != std::string_view::npos) {
        // The server's plaintext is in the kernel (we read it); its TLS
        // output waits for the handshake we have not started yet.
        server_delivered_at_proceed = h.server.conn->delivered_mark();
        server_written_at_proceed = h.server.conn->write_mark();
        REQUIRE(p.conn->start_tls_client(*cctx, "example.com").ok());
      }
    };
    h.open();
    h.client.conn->write("<stream>");
    REQUIRE(h.run([&] { return h.client.received == features; }));
    CHECK(h.server.conn->delivered_mark() == features.size());
    h.client.conn->write("<starttls/>");
    REQUIRE(h.run([&] { return h.client.tls_ready == 1 && h.server.tls_ready == 1; }));
    CHECK(server_delivered_at_proceed == features.size() + proceed.size());
    CHECK(server_written_at_proceed == features.size() + proceed.size() + after.size());
    REQUIRE(h.run([&] { return h.client.received == features + proceed + after; }));
    CHECK(h.server.conn->write_mark() == features.size() + proceed.size() + after.size());
    CHECK(h.server.conn->delivered_mark() == h.server.conn->write_mark());
    CHECK(h.server.delivered_seen == h.server.conn->write_mark());
    // The client: 19 bytes in the clear, then TLS.
    const std::string auth = "<auth>secret</auth>";
    h.client.conn->write(auth);
    REQUIRE(h.run([&] { return h.server.received == "<stream><starttls/>" + auth; }));
    CHECK(h.client.conn->write_mark() == 19 + auth.size());
    CHECK(h.client.conn->delivered_mark() == h.client.conn->write_mark());
    CHECK(h.client.delivered_seen == h.client.conn->write_mark());
    CHECK(h.server.conn->buffer_capacity_for_test() == 0);
    CHECK(h.client.conn->buffer_capacity_for_test() == 0);
    CHECK(h.finish());
  }

  TEST_CASE("a plaintext client on a TLS port fails the handshake") {
    auto sctx = server_context();
    Harness h;
    h.on_server_adopt = [&](Peer& s) { REQUIRE(s.conn->start_tls_server(*sctx).ok()); };
    h.open();
    h.client.conn->write("<?xml version='1.0'?><stream:stream to='example.com'>");
    REQUIRE(h.run([&] { return h.server.closed == 1; }));
    CHECK(h.server.close_reason == "tls-handshake-failed");
    CHECK(h.finish());
  }
}

}  // namespace
}  // namespace xd::net
