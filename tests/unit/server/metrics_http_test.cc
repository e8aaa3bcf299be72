// server/metrics_http.h: what the metrics endpoint makes of the bytes a
// peer sent (complete, partial, hostile) and the exact responses it sends.
#include "server/metrics_http.h"

#include <doctest/doctest.h>

#include <string>

using namespace xd::server;

namespace {

std::string head_of(const std::string& response) {
  return response.substr(0, response.find("\r\n\r\n") + 4);
}

std::string body_of(const std::string& response) {
  return response.substr(response.find("\r\n\r\n") + 4);
}

}  // namespace

TEST_SUITE("server.metrics_http") {
  TEST_CASE("GET /metrics in HTTP/1.1 and HTTP/1.0, with headers or none") {
    CHECK(classify_metrics_request("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n") ==
          MetricsRequest::kMetrics);
    CHECK(classify_metrics_request("GET /metrics HTTP/1.0\r\n\r\n") == MetricsRequest::kMetrics);
    // A query string is ignored; absolute-form targets are accepted.
    CHECK(classify_metrics_request("GET /metrics?name[]=up HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kMetrics);
    CHECK(classify_metrics_request("GET http://127.0.0.1:9100/metrics HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kMetrics);
    // Lenient line ends and leading empty lines (RFC 9112 §2.2).
    CHECK(classify_metrics_request("GET /metrics HTTP/1.1\nHost: x\n\n") ==
          MetricsRequest::kMetrics);
    CHECK(classify_metrics_request("\r\nGET /metrics HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kMetrics);
    CHECK(classify_metrics_request("HEAD /metrics HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kMetricsHead);
    // Bytes after the head (a body, a pipelined request) change nothing.
    CHECK(classify_metrics_request("GET /metrics HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kMetrics);
  }

  TEST_CASE("an incomplete head needs more, byte by byte") {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\n\r\n";
    for (size_t n = 0; n < request.size(); ++n) {
      INFO(n);
      CHECK(classify_metrics_request(request.substr(0, n)) == MetricsRequest::kNeedMore);
    }
    CHECK(classify_metrics_request(request) == MetricsRequest::kMetrics);
  }

  TEST_CASE("other paths, methods and versions") {
    CHECK(classify_metrics_request("GET / HTTP/1.1\r\n\r\n") == MetricsRequest::kNotFound);
    CHECK(classify_metrics_request("GET /metrics/ HTTP/1.1\r\n\r\n") == MetricsRequest::kNotFound);
    CHECK(classify_metrics_request("GET /METRICS HTTP/1.1\r\n\r\n") == MetricsRequest::kNotFound);
    CHECK(classify_metrics_request("HEAD /favicon.ico HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kNotFound);
    CHECK(classify_metrics_request("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") ==
          MetricsRequest::kMethodNotAllowed);
    CHECK(classify_metrics_request("DELETE / HTTP/1.0\r\n\r\n") ==
          MetricsRequest::kMethodNotAllowed);
    CHECK(classify_metrics_request("get /metrics HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kMethodNotAllowed);  // methods are case-sensitive
    CHECK(classify_metrics_request("GET /metrics HTTP/2.0\r\n\r\n") == MetricsRequest::kBadRequest);
    CHECK(classify_metrics_request("GET /metrics\r\n\r\n") == MetricsRequest::kBadRequest);
    CHECK(classify_metrics_request("GET  /metrics HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kBadRequest);
    CHECK(classify_metrics_request("GET /met rics HTTP/1.1\r\n\r\n") ==
          MetricsRequest::kBadRequest);
    CHECK(classify_metrics_request("GET /metrics HTTP/1.1 \r\n\r\n") ==
          MetricsRequest::kBadRequest);
    const char kNul[] = "GET /me\0trics HTTP/1.1\r\n\r\n";
    CHECK(classify_metrics_request(std::string_view(kNul, sizeof kNul - 1)) ==
          MetricsRequest::kBadRequest);
    CHECK(classify_metrics_request("\x16\x03\x01\x02\x05\x01\xfc\x03\x03\n\n") ==
          MetricsRequest::kBadRequest);  // a TLS ClientHello is no request line
    CHECK(classify_metrics_request("<?xml version='1.0'?><stream:stream>\n\n") ==
          MetricsRequest::kBadRequest);
  }

  TEST_CASE("a head that does not end within the cap is too large") {
    const std::string line = "GET /metrics HTTP/1.1\r\n";
    std::string big = line;
    while (big.size() < 100) big += "X-Pad: aaaaaaaaaa\r\n";
    CHECK(classify_metrics_request(big, 100) == MetricsRequest::kTooLarge);
    CHECK(classify_metrics_request(big.substr(0, 99), 100) == MetricsRequest::kNeedMore);
    // A head that ends exactly at the cap is fine; one byte later is not.
    const std::string exact =
        line + "X:" + std::string(100 - line.size() - 4 - 2, 'a') + "\r\n\r\n";
    REQUIRE(exact.size() == 100);
    CHECK(classify_metrics_request(exact, 100) == MetricsRequest::kMetrics);
    CHECK(classify_metrics_request("x" + exact, 100) == MetricsRequest::kTooLarge);
    // Nothing but empty lines, or one endless line, is too large too.
    CHECK(classify_metrics_request(std::string(200, '\n'), 100) == MetricsRequest::kTooLarge);
    CHECK(classify_metrics_request(std::string(kMaxMetricsRequestBytes, 'G')) ==
          MetricsRequest::kTooLarge);
    CHECK(classify_metrics_request(std::string(kMaxMetricsRequestBytes - 1, 'G')) ==
          MetricsRequest::kNeedMore);
  }

  TEST_CASE("the 200 response: content type, exact length, Connection: close") {
    const std::string body = "# HELP x y\n# TYPE x gauge\nx 1\n";
    const std::string r = metrics_response(MetricsRequest::kMetrics, body);
    CHECK(head_of(r) ==
          "HTTP/1.1 200 OK\r\n"
          "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
          "Content-Length: " +
              std::to_string(body.size()) +
              "\r\n"
              "Connection: close\r\n\r\n");
    CHECK(body_of(r) == body);
    // HEAD: the same head, no body.
    const std::string h = metrics_response(MetricsRequest::kMetricsHead, body);
    CHECK(h == head_of(r));
  }

  TEST_CASE("error responses") {
    struct Case {
      MetricsRequest request;
      const char* status;
    };
    for (const Case& c : {Case{MetricsRequest::kNotFound, "404 Not Found"},
                          Case{MetricsRequest::kMethodNotAllowed, "405 Method Not Allowed"},
                          Case{MetricsRequest::kBadRequest, "400 Bad Request"},
                          Case{MetricsRequest::kTooLarge, "431 Request Header Fields Too Large"},
                          Case{MetricsRequest::kTimedOut, "408 Request Timeout"}}) {
      const std::string r = metrics_response(c.request, "ignored");
      INFO(r);
      CHECK(r.rfind(std::string("HTTP/1.1 ") + c.status + "\r\n", 0) == 0);
      CHECK(r.find("\r\nConnection: close\r\n") != std::string::npos);
      CHECK(r.find("ignored") == std::string::npos);
      const std::string body = body_of(r);
      CHECK(!body.empty());
      CHECK(r.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
      CHECK(r.find("version=0.0.4") == std::string::npos);
    }
    CHECK(
        metrics_response(MetricsRequest::kMethodNotAllowed, {}).find("\r\nAllow: GET, HEAD\r\n") !=
        std::string::npos);
  }
}
