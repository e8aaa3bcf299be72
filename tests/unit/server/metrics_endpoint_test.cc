// server/metrics_endpoint.h on a real loop with real sockets on 127.0.0.1
// port 0: a scrape gets the owner's text, wrong requests get their status,
// and hostile peers (oversized heads, heads that never complete, too many
// connections) are answered or refused and closed. No test waits for time
// to pass for its verdict: the request timeout is short and the loop runs
// until the event happens. Every test ends with the loop closed and empty.
#include "server/metrics_endpoint.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/unit/net/net_test_support.h"

using namespace xd::server;
using xd::net::Connection;
using xd::net::NetLoop;
using xd::net::NetStatus;
using xd::net::test::Peer;
using xd::net::test::run_until;

namespace {

constexpr const char* kBody = "# HELP xmppd_test A test.\n# TYPE xmppd_test gauge\nxmppd_test 1\n";

struct Fixture {
  NetLoop loop;
  std::unique_ptr<MetricsEndpoint> endpoint;
  int renders = 0;
  std::vector<std::unique_ptr<Peer>> peers;

  explicit Fixture(MetricsEndpointOptions options = {}) {
    NetStatus error;
    endpoint = MetricsEndpoint::listen(
        loop, "127.0.0.1:0", options,
        [this](std::string& out) {
          ++renders;
          out += kBody;
        },
        error);
    REQUIRE_MESSAGE(endpoint, error.to_string());
  }

  // A client connection that sends |request| once connected.
  Peer& connect(std::string request) {
    auto peer = std::make_unique<Peer>();
    Peer* p = peer.get();
    p->connected_hook = [request](Peer& self) {
      if (!request.empty()) self.conn->write(request);
    };
    NetStatus error;
    xd::net::ConnectionOptions o;
    o.read_rate.bytes_per_second = 0;
    p->conn =
        Connection::connect(loop, "127.0.0.1:" + std::to_string(endpoint->port()), *p, o, error);
    REQUIRE_MESSAGE(p->conn, error.to_string());
    peers.push_back(std::move(peer));
    return *p;
  }

  // Runs until |peer| was closed by the server; returns what it received.
  std::string exchange(Peer& peer) {
    REQUIRE(run_until(loop, [&] { return peer.closed == 1; }));
    return peer.received;
  }

  bool finish() {
    peers.clear();
    endpoint.reset();
    return loop.close();
  }
};

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

}  // namespace

