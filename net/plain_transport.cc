// PlainTransport: pass-through.
#include "net/plain_transport.h"

namespace xd::net {

NetStatus PlainTransport::start(std::string& /*wire_out*/) { return net_ok(); }

NetStatus PlainTransport::decode(std::string_view wire, std::span<char> /*scratch*/,
                                 std::string& /*wire_out*/, TransportSink& sink) {
  if (!wire.empty()) sink.on_plaintext(wire);
  return net_ok();
}

NetStatus PlainTransport::encode(std::string& plaintext, std::string& wire_out) {
  if (wire_out.empty()) {
    wire_out.swap(plaintext);  // the common case: no copy
  } else {
    wire_out += plaintext;
  }
  plaintext.clear();
  return net_ok();
}

void PlainTransport::shutdown(std::string& /*wire_out*/) {}

bool PlainTransport::tls_info(TlsInfo& /*out*/) const { return false; }

}  // namespace xd::net
