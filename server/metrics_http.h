// The metrics endpoint's HTTP/1.0 and HTTP/1.1 as pure functions: decide
// what the bytes of a request received so far ask for, and build the whole
// response for it. Only the request line is interpreted; headers are
// skipped and a body is never read, since every answer ends the connection
// (`Connection: close`). Never performs I/O and never throws; any input,
// however hostile, gets a verdict.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace xd::server {

// Longest request head (request line and headers) the endpoint reads; a
// scraper's is a few hundred bytes. Beyond it: 431.
inline constexpr size_t kMaxMetricsRequestBytes = 8 * 1024;

enum class MetricsRequest {
  kNeedMore,          // no blank line yet, and under the size cap
  kMetrics,           // GET /metrics (a query string is ignored): 200 with the text
  kMetricsHead,       // HEAD /metrics: 200 with the headers only
  kNotFound,          // GET or HEAD of another path: 404
  kMethodNotAllowed,  // a well-formed request with another method: 405
  kBadRequest,        // not an HTTP/1.0 or HTTP/1.1 request line: 400
  kTooLarge,          // no complete head within |max_bytes|: 431
  // Never returned by classify_metrics_request(): the endpoint's own
  // verdict when a head did not complete in time, answered with 408.
  kTimedOut,
};

// Classifies the bytes |received| so far on one connection. The head ends
// at the first empty line (CRLF CRLF, or LF LF from lenient clients); bytes
// after it are ignored. kNeedMore only while |received| is shorter than
// |max_bytes| and holds no complete head; every other verdict is final.
MetricsRequest classify_metrics_request(std::string_view received,
                                        size_t max_bytes = kMaxMetricsRequestBytes);

// The complete response for |request| (any verdict but kNeedMore), with
// |body| as the 200 body (text exposition format) and a short text body
// otherwise. Always `Connection: close` and an exact Content-Length.
std::string metrics_response(MetricsRequest request, std::string_view body);

}  // namespace xd::server
