// Listener: our own accept loop on a uv_poll_t, so that descriptor
// exhaustion is handled here (reserved fd, shedding, pause) and refused
// connections cost no uv_tcp_t; uv_listen() would do the EMFILE shedding but
// offers no way to pause accepting.
#include "net/listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "net/address.h"
#include "net/net_loop.h"
#include "net/timer.h"

namespace xd::net {
namespace {

int open_reserved_fd() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

NetStatus errno_status(NetError code, const char* what, int err) {
  return net_fail(code, std::string(what) + ": " + std::strerror(err));
}

// Resolves |hp| to a bindable address. Names go through getaddrinfo (this
// blocks, which is acceptable at startup only).
NetStatus resolve(const HostPort& hp, sockaddr_storage& out, socklen_t& len) {
  if (to_sockaddr(hp, out)) {
    len = out.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    return net_ok();
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(hp.port);
  if (int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &res);
      rc != 0 || res == nullptr) {
    return net_fail(NetError::kResolveFailed, hp.host + ": " + ::gai_strerror(rc));
  }
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  len = res->ai_addrlen;
  ::freeaddrinfo(res);
  return net_ok();
}

}  // namespace

Listener::Listener(NetLoop& loop, const ListenerOptions& options, AcceptCallback on_accept)
    : loop_(&loop), options_(options), on_accept_(std::move(on_accept)) {}

std::unique_ptr<Listener> Listener::listen(NetLoop& loop, std::string_view host_port,
                                           const ListenerOptions& options, AcceptCallback on_accept,
                                           NetStatus& error) {
  HostPort hp;
  if (!parse_host_port(host_port, hp)) {
    error = net_fail(NetError::kInvalidAddress, std::string(host_port));
    return nullptr;
  }
  sockaddr_storage addr;
  socklen_t addr_len = 0;
  if (error = resolve(hp, addr, addr_len); !error.ok()) return nullptr;

  std::unique_ptr<Listener> l(new Listener(loop, options, std::move(on_accept)));
  l->fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd_ < 0) {
    const int e = errno;
    error = errno_status(
        e == EMFILE || e == ENFILE ? NetError::kTooManyOpenFiles : NetError::kSocketFailed,
        "socket", e);
    return nullptr;
  }
  const int one = 1;
  // SO_REUSEADDR: restart while old connections sit in TIME_WAIT.
  if (::setsockopt(l->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (options.reuse_port &&
       ::setsockopt(l->fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)) {
    error = errno_status(NetError::kSocketFailed, "setsockopt", errno);
    return nullptr;
  }
  if (addr.ss_family == AF_INET6) {
    const int v6only = options.ipv6_only ? 1 : 0;
    if (::setsockopt(l->fd_, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
      error = errno_status(NetError::kSocketFailed, "IPV6_V6ONLY", errno);
      return nullptr;
    }
  }
  if (::bind(l->fd_, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
    error = errno_status(NetError::kBindFailed, std::string(host_port).c_str(), errno);
    return nullptr;
  }
  if (::listen(l->fd_, options.backlog) != 0) {
    error = errno_status(NetError::kListenFailed, "listen", errno);
    return nullptr;
  }
  sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  if (::getsockname(l->fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    error = errno_status(NetError::kSocketFailed, "getsockname", errno);
    return nullptr;
  }
  l->local_address_ = format_address(reinterpret_cast<const sockaddr*>(&bound));
  l->port_ =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
  // The descriptor we give up when the process runs out (libuv's
  // uv__emfile_trick, done here so we can also pause).
  l->reserved_fd_ = open_reserved_fd();
  if (l->reserved_fd_ < 0) {
    error = errno_status(NetError::kTooManyOpenFiles, "reserve fd", errno);
    return nullptr;
  }
  auto* poll = new uv_poll_t;
  if (int rc = uv_poll_init_socket(loop.uv_loop(), poll, l->fd_); rc != 0) {
    delete poll;
    error = net_fail_uv(NetError::kSocketFailed, rc);
    return nullptr;
  }
  poll->data = l.get();
  l->poll_ = poll;
  l->update_polling();
  return l;
}

Listener::~Listener() {
  if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
  overload_timer_.reset();
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  }
  // libuv (poll.html): the descriptor may be closed right after uv_close(),
  // and closing it now makes the port refuse connections at once.
  if (fd_ >= 0) ::close(fd_);
  if (reserved_fd_ >= 0) ::close(reserved_fd_);
}

void Listener::pause_accepting() {
  owner_paused_ = true;
  update_polling();
}

void Listener::resume_accepting() {
  owner_paused_ = false;
  update_polling();
}

void Listener::update_polling() {
  if (poll_ == nullptr) return;
  const bool want = !owner_paused_ && !overload_paused_;
  if (want == polling_) return;
  if (want) {
    uv_poll_start(poll_, UV_READABLE, &Listener::on_poll);
  } else {
    uv_poll_stop(poll_);
  }
  polling_ = want;
}

void Listener::on_poll(uv_poll_s* handle, int status, int /*events*/) {
  auto* self = static_cast<Listener*>(handle->data);
  if (self == nullptr) return;
  if (status < 0) {
    // The socket itself is in error: do not spin on it.
    ++self->wakeups_;
    self->overload_pause();
    return;
  }
  self->accept_ready();
}

void Listener::accept_ready() {
  ++wakeups_;
  bool destroyed = false;
  destroyed_flag_ = &destroyed;
  // Clears destroyed_flag_ on every exit (also an exception thrown through
  // the callback), unless the callback destroyed us.
  struct FlagReset {
    Listener* self;
    const bool& destroyed;
    ~FlagReset() {
      if (!destroyed) self->destroyed_flag_ = nullptr;
    }
  } reset{this, destroyed};
  for (int i = 0; i < options_.max_accepts_per_wakeup && !owner_paused_ && !overload_paused_; ++i) {
    sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    const int fd =
        ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ++accepted_;
      const auto* sa = reinterpret_cast<const sockaddr*>(&peer);
      on_accept_(AcceptedSocket(fd, format_ip(sa), format_address(sa)));
      if (destroyed) return;
      continue;
    }
    const int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) break;
    // accept(2), Linux: errors of the pending connection itself are
    // reported here and mean "try the next one".
    if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == ENETDOWN || e == ENOPROTOOPT ||
        e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH || e == EOPNOTSUPP || e == ENETUNREACH) {
      continue;
    }
    if (e == EMFILE || e == ENFILE) {
      ++fd_exhaustion_events_;
      shed_pending();
    }
    // EMFILE/ENFILE and ENOBUFS/ENOMEM alike: the listening socket stays
    // readable, so without a pause the loop would spin (catalogue 60).
    overload_pause();
    break;
  }
}

void Listener::shed_pending() {
  if (reserved_fd_ < 0) return;  // could not re-reserve last time
  ::close(reserved_fd_);
  reserved_fd_ = -1;
  // Accept and close what is pending so those clients learn at once that we
  // are overloaded instead of timing out (libuv uv__emfile_trick). Bounded:
  // a flood faster than this loop must not keep us here.
  const int bound = 4 * options_.max_accepts_per_wakeup;
  for (int i = 0; i < bound; ++i) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    ::close(fd);
    ++shed_;
  }
  // Another thread may have taken the descriptor meanwhile; then we retry
  // when the pause ends.
  reserved_fd_ = open_reserved_fd();
}

void Listener::overload_pause() {
  overload_paused_ = true;
  update_polling();
  if (!overload_timer_) {
    overload_timer_ = std::make_unique<Timer>(*loop_, [this] {
      overload_paused_ = false;
      ++overload_resumes_;
      if (reserved_fd_ < 0) reserved_fd_ = open_reserved_fd();
      update_polling();
    });
  }
  overload_timer_->start(options_.overload_pause_ms);
}

}  // namespace xd::net
