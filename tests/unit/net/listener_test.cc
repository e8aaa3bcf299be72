// Listener: binding (port 0, IPv6, names, conflicts, SO_REUSEPORT),
// refusing and pausing, and descriptor exhaustion without a busy loop
// (hostile-inputs.md catalogue 60), tested in-process by lowering
// RLIMIT_NOFILE and filling the table.
#include "net/listener.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/connection.h"
#include "tests/unit/net/net_test_support.h"

namespace xd::net {
namespace {

using test::Peer;
using test::run_until;

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

// True when the peer closed |fd| (recv returns 0 or a reset), without blocking.
bool peer_closed(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

int highest_open_fd() {
  int highest = 2;
  DIR* d = ::opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (fd > highest) highest = fd;
  }
  ::closedir(d);
  return highest;
}

// Lowers the soft RLIMIT_NOFILE and fills every free descriptor; restores
// both on destruction (or on release()).
struct FdExhaustion {
  rlimit saved{};
  std::vector<int> fillers;
  bool active = false;

  void exhaust() {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit lowered = saved;
    lowered.rlim_cur = static_cast<rlim_t>(highest_open_fd() + 16);
    REQUIRE(lowered.rlim_cur <= saved.rlim_cur);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    active = true;
    for (;;) {
      const int fd = ::dup(0);
      if (fd < 0) {
        REQUIRE(errno == EMFILE);
        break;
      }
      fillers.push_back(fd);
    }
  }
  // Frees one descriptor (for one more client socket).
  void free_one() {
    ::close(fillers.back());
    fillers.pop_back();
  }
  void release() {
    for (int fd : fillers) ::close(fd);
    fillers.clear();
    if (active) ::setrlimit(RLIMIT_NOFILE, &saved);
    active = false;
  }
  ~FdExhaustion() { release(); }
};

TEST_SUITE("net.listener") {
  TEST_CASE("port 0 binds a free port and reports it") {
    NetLoop loop;
    NetStatus error;
    auto l = Listener::listen(
        loop, "127.0.0.1:0", {}, [](AcceptedSocket&&) {}, error);
    REQUIRE_MESSAGE(l, error.to_string());
    CHECK(l->port() != 0);
    CHECK(l->local_address() == "127.0.0.1:" + std::to_string(l->port()));
    CHECK(l->has_reserved_fd());
    l.reset();
    CHECK(loop.close());
  }

  TEST_CASE("IPv6 loopback listener accepts an IPv6 connection") {
    NetLoop loop;
    NetStatus error;
    std::string peer_ip;
    Peer server;
    auto l = Listener::listen(
        loop, "[::1]:0", {},
        [&](AcceptedSocket&& s) {
          peer_ip = s.peer_ip();
          NetStatus e;
          server.conn = Connection::adopt(loop, std::move(s), server, {}, e);
        },
        error);
    if (!l) {
      MESSAGE("IPv6 unavailable here: " << error.to_string());
      CHECK(loop.close());
      return;
    }
    CHECK(l->local_address() == "[::1]:" + std::to_string(l->port()));
    Peer client;
    client.conn =
        Connection::connect(loop, "[::1]:" + std::to_string(l->port()), client, {}, error);
    REQUIRE(client.conn);
    client.conn->write("v6");
    REQUIRE(run_until(loop, [&] { return server.received == "v6"; }));
    CHECK(peer_ip == "::1");
    CHECK(server.conn->peer_address().rfind("[::1]:", 0) == 0);
    server.conn.reset();
    client.conn.reset();
    l.reset();
    CHECK(loop.close());
  }

  TEST_CASE("host names are resolved at listen time; bad addresses are refused") {
    NetLoop loop;
    NetStatus error;
    auto l = Listener::listen(
        loop, "localhost:0", {}, [](AcceptedSocket&&) {}, error);
    REQUIRE_MESSAGE(l, error.to_string());
    CHECK(l->port() != 0);
    l.reset();
    CHECK_FALSE(Listener::listen(
        loop, "no-port", {}, [](AcceptedSocket&&) {}, error));
    CHECK(error.code == NetError::kInvalidAddress);
    CHECK_FALSE(Listener::listen(
        loop, "::1:5222", {}, [](AcceptedSocket&&) {}, error));
    CHECK(error.code == NetError::kInvalidAddress);
    CHECK_FALSE(Listener::listen(
        loop, "name.invalid:0", {}, [](AcceptedSocket&&) {}, error));
    CHECK(error.code == NetError::kResolveFailed);
    CHECK(loop.close());
  }

  TEST_CASE("a taken port is a bind failure unless both listeners set SO_REUSEPORT") {
    NetLoop loop;
    NetStatus error;
    auto a = Listener::listen(
        loop, "127.0.0.1:0", {}, [](AcceptedSocket&&) {}, error);
    REQUIRE(a);
    const std::string again = "127.0.0.1:" + std::to_string(a->port());
    CHECK_FALSE(Listener::listen(
        loop, again, {}, [](AcceptedSocket&&) {}, error));
    CHECK(error.code == NetError::kBindFailed);
    a.reset();

    ListenerOptions shared;
    shared.reuse_port = true;
    auto b = Listener::listen(
        loop, "127.0.0.1:0", shared, [](AcceptedSocket&&) {}, error);
    REQUIRE(b);
    auto c = Listener::listen(
        loop, "127.0.0.1:" + std::to_string(b->port()), shared, [](AcceptedSocket&&) {}, error);
    CHECK_MESSAGE(c, error.to_string());
    b.reset();
    c.reset();
    CHECK(loop.close());
  }

  TEST_CASE("a refused connection (socket not adopted) is closed at once") {
    NetLoop loop;
    NetStatus error;
    std::string seen_ip;
    auto l = Listener::listen(
        loop, "127.0.0.1:0", {}, [&](AcceptedSocket&& s) { seen_ip = s.peer_ip(); }, error);
    REQUIRE(l);
    Peer client;
    client.conn =
        Connection::connect(loop, "127.0.0.1:" + std::to_string(l->port()), client, {}, error);
    REQUIRE(client.conn);
    REQUIRE(run_until(loop, [&] { return client.closed == 1; }));
    CHECK(seen_ip == "127.0.0.1");
    CHECK(l->accepted() == 1);
    l.reset();
    CHECK(loop.close());
  }

  TEST_CASE("pause_accepting() leaves connections in the backlog until resume") {
    NetLoop loop;
    NetStatus error;
    int accepted = 0;
    auto l = Listener::listen(
        loop, "127.0.0.1:0", {}, [&](AcceptedSocket&&) { ++accepted; }, error);
    REQUIRE(l);
    l->pause_accepting();
    const int fd = raw_connect(l->port());
    for (int i = 0; i < 10; ++i) loop.run_nowait();
    CHECK(accepted == 0);
    l->resume_accepting();
    REQUIRE(run_until(loop, [&] { return accepted == 1; }));
    ::close(fd);
    l.reset();
    CHECK(loop.close());
  }

  TEST_CASE("the accept callback may destroy the listener") {
    NetLoop loop;
    NetStatus error;
    std::unique_ptr<Listener> l;
    int calls = 0;
    l = Listener::listen(
        loop, "127.0.0.1:0", {},
        [&](AcceptedSocket&&) {
          ++calls;
          l.reset();
        },
        error);
    REQUIRE(l);
    const int a = raw_connect(l->port());
    const int b = raw_connect(l->port());
    REQUIRE(run_until(loop, [&] { return !l; }));
    for (int i = 0; i < 3; ++i) loop.run_nowait();
    CHECK(calls == 1);
    ::close(a);
    ::close(b);
    CHECK(loop.close());
  }

  TEST_CASE("EMFILE: pending connections are shed, accepting pauses, no busy loop, recovery") {
    NetLoop loop;
    NetStatus error;
    int accepted = 0;
    ListenerOptions options;
    options.overload_pause_ms = 20;
    auto l = Listener::listen(
        loop, "127.0.0.1:0", options, [&](AcceptedSocket&&) { ++accepted; }, error);
    REQUIRE(l);
    loop.run_nowait();  // libuv's own lazy descriptors exist before we exhaust

    std::vector<int> clients;
    for (int i = 0; i < 5; ++i) clients.push_back(raw_connect(l->port()));
    FdExhaustion fds;
    fds.exhaust();

    REQUIRE(run_until(loop, [&] { return l->fd_exhaustion_events() == 1; }));
    CHECK(accepted == 0);
    CHECK(l->shed() == 5);  // all pending clients were told "overloaded"
    CHECK(l->has_reserved_fd());
    CHECK(l->wakeups() == 1);
    for (int fd : clients) CHECK(peer_closed(fd));

    // While paused and after resuming with nothing pending, the loop sleeps:
    // a bounded number of iterations, no new wakeups.
    const auto iterations_before = loop.iteration();
    REQUIRE(run_until(loop, [&] { return l->overload_resumes() == 1; }));
    for (int i = 0; i < 5; ++i) loop.run_nowait();
    CHECK(l->wakeups() == 1);
    CHECK(loop.iteration() - iterations_before < 20);

    // Still out of descriptors: the next client is shed too, once.
    fds.free_one();
    clients.push_back(raw_connect(l->port()));
    REQUIRE(run_until(loop, [&] { return l->fd_exhaustion_events() == 2; }));
    CHECK(l->shed() == 6);
    CHECK(l->wakeups() == 2);
    CHECK(peer_closed(clients.back()));
    CHECK(accepted == 0);

    // Descriptors come back: the listener accepts again after its pause.
    fds.release();
    const int late = raw_connect(l->port());
    REQUIRE(run_until(loop, [&] { return accepted == 1; }));
    CHECK(l->fd_exhaustion_events() == 2);
    ::close(late);
    for (int fd : clients) ::close(fd);
    l.reset();
    CHECK(loop.close());
  }
}

}  // namespace
}  // namespace xd::net