TEST_SUITE("server.metrics_endpoint") {
  TEST_CASE("GET /metrics returns the rendered text and closes") {
    Fixture f;
    Peer& p = f.connect("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const std::string r = f.exchange(p);
    CHECK(status_line(r) == "HTTP/1.1 200 OK");
    CHECK(r.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(r.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n") !=
          std::string::npos);
    CHECK(r.substr(r.find("\r\n\r\n") + 4) == kBody);
    CHECK(p.close_reason == "eof");  // the server closed, after the answer
    CHECK(f.renders == 1);
    // A second scrape on a new connection renders again.
    Peer& q = f.connect("GET /metrics HTTP/1.0\r\n\r\n");
    CHECK(status_line(f.exchange(q)) == "HTTP/1.1 200 OK");
    CHECK(f.renders == 2);
    REQUIRE(run_until(f.loop, [&] { return f.endpoint->connections() == 0; }));
    CHECK(f.finish());
  }

  TEST_CASE("a request in many small pieces is answered once complete") {
    Fixture f;
    Peer& p = f.connect("");
    REQUIRE(run_until(f.loop, [&] { return p.connected == 1; }));
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (char c : request) {
      p.conn->write(std::string_view(&c, 1));
      f.loop.run_nowait();
    }
    CHECK(status_line(f.exchange(p)) == "HTTP/1.1 200 OK");
    CHECK(f.renders == 1);
    CHECK(f.finish());
  }

  TEST_CASE("wrong paths, methods and garbage get 404, 405, 400 and no rendering") {
    Fixture f;
    Peer& a = f.connect("GET / HTTP/1.1\r\n\r\n");
    Peer& b = f.connect("POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    Peer& c = f.connect("<stream:stream xmlns='jabber:client'>\r\n\r\n");
    CHECK(status_line(f.exchange(a)) == "HTTP/1.1 404 Not Found");
    CHECK(status_line(f.exchange(b)) == "HTTP/1.1 405 Method Not Allowed");
    CHECK(status_line(f.exchange(c)) == "HTTP/1.1 400 Bad Request");
    CHECK(f.renders == 0);
    CHECK(f.finish());
  }

  TEST_CASE("an oversized head gets 431 and the connection closes") {
    MetricsEndpointOptions o;
    o.max_request_bytes = 1024;
    Fixture f(o);
    std::string huge = "GET /metrics HTTP/1.1\r\n";
    while (huge.size() < 64 * 1024) huge += "X-Junk: 0123456789abcdef0123456789abcdef\r\n";
    Peer& p = f.connect(huge);
    const std::string r = f.exchange(p);
    CHECK(status_line(r) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(f.renders == 0);
    CHECK(f.finish());
  }

  TEST_CASE("a head that never completes gets 408 and is closed") {
    MetricsEndpointOptions o;
    o.request_timeout_ms = 20;
    Fixture f(o);
    Peer& p = f.connect("GET /metrics HTTP/1.1\r\nHost: x\r\n");  // no blank line
    const std::string r = f.exchange(p);
    CHECK(status_line(r) == "HTTP/1.1 408 Request Timeout");
    CHECK(f.renders == 0);
    // A silent peer too.
    Peer& q = f.connect("");
    CHECK(status_line(f.exchange(q)) == "HTTP/1.1 408 Request Timeout");
    CHECK(f.finish());
  }

  TEST_CASE("connections beyond the cap are closed at accept, the others still served") {
    MetricsEndpointOptions o;
    o.max_connections = 2;
    Fixture f(o);
    Peer& slow1 = f.connect("GET /metrics");
    Peer& slow2 = f.connect("GET /metrics");
    REQUIRE(run_until(f.loop, [&] { return f.endpoint->connections() == 2; }));
    Peer& extra = f.connect("GET /metrics HTTP/1.1\r\n\r\n");
    const std::string r = f.exchange(extra);
    CHECK(r.empty());  // refused: closed without a byte
    CHECK(f.endpoint->connections() == 2);
    CHECK(f.renders == 0);
    // The held connections finish their requests and are answered.
    slow1.conn->write(" HTTP/1.1\r\n\r\n");
    slow2.conn->write(" HTTP/1.1\r\n\r\n");
    CHECK(status_line(f.exchange(slow1)) == "HTTP/1.1 200 OK");
    CHECK(status_line(f.exchange(slow2)) == "HTTP/1.1 200 OK");
    REQUIRE(run_until(f.loop, [&] { return f.endpoint->connections() == 0; }));
    // Room again.
    Peer& again = f.connect("GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(status_line(f.exchange(again)) == "HTTP/1.1 200 OK");
    CHECK(f.renders == 3);
    CHECK(f.finish());
  }

  TEST_CASE("destroying the endpoint with connections open leaves nothing behind") {
    Fixture f;
    f.connect("GET /metr");
    f.connect("");
    REQUIRE(run_until(f.loop, [&] { return f.endpoint->connections() == 2; }));
    CHECK(f.finish());
  }

  TEST_CASE("a port already in use is an error, with no callback") {
    Fixture f;
    NetStatus error;
    auto second = MetricsEndpoint::listen(
        f.loop, "127.0.0.1:" + std::to_string(f.endpoint->port()), {},
        [](std::string&) { FAIL("rendered"); }, error);
    CHECK(!second);
    CHECK(!error.ok());
    CHECK(f.finish());
  }
}
