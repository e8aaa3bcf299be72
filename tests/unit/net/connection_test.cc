// Connection over real loopback sockets: echo, once-per-iteration flushing,
// the write cap, the read rate limit and fairness cap, deferred close,
// EOF, close_after_flush, connect failure, idle memory and the delivery
// marks (write_mark, delivered_mark, on_delivered).
#include "net/connection.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/net/net_test_support.h"

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime (sanitizer/allocator_interface.h, which GCC
// does not ship): bytes currently allocated by the program.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#define XD_HAVE_ALLOC_STATS 1
#endif

namespace xd::net {
namespace {

using test::Harness;
using test::Peer;

// Distinct, position-dependent bytes so reordering or loss is visible.
std::string pattern(size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed + i / 251) % 26);
  return s;
}

// A blocking client socket connected to 127.0.0.1:|port| (no libuv, no heap).
int raw_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  return fd;
}

TEST_SUITE("net.connection") {
  TEST_CASE("plaintext echo both ways, with peer addresses") {
    Harness h;
    h.on_server_adopt = [](Peer& s) {
      s.read_hook = [](Peer& p, std::string_view d) { CHECK(p.conn->write(d)); };
    };
    h.open();
    CHECK(h.server.conn->peer_address().rfind("127.0.0.1:", 0) == 0);
    CHECK(h.client.conn->peer_address() == "127.0.0.1:" + std::to_string(h.listener->port()));
    CHECK_FALSE(h.server.conn->is_tls());
    h.client.conn->write("hello ");
    h.client.conn->write("world");
    REQUIRE(h.run([&] { return h.client.received == "hello world"; }));
    CHECK(h.server.received == "hello world");
    CHECK(h.server.closed == 0);
    CHECK(h.client.closed == 0);
    CHECK(h.finish());
  }

  TEST_CASE("writes made in one callback leave in one system call, in order") {
    Harness h;
    std::uint64_t syscalls_in_hook = 0;
    std::uint64_t syscalls_before = 0;
    std::string expected;
    for (int i = 0; i < 200; ++i) expected += "<m id='" + std::to_string(i) + "'/>";
    h.on_server_adopt = [&](Peer& s) {
      s.read_hook = [&](Peer& p, std::string_view) {
        syscalls_before = p.conn->write_syscalls_for_test();
        for (int i = 0; i < 200; ++i) p.conn->write("<m id='" + std::to_string(i) + "'/>");
        // write() only queues: no system call has happened yet.
        syscalls_in_hook = p.conn->write_syscalls_for_test();
      };
    };
    h.open();
    h.client.conn->write("go");
    REQUIRE(h.run([&] { return h.client.received.size() == expected.size(); }));
    CHECK(h.client.received == expected);
    CHECK(syscalls_in_hook == syscalls_before);
    // One flush per loop iteration: the 200 writes became one uv_try_write.
    CHECK(h.server.conn->write_syscalls_for_test() == syscalls_before + 1);
    CHECK(h.server.conn->queued_bytes() == 0);
    CHECK(h.finish());
  }

  TEST_CASE("write cap: write() reports it, reading pauses, on_writable after the drain") {
    Harness h;
    h.server_options.write_queue_cap = 1 << 20;
    h.open();
    // The client stops reading, so the server's queue cannot drain.
    h.client.conn->pause_reading();
    const std::string big = pattern(16 << 20);
    CHECK(h.server.conn->write("x"));
    CHECK_FALSE(h.server.conn->write(big));  // over the cap: reported, kept
    CHECK(h.server.conn->over_write_cap());
    CHECK(h.server.conn->queued_bytes() >= big.size());
    CHECK_FALSE(h.server.conn->write("y"));  // still over the cap
    // While over its cap the server does not read from this peer.
    h.client.conn->write("ping");
    REQUIRE(h.run([&] { return h.client.conn->queued_bytes() == 0; }));
    for (int i = 0; i < 20; ++i) h.loop.run_nowait();
    CHECK(h.server.conn->over_write_cap());
    CHECK(h.server.received.empty());
    CHECK(h.server.writable == 0);
    // The client reads again: everything arrives, the cap clears, the server
    // hears on_writable once and reads the ping.
    h.client.conn->resume_reading();
    const std::string expected = "x" + big + "y";
    REQUIRE(h.run([&] {
      return h.client.received.size() == expected.size() && h.server.received == "ping";
    }));
    CHECK(h.client.received == expected);
    CHECK(h.server.writable == 1);
    CHECK_FALSE(h.server.conn->over_write_cap());
    CHECK(h.server.conn->write("z"));
    CHECK(h.finish());
  }

  TEST_CASE("the read rate limit pauses and resumes without losing or reordering bytes") {
    Harness h;
    h.server_options.read_rate.bytes_per_second = 200'000;
    h.server_options.read_rate.burst_ms = 10;  // a 2000-byte bucket
    h.open();
    const std::string data = pattern(60'000, 3);
    h.client.conn->write(data);
    REQUIRE(h.run([&] { return h.server.received.size() == data.size(); }));
    CHECK(h.server.received == data);
    CHECK(h.server.conn->rate_limit_pauses_for_test() >= 1);
    CHECK(h.server.closed == 0);
    CHECK(h.finish());
  }

  TEST_CASE("lifting the rate limit mid-stream resumes reading at once") {
    Harness h;
    h.server_options.read_rate.bytes_per_second = 1000;  // 60 s for the data
    h.server_options.read_rate.burst_ms = 1000;
    h.open();
    const std::string data = pattern(60'000, 4);
    h.client.conn->write(data);
    REQUIRE(h.run([&] { return h.server.conn->rate_limit_pauses_for_test() >= 1; }));
    CHECK(h.server.received.size() < data.size());
    // After authentication the owner switches to a looser limit.
    h.server.conn->set_read_rate(ReadRateLimit{0, 0});
    REQUIRE(h.run([&] { return h.server.received.size() == data.size(); }));
    CHECK(h.server.received == data);
    CHECK(h.finish());
  }

  TEST_CASE("the per-iteration read cap yields to other connections and loses nothing") {
    Harness h;
    h.server_options.max_read_bytes_per_iteration = 4096;
    h.open();
    const std::string data = pattern(256 * 1024, 5);
    h.client.conn->write(data);
    REQUIRE(h.run([&] { return h.server.received.size() == data.size(); }));
    CHECK(h.server.received == data);
    CHECK(h.server.conn->fairness_pauses_for_test() >= 1);
    CHECK(h.finish());
  }

  TEST_CASE("close_now() inside on_read is deferred and on_closed runs exactly once") {
    Harness h;
    int closed_during_hook = -1;
    bool open_after_close = true;
    bool write_after_close = true;
    h.on_server_adopt = [&](Peer& s) {
      s.read_hook = [&](Peer& p, std::string_view) {
        p.conn->close_now();
        p.conn->close_now();  // idempotent
        closed_during_hook = p.closed;
        open_after_close = p.conn->is_open();
        write_after_close = p.conn->write("dropped");
      };
    };
    h.open();
    h.client.conn->write("bye");
    REQUIRE(h.run([&] { return h.server.closed == 1 && h.client.closed == 1; }));
    CHECK(closed_during_hook == 0);
    CHECK_FALSE(open_after_close);
    CHECK_FALSE(write_after_close);
    CHECK(h.server.close_reason == "closed");
    CHECK(h.client.close_reason == "eof");
    CHECK(h.server.chunks.size() == 1);
    CHECK(h.client.received.empty());
    // Nothing more is ever reported.
    for (int i = 0; i < 5; ++i) h.loop.run_nowait();
    CHECK(h.server.closed == 1);
    CHECK(h.client.closed == 1);
    CHECK(h.finish());
  }

  TEST_CASE("close_now() outside callbacks still reports on_closed later, from the loop") {
    Harness h;
    h.open();
    h.server.conn->close_now();
    CHECK(h.server.closed == 0);
    REQUIRE(h.run([&] { return h.server.closed == 1 && h.client.closed == 1; }));
    CHECK(h.server.close_reason == "closed");
    CHECK(h.client.close_reason == "eof");
    CHECK(h.finish());
  }

  TEST_CASE("peer EOF is reported as eof") {
    Harness h;
    h.open();
    h.client.conn->write("last words");
    h.client.conn->close_after_flush();
    CHECK_FALSE(h.client.conn->write("refused"));
    REQUIRE(h.run([&] { return h.server.closed == 1; }));
    CHECK(h.server.received == "last words");
    CHECK(h.server.close_reason == "eof");
    CHECK(h.server.close_detail.empty());
    CHECK(h.finish());
  }

  TEST_CASE("close_after_flush() delivers everything queued, then both sides close") {
    Harness h;
    h.open();
    const std::string data = pattern(300'000, 9);
    h.server.conn->write(data);
    h.server.conn->close_after_flush();
    REQUIRE(h.run([&] { return h.client.closed == 1; }));
    CHECK(h.client.received == data);
    CHECK(h.client.close_reason == "eof");
    // The client's FIN (it closes on EOF) ends the server's linger.
    REQUIRE(h.run([&] { return h.server.closed == 1; }));
    CHECK(h.server.close_reason == "closed");
    CHECK(h.finish());
  }

  TEST_CASE("close_after_flush() gives up after the linger time if the peer never closes") {
    Harness h;
    h.server_options.close_linger_ms = 30;
    h.open();
    h.client.release_on_close = false;
    h.server.conn->close_after_flush();
    // The client never closes its side: it is paused and ignores EOF.
    h.client.conn->pause_reading();
    REQUIRE(h.run([&] { return h.server.closed == 1; }));
    CHECK(h.server.close_reason == "closed");
    CHECK(h.server.close_detail == "linger timeout");
    CHECK(h.finish());
  }

  TEST_CASE("output written before the connection is established is delivered") {
    Harness h;
    h.listen();
    h.connect();
    CHECK(h.client.conn->write("early"));
    REQUIRE(h.run([&] { return h.server.received == "early"; }));
    CHECK(h.client.connected == 1);
    CHECK(h.finish());
  }

  TEST_CASE("a refused connect is reported as connect-failed") {
    Harness h;
    h.listen();
    const auto port = h.listener->port();
    h.listener.reset();  // nothing listens there any more
    NetStatus error;
    h.client.conn = Connection::connect(h.loop, "127.0.0.1:" + std::to_string(port), h.client,
                                        h.client_options, error);
    REQUIRE(h.client.conn);
    REQUIRE(h.run([&] { return h.client.closed == 1; }));
    CHECK(h.client.close_reason == "connect-failed");
    CHECK(h.client.connected == 0);
    CHECK(h.finish());
  }

  TEST_CASE("connect() refuses bad and non-numeric addresses without calling back") {
    NetLoop loop;
    Peer p;
    NetStatus error;
    CHECK_FALSE(Connection::connect(loop, "nonsense", p, {}, error));
    CHECK(error.code == NetError::kInvalidAddress);
    CHECK_FALSE(Connection::connect(loop, "localhost:5222", p, {}, error));
    CHECK(error.code == NetError::kResolveFailed);
    loop.run_nowait();
    CHECK(p.closed == 0);
    CHECK(loop.close());
  }

  TEST_CASE("pause_reading() holds input in the kernel until resume_reading()") {
    Harness h;
    h.open();
    h.server.conn->pause_reading();
    h.client.conn->write("held");
    REQUIRE(h.run([&] { return h.client.conn->queued_bytes() == 0; }));
    for (int i = 0; i < 10; ++i) h.loop.run_nowait();
    CHECK(h.server.received.empty());
    h.server.conn->resume_reading();
    REQUIRE(h.run([&] { return h.server.received == "held"; }));
    CHECK(h.finish());
  }

  TEST_CASE("destroying a connection with output in flight releases everything") {
    Harness h;
    h.open();
    h.client.conn->pause_reading();
    h.server.conn->write(pattern(8 << 20));
    REQUIRE(h.run([&] { return h.server.conn->queued_bytes() < (8u << 20); }));
    h.server.conn.reset();        // a uv_write may be pending: freed in its callback
    CHECK(h.server.closed == 0);  // destruction never calls the handler
    h.client.conn->resume_reading();
    REQUIRE(h.run([&] { return h.client.closed == 1; }));
    CHECK(h.finish());
  }

  TEST_CASE("delivery marks: three writes reach the kernel, on_delivered reports it") {
    Harness h;
    h.open();
    CHECK(h.server.conn->write_mark() == 0);
    CHECK(h.server.conn->delivered_mark() == 0);
    const std::string a = "<message id='1'/>";
    const std::string b = pattern(5000, 1);
    const std::string c = "<message id='3'/>";
    CHECK(h.server.conn->write(a));
    CHECK(h.server.conn->write(b));
    CHECK(h.server.conn->write(c));
    const std::uint64_t total = a.size() + b.size() + c.size();
    CHECK(h.server.conn->write_mark() == total);
    // write() only queues and never calls back.
    CHECK(h.server.conn->delivered_mark() == 0);
    CHECK(h.server.delivered == 0);
    REQUIRE(h.run([&] { return h.client.received.size() == total; }));
    CHECK(h.client.received == a + b + c);
    // The peer read the bytes, so the kernel had accepted them, and the
    // flush that handed them over reported it in the same prepare phase.
    CHECK(h.server.conn->delivered_mark() == total);
    CHECK(h.server.delivered >= 1);
    CHECK(h.server.delivered_seen == total);
    // Nothing more to report: the count stays put and no marks are held.
    const int calls = h.server.delivered;
    for (int i = 0; i < 5; ++i) h.loop.run_nowait();
    CHECK(h.server.delivered == calls);
    CHECK(h.server.conn->buffer_capacity_for_test() == 0);
    // The marks continue from there.
    CHECK(h.server.conn->write("more"));
    CHECK(h.server.conn->write_mark() == total + 4);
    REQUIRE(h.run([&] { return h.client.received.size() == total + 4; }));
    CHECK(h.server.conn->delivered_mark() == total + 4);
    CHECK(h.server.delivered_seen == total + 4);
    CHECK(h.finish());
  }

  TEST_CASE("delivery marks: a peer that does not read holds delivered_mark below write_mark") {
    Harness h;
    h.server_options.write_queue_cap = 64 << 20;  // room for the whole write
    h.open();
    h.client.conn->pause_reading();
    const std::string big = pattern(16 << 20, 2);
    CHECK(h.server.conn->write("<first/>"));
    CHECK(h.server.conn->write(big));
    const std::uint64_t total = 8 + big.size();
    CHECK(h.server.conn->write_mark() == total);
    // Wait until the kernel has taken part of the output (the socket buffers
    // fill) and that progress was reported.
    REQUIRE(h.run([&] { return h.server.delivered >= 1; }));
    for (int i = 0; i < 20; ++i) h.loop.run_nowait();
    REQUIRE(h.server.conn->queued_bytes() > 0);  // 16 MiB exceed the buffers
    const std::uint64_t held = h.server.conn->delivered_mark();
    CHECK(held > 0);
    CHECK(held < total);
    CHECK(held == h.server.delivered_seen);
    CHECK(h.client.received.empty());
    // The peer reads: everything arrives and the mark catches up.
    h.client.conn->resume_reading();
    REQUIRE(h.run([&] { return h.client.received.size() == total; }));
    CHECK(h.client.received == "<first/>" + big);
    REQUIRE(h.run([&] { return h.server.delivered_seen == total; }));
    CHECK(h.server.conn->delivered_mark() == h.server.conn->write_mark());
    CHECK(h.server.conn->queued_bytes() == 0);
    CHECK(h.server.conn->buffer_capacity_for_test() == 0);
    CHECK(h.finish());
  }

  TEST_CASE("on_delivered may write the next message and is never re-entered") {
    // A client without stream management whose queue is sent one message
    // at a time, each after the previous one reached the kernel.
    Harness h;
    h.open();
    int depth = 0;
    int max_depth = 0;
    int sent = 1;
    std::string expected = "<m n='0'/>";
    h.server.delivered_hook = [&](Peer& p) {
      max_depth = std::max(max_depth, ++depth);
      if (sent < 10) {
        CHECK(p.conn->delivered_mark() == p.conn->write_mark());
        const std::string m = "<m n='" + std::to_string(sent++) + "'/>";
        expected += m;
        CHECK(p.conn->write(m));  // only queues: no nested on_delivered()
      }
      --depth;
    };
    CHECK(h.server.conn->write(expected));
    REQUIRE(h.run([&] { return sent == 10 && h.client.received == expected; }));
    REQUIRE(h.run([&] { return h.server.delivered_seen == expected.size(); }));
    CHECK(max_depth == 1);
    CHECK(h.server.delivered == 10);  // one call per message
    CHECK(h.server.conn->delivered_mark() == h.server.conn->write_mark());
    CHECK(h.finish());
  }

  TEST_CASE("write_mark counts bytes kept over the cap, not bytes refused while closing") {
    Harness h;
    h.server_options.write_queue_cap = 1024;
    h.server.release_on_close = false;
    h.open();
    h.client.conn->pause_reading();
    CHECK_FALSE(h.server.conn->write(pattern(64 * 1024, 3)));  // over the cap: kept
    CHECK(h.server.conn->write_mark() == 64 * 1024);
    h.server.conn->close_now();
    CHECK_FALSE(h.server.conn->write("refused"));
    CHECK(h.server.conn->write_mark() == 64 * 1024);
    REQUIRE(h.run([&] { return h.server.closed == 1; }));
    // Still readable after on_closed(); nothing was flushed before the close.
    CHECK(h.server.conn->write_mark() == 64 * 1024);
    CHECK(h.server.conn->delivered_mark() == 0);
    CHECK(h.server.delivered == 0);
    CHECK(h.server.conn->buffer_capacity_for_test() == 0);
    h.server.conn.reset();
    CHECK(h.finish());
  }

  TEST_CASE("an idle connection keeps no buffers; sizeof and heap per connection") {
    Harness h;
    h.on_server_adopt = [](Peer& s) {
      s.read_hook = [](Peer& p, std::string_view d) { p.conn->write(d); };
    };
    h.open();
    h.client.conn->write(pattern(100'000));
    REQUIRE(h.run([&] { return h.client.received.size() == 100'000; }));
    CHECK(h.server.conn->buffer_capacity_for_test() == 0);
    CHECK(h.client.conn->buffer_capacity_for_test() == 0);
    MESSAGE("sizeof(Connection) = " << sizeof(Connection));
    CHECK(h.finish());

#ifdef XD_HAVE_ALLOC_STATS
    // Heap held by idle server-side plaintext connections, measured with the
    // sanitizer allocator: raw client sockets allocate nothing in-process.
    NetLoop loop;
    constexpr int kConnections = 64;
    std::vector<std::unique_ptr<Connection>> conns;
    conns.reserve(kConnections);
    Peer handler;
    ConnectionOptions options;
    NetStatus error;
    auto listener = Listener::listen(
        loop, "127.0.0.1:0", {},
        [&](AcceptedSocket&& s) {
          NetStatus e;
          conns.push_back(Connection::adopt(loop, std::move(s), handler, options, e));
        },
        error);
    REQUIRE(listener);
    loop.run_nowait();  // lazily created loop buffers are not per-connection
    std::vector<int> fds;
    const size_t before = __sanitizer_get_current_allocated_bytes();
    for (int i = 0; i < kConnections; ++i) fds.push_back(raw_connect(listener->port()));
    REQUIRE(test::run_until(loop, [&] { return conns.size() == kConnections; }));
    for (int i = 0; i < 3; ++i) loop.run_nowait();
    const size_t after = __sanitizer_get_current_allocated_bytes();
    const size_t per_connection = (after - before) / kConnections;
    MESSAGE("heap bytes per idle plaintext connection = " << per_connection);
    CHECK(per_connection < 1024);
    for (int fd : fds) ::close(fd);
    conns.clear();
    listener.reset();
    CHECK(loop.close());
#endif
  }
}

}  // namespace
}  // namespace xd::net
