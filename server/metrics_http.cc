#include "server/metrics_http.h"

#include "server/metrics.h"

namespace xd::server {
namespace {

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// A request-target: visible ASCII only (RFC 9112 §3.2).
bool is_target(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return false;
  }
  return true;
}

// The path of an origin-form ("/metrics?x") or absolute-form
// ("http://host:9100/metrics") target, without the query.
std::string_view target_path(std::string_view target) {
  if (target.front() != '/') {
    const size_t scheme = target.find("://");
    if (scheme == std::string_view::npos) return {};
    const size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find('?'));
}

MetricsRequest classify_head(std::string_view head) {
  const size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return MetricsRequest::kBadRequest;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return MetricsRequest::kBadRequest;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || !is_target(target)) return MetricsRequest::kBadRequest;
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return MetricsRequest::kBadRequest;
  const bool get = method == "GET";
  const bool head_only = method == "HEAD";
  if (!get && !head_only) return MetricsRequest::kMethodNotAllowed;
  if (target_path(target) != "/metrics") return MetricsRequest::kNotFound;
  return get ? MetricsRequest::kMetrics : MetricsRequest::kMetricsHead;
}

}  // namespace

MetricsRequest classify_metrics_request(std::string_view received, size_t max_bytes) {
  // RFC 9112 §2.2: empty lines before the request line are ignored.
  size_t start = 0;
  while (start < received.size() && start < max_bytes &&
         (received[start] == '\r' || received[start] == '\n')) {
    ++start;
  }
  const std::string_view rest = received.substr(start);
  // The head ends at the first empty line; a bare LF is accepted as a line
  // end (RFC 9112 §2.2 lets a recipient do so).
  size_t end = std::string_view::npos;
  for (size_t i = rest.find('\n'); i != std::string_view::npos; i = rest.find('\n', i + 1)) {
    if (i + 1 < rest.size() && rest[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < rest.size() && rest[i + 1] == '\r' && rest[i + 2] == '\n') {
      end = i + 3;
      break;
    }
    if (start + i >= max_bytes) break;
  }
  if (end == std::string_view::npos || start + end > max_bytes) {
    return received.size() >= max_bytes ? MetricsRequest::kTooLarge : MetricsRequest::kNeedMore;
  }
  return classify_head(rest.substr(0, end));
}

std::string metrics_response(MetricsRequest request, std::string_view body) {
  std::string_view status;
  std::string_view text;
  std::string_view extra;
  bool send_body = true;
  switch (request) {
    case MetricsRequest::kMetrics:
      status = "200 OK";
      text = body;
      break;
    case MetricsRequest::kMetricsHead:
      status = "200 OK";
      text = body;
      send_body = false;
      break;
    case MetricsRequest::kNotFound:
      status = "404 Not Found";
      text = "not found: the metrics are at /metrics\n";
      break;
    case MetricsRequest::kMethodNotAllowed:
      status = "405 Method Not Allowed";
      text = "method not allowed\n";
      extra = "Allow: GET, HEAD\r\n";
      break;
    case MetricsRequest::kTooLarge:
      status = "431 Request Header Fields Too Large";
      text = "request too large\n";
      break;
    case MetricsRequest::kTimedOut:
      status = "408 Request Timeout";
      text = "request timeout\n";
      break;
    case MetricsRequest::kNeedMore:
    case MetricsRequest::kBadRequest:
      status = "400 Bad Request";
      text = "bad request\n";
      break;
  }
  const bool ok = request == MetricsRequest::kMetrics || request == MetricsRequest::kMetricsHead;
  std::string out;
  out.reserve(160 + (send_body ? text.size() : 0));
  out += "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += ok ? kMetricsContentType : std::string_view("text/plain; charset=utf-8");
  out += "\r\nContent-Length: ";
  out += std::to_string(text.size());
  out += "\r\n";
  out += extra;
  out += "Connection: close\r\n\r\n";
  if (send_body) out += text;
  return out;
}

}  // namespace xd::server
