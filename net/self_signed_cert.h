// write_self_signed(): creates a throw-away self-signed server certificate and
// key for scripts/run and first-start convenience, so that a fresh xmppd can
// offer STARTTLS without an operator-supplied certificate. Such a
// certificate verifies only where it is explicitly trusted; production
// deployments use a real one. Performs file I/O only on the two given paths.
#pragma once

#include <string>

namespace xd::net {

// Generates an ECDSA P-256 key and an X.509 v3 certificate for |common_name|
// (also its only subjectAltName, as DNS or IP), self-signed with SHA-256 and
// valid from one hour ago for |valid_days| days. Writes the certificate to
// |cert_path| and the unencrypted key to |key_path| (created with mode 0600),
// both PEM, replacing existing files. Returns false and sets |error| when
// generation or writing fails; a partially written pair is then removed.
// Never calls back.
bool write_self_signed(const std::string& cert_path, const std::string& key_path,
                       const std::string& common_name, std::string& error, int valid_days = 3650);

}  // namespace xd::net
