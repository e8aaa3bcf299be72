// AcceptedSocket: descriptor ownership.
#include "net/accepted_socket.h"

#include <unistd.h>

#include <utility>

namespace xd::net {

AcceptedSocket::AcceptedSocket(AcceptedSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      peer_ip_(std::move(other.peer_ip_)),
      peer_address_(std::move(other.peer_address_)) {}

AcceptedSocket& AcceptedSocket::operator=(AcceptedSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    peer_ip_ = std::move(other.peer_ip_);
    peer_address_ = std::move(other.peer_address_);
  }
  return *this;
}

AcceptedSocket::~AcceptedSocket() {
  if (fd_ >= 0) ::close(fd_);
}

int AcceptedSocket::release() { return std::exchange(fd_, -1); }

}  // namespace xd::net
