#include "server/metrics_endpoint.h"

#include <algorithm>
#include <utility>

#include "net/connection.h"
#include "net/timer.h"
#include "server/log.h"

namespace xd::server {

// One metrics connection: collects the request head, answers once, then
// lets the connection drain and close. Owns its connection and its timer;
// destroyed by the endpoint after on_closed().
class MetricsEndpoint::Client final : public net::ConnectionHandler {
 public:
  explicit Client(MetricsEndpoint& endpoint)
      : endpoint_(endpoint), deadline_(endpoint.loop_, [this] { on_deadline(); }) {}

  bool start(net::AcceptedSocket&& socket) {
    net::ConnectionOptions o;
    o.close_linger_ms = endpoint_.options_.close_linger_ms;
    // The head is capped far below one read's worth, so neither a rate
    // limit nor a large write cap is needed; the answer always fits.
    o.read_rate.bytes_per_second = 0;
    net::NetStatus status;
    connection_ = net::Connection::adopt(endpoint_.loop_, std::move(socket), *this, o, status);
    if (!connection_) return false;
    deadline_.start(endpoint_.options_.request_timeout_ms);
    return true;
  }

  void on_read(net::Connection&, std::string_view bytes) override {
    if (answered_) return;
    const size_t max = endpoint_.options_.max_request_bytes;
    const size_t room = max - std::min(max, request_.size());
    request_.append(bytes.substr(0, room));
    // A head can only have ended in a chunk with a line feed, or be over
    // the cap; anything else cannot change the verdict, so a peer
    // trickling bytes does not make us rescan the buffer each time.
    if (bytes.find('\n') == std::string_view::npos && request_.size() < max) return;
    const MetricsRequest verdict = classify_metrics_request(request_, max);
    if (verdict == MetricsRequest::kNeedMore) return;
    answer(verdict);
  }

  void on_tls_ready(net::Connection&) override {}  // never TLS

  void on_closed(net::Connection&, std::string_view) override {
    deadline_.stop();
    endpoint_.retire(*this);
  }

 private:
  void on_deadline() {
    // The peer did not send a complete head in time (a slowloris, or a
    // port scanner): 408, then the connection drains and closes.
    if (!answered_) answer(MetricsRequest::kTimedOut);
  }

  void answer(MetricsRequest verdict) {
    answered_ = true;
    deadline_.stop();
    request_.clear();
    request_.shrink_to_fit();
    std::string body;
    if (verdict == MetricsRequest::kMetrics || verdict == MetricsRequest::kMetricsHead) {
      endpoint_.render_(body);
    }
    connection_->write(metrics_response(verdict, body));
    // Connection: close. Further input is discarded; the connection closes
    // once the peer has read the answer and closed, or after the linger.
    connection_->close_after_flush();
  }

  MetricsEndpoint& endpoint_;
  std::unique_ptr<net::Connection> connection_;
  net::Timer deadline_;
  std::string request_;
  bool answered_ = false;
};

MetricsEndpoint::MetricsEndpoint(net::NetLoop& loop, const MetricsEndpointOptions& options,
                                 Render render)
    : loop_(loop), options_(options), render_(std::move(render)) {}

std::unique_ptr<MetricsEndpoint> MetricsEndpoint::listen(net::NetLoop& loop,
                                                         std::string_view host_port,
                                                         const MetricsEndpointOptions& options,
                                                         Render render, net::NetStatus& error) {
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint(loop, options, std::move(render)));
  MetricsEndpoint* self = e.get();
  // A short backlog: a scraper connects once per interval.
  net::ListenerOptions lo;
  lo.backlog = 64;
  e->listener_ = net::Listener::listen(
      loop, host_port, lo,
      [self](net::AcceptedSocket&& socket) { self->accept(std::move(socket)); }, error);
  if (!e->listener_) return nullptr;
  return e;
}

MetricsEndpoint::~MetricsEndpoint() {
  loop_.unschedule(*this);
  listener_.reset();
  clients_.clear();
  retired_.clear();
}

void MetricsEndpoint::accept(net::AcceptedSocket&& socket) {
  // Bounded: beyond the cap the socket closes as it goes out of scope,
  // costing no handle and no memory.
  if (clients_.size() >= options_.max_connections) {
    XD_DEBUG("metrics: refusing %s: %zu connections open", socket.peer_address().c_str(),
             clients_.size());
    return;
  }
  auto client = std::make_unique<Client>(*this);
  if (!client->start(std::move(socket))) return;
  Client* raw = client.get();
  clients_.emplace(raw, std::move(client));
}

void MetricsEndpoint::retire(Client& client) {
  auto it = clients_.find(&client);
  if (it == clients_.end()) return;
  retired_.push_back(std::move(it->second));
  clients_.erase(it);
  loop_.schedule(*this);
}

void MetricsEndpoint::on_loop_prepare() { retired_.clear(); }

}  // namespace xd::server
