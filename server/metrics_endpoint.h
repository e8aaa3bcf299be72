// The metrics endpoint: a TCP listener that answers one HTTP request per
// connection (GET /metrics with the Prometheus text, anything else with
// 404, 405, 400 or 431) and closes. It is off unless configured, and it is
// built so that scraping, or abusing, it cannot disturb XMPP clients on the
// same loop: the request head is capped (metrics_http.h), a head that does
// not complete in time is answered 408 and closed, and connections beyond a
// small cap are refused at accept. It never blocks the loop and never
// interprets more than the request line; the text comes from its owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/listener.h"
#include "net/net_error.h"
#include "net/net_loop.h"
#include "server/metrics_http.h"

namespace xd::server {

struct MetricsEndpointOptions {
  // Longest request head read; beyond it the answer is 431.
  size_t max_request_bytes = kMaxMetricsRequestBytes;
  // From accept to a complete request head; then 408 and close.
  uint64_t request_timeout_ms = 5000;
  // Metrics connections open at once; more are closed at accept.
  size_t max_connections = 8;
  // After the answer, how long the peer may take to read it and close.
  uint64_t close_linger_ms = 2000;
};

class MetricsEndpoint final : private net::NetLoop::PrepareHook {
 public:
  // Appends the exposition text to |out|; called on the loop thread once
  // per GET or HEAD of /metrics. It must not call back into the endpoint.
  using Render = std::function<void(std::string& out)>;

  // Listens on |host_port| ("127.0.0.1:9100"; a name is resolved
  // synchronously, so only at startup). |loop| must outlive the endpoint.
  // Returns null with |error| set when the address cannot be bound.
  static std::unique_ptr<MetricsEndpoint> listen(net::NetLoop& loop, std::string_view host_port,
                                                 const MetricsEndpointOptions& options,
                                                 Render render, net::NetStatus& error);
  // Stops listening and drops every open metrics connection at once. Must
  // not be called from inside one of the endpoint's own callbacks (the
  // server destroys it from a signal handler or its destructor).
  ~MetricsEndpoint() override;
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  const std::string& local_address() const { return listener_->local_address(); }
  uint16_t port() const { return listener_->port(); }
  // Metrics connections open now.
  size_t connections() const { return clients_.size(); }

 private:
  class Client;
  MetricsEndpoint(net::NetLoop& loop, const MetricsEndpointOptions& options, Render render);
  void accept(net::AcceptedSocket&& socket);
  // |client|'s connection is closed: destroyed in the next prepare phase,
  // once the callback that reported it has unwound (conventions.md §6).
  void retire(Client& client);
  void on_loop_prepare() override;

  net::NetLoop& loop_;
  MetricsEndpointOptions options_;
  Render render_;
  std::unique_ptr<net::Listener> listener_;
  std::unordered_map<Client*, std::unique_ptr<Client>> clients_;
  std::vector<std::unique_ptr<Client>> retired_;
};

}  // namespace xd::server
