// AcceptedSocket: a TCP connection the listener accepted but nobody owns yet.
// The accept callback either hands it to Connection::adopt() or lets it go
// out of scope, which closes it at once: refusing a connection (per-IP caps,
// XEP-0205 §4.1) costs no libuv handle and no allocation. Never performs I/O
// other than close().
#pragma once

#include <string>
#include <utility>

namespace xd::net {

class AcceptedSocket {
 public:
  AcceptedSocket() = default;
  // Takes ownership of the connected, non-blocking, close-on-exec socket
  // |fd|. |peer_ip| / |peer_address| are format_ip() / format_address() of
  // the peer.
  AcceptedSocket(int fd, std::string peer_ip, std::string peer_address)
      : fd_(fd), peer_ip_(std::move(peer_ip)), peer_address_(std::move(peer_address)) {}
  AcceptedSocket(AcceptedSocket&& other) noexcept;
  AcceptedSocket& operator=(AcceptedSocket&& other) noexcept;
  AcceptedSocket(const AcceptedSocket&) = delete;
  AcceptedSocket& operator=(const AcceptedSocket&) = delete;
  // Closes the socket unless release() took it.
  ~AcceptedSocket();

  bool valid() const { return fd_ >= 0; }
  // "203.0.113.7" or "2001:db8::1" (IPv4-mapped IPv6 shown as IPv4).
  const std::string& peer_ip() const { return peer_ip_; }
  // "203.0.113.7:50123" or "[2001:db8::1]:50123".
  const std::string& peer_address() const { return peer_address_; }

  // Gives up ownership of the descriptor (for Connection::adopt). Returns -1
  // if there is none.
  int release();

 private:
  int fd_ = -1;
  std::string peer_ip_;
  std::string peer_address_;
};

}  // namespace xd::net
