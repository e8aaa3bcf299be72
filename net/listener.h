// Listener: a TCP listening socket on HOST:PORT that hands each accepted
// connection to an accept callback as an AcceptedSocket, which the callback
// adopts into a Connection or drops (refusing it). It survives descriptor
// exhaustion without spinning (hostile-inputs.md "fd exhaustion", catalogue
// 60): on EMFILE/ENFILE it frees a reserved descriptor, accepts and closes
// the pending connections ("we are overloaded"), re-reserves it and pauses
// accepting briefly. It never reads or writes connection data.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/accepted_socket.h"
#include "net/net_error.h"

struct uv_poll_s;

namespace xd::net {

class NetLoop;
class Timer;

struct ListenerOptions {
  // listen(2) backlog; the kernel caps it at net.core.somaxconn.
  int backlog = 511;
  // SO_REUSEPORT, for one listener per loop/process on the same port.
  bool reuse_port = false;
  // For an IPv6 wildcard, accept only IPv6 (IPV6_V6ONLY); default dual-stack.
  bool ipv6_only = false;
  // Pause after an accept failed for lack of descriptors or memory
  // (Prosody pauses 10 s; short keeps recovery quick once fds are freed).
  std::uint64_t overload_pause_ms = 100;
  // Connections accepted per readiness event before yielding to the loop.
  int max_accepts_per_wakeup = 64;
};

class Listener {
 public:
  // Receives each accepted connection. Called from the loop; may destroy
  // the Listener (no further callbacks then). Not adopting |socket| closes it.
  using AcceptCallback = std::function<void(AcceptedSocket&& socket)>;

  // Binds |host_port| ("127.0.0.1:5222", "[::]:5222", "localhost:0"; a name
  // is resolved synchronously, so use it only at startup) and starts
  // accepting. Port 0 picks a free port (see port()). Returns null with
  // |error| set (kInvalidAddress, kResolveFailed, kSocketFailed,
  // kBindFailed, kListenFailed, kTooManyOpenFiles); no callback runs then.
  static std::unique_ptr<Listener> listen(NetLoop& loop, std::string_view host_port,
                                          const ListenerOptions& options, AcceptCallback on_accept,
                                          NetStatus& error);

  // Stops accepting and closes the socket at once (the port refuses new
  // connections from here on); the poll handle is freed in its close callback.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // The bound port (the chosen one when 0 was asked for).
  std::uint16_t port() const { return port_; }
  // The bound address as "127.0.0.1:40123" / "[::1]:40123".
  const std::string& local_address() const { return local_address_; }

  // Stops / restarts accepting on the owner's behalf (e.g. at a global
  // connection cap). Pending connections wait in the kernel backlog.
  void pause_accepting();
  void resume_accepting();

  // --- Observation points (tests, metrics). ------------------------------
  // Readiness events handled (bounded while overloaded: no busy loop).
  std::uint64_t wakeups() const { return wakeups_; }
  // Connections handed to the accept callback.
  std::uint64_t accepted() const { return accepted_; }
  // Times accept() failed with EMFILE/ENFILE.
  std::uint64_t fd_exhaustion_events() const { return fd_exhaustion_events_; }
  // Connections accepted and immediately closed while out of descriptors.
  std::uint64_t shed() const { return shed_; }
  // Overload pauses that ended and accepting resumed.
  std::uint64_t overload_resumes() const { return overload_resumes_; }
  // True while the reserved descriptor is held.
  bool has_reserved_fd() const { return reserved_fd_ >= 0; }

 private:
  Listener(NetLoop& loop, const ListenerOptions& options, AcceptCallback on_accept);

  static void on_poll(uv_poll_s* handle, int status, int events);
  void accept_ready();
  void shed_pending();
  void overload_pause();
  void update_polling();

  NetLoop* loop_;
  ListenerOptions options_;
  AcceptCallback on_accept_;
  uv_poll_s* poll_ = nullptr;
  int fd_ = -1;
  int reserved_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string local_address_;
  std::unique_ptr<Timer> overload_timer_;
  bool* destroyed_flag_ = nullptr;  // set while accept_ready() is running
  bool owner_paused_ = false;
  bool overload_paused_ = false;
  bool polling_ = false;
  std::uint64_t wakeups_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t fd_exhaustion_events_ = 0;
  std::uint64_t shed_ = 0;
  std::uint64_t overload_resumes_ = 0;
};

}  // namespace xd::net
