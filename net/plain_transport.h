// PlainTransport: the identity transport of an unencrypted TCP stream, used
// before STARTTLS and on test listeners. Bytes pass through without a copy.
// Never performs I/O.
#pragma once

#include "net/transport.h"

namespace xd::net {

class PlainTransport final : public Transport {
 public:
  bool is_tls() const override { return false; }
  bool ready() const override { return true; }
  NetStatus start(std::string& wire_out) override;
  // Delivers |wire| unchanged in one on_plaintext() call.
  NetStatus decode(std::string_view wire, std::span<char> scratch, std::string& wire_out,
                   TransportSink& sink) override;
  NetStatus encode(std::string& plaintext, std::string& wire_out) override;
  void shutdown(std::string& wire_out) override;
  bool tls_info(TlsInfo& out) const override;
};

}  // namespace xd::net
