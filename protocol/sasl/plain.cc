#include "protocol/sasl/plain.h"

#include <climits>
#include <string>

#include "protocol/sasl/secret_equal.h"

namespace xd::protocol {
namespace {

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto in = [&](size_t at, unsigned char lo, unsigned char hi) {
    if (at >= n) return false;
    auto c = static_cast<unsigned char>(s[at]);
    return c >= lo && c <= hi;
  };
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the first continuation byte
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;  // no overlong forms
      if (c == 0xed) hi = 0x9f;  // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;  // no overlong forms
      if (c == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (len > 1 && !in(i + 1, lo, hi)) return false;
    for (size_t k = 2; k < len; ++k) {
      if (!in(i + k, 0x80, 0xbf)) return false;
    }
    i += len;
  }
  return true;
}

// RFC 4616 §2: 1*SAFE where SAFE is any UTF8-char except NUL (splitting on
// NUL already removed those), bounded by kPlainMaxFieldBytes.
bool valid_field(std::string_view f) { return f.size() <= kPlainMaxFieldBytes && valid_utf8(f); }

}  // namespace

SaslResult<PlainMessage> plain_parse(std::string_view message, std::string_view domain) {
  // message = [authzid] UTF8NUL authcid UTF8NUL passwd  (RFC 4616 §2)
  const size_t nul1 = message.find('\0');
  if (nul1 == std::string_view::npos) return SaslCondition::kMalformedRequest;
  const size_t nul2 = message.find('\0', nul1 + 1);
  if (nul2 == std::string_view::npos) return SaslCondition::kMalformedRequest;
  if (message.find('\0', nul2 + 1) != std::string_view::npos) {
    return SaslCondition::kMalformedRequest;
  }
  PlainMessage m;
  m.authzid = message.substr(0, nul1);
  m.authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
  m.password = message.substr(nul2 + 1);
  if (m.authcid.empty() || m.password.empty() || !valid_field(m.authzid) ||
      !valid_field(m.authcid) || !valid_field(m.password)) {
    return SaslCondition::kMalformedRequest;
  }
  // hostile-inputs.md decision 5: "victim@host\0attacker\0pw" must not log
  // the attacker in as the victim (ejabberd 26.07, commit e0f0a5c).
  if (!m.authzid.empty() && m.authzid != m.authcid) {
    const bool full_match =
        !domain.empty() && m.authzid.size() == m.authcid.size() + 1 + domain.size() &&
        m.authzid.substr(0, m.authcid.size()) == m.authcid && m.authzid[m.authcid.size()] == '@' &&
        m.authzid.substr(m.authcid.size() + 1) == domain;
    if (!full_match) return SaslCondition::kInvalidAuthzid;
  }
  return m;
}

bool plain_verify(const ScramCredentials& credentials, std::string_view prepared_password) {
  const size_t n = scram_hash_size(credentials.hash);
  if (credentials.salt.empty() || credentials.iterations < 1 || credentials.iterations > INT_MAX ||
      credentials.stored_key.size() != n || prepared_password.size() > INT_MAX ||
      credentials.salt.size() > INT_MAX) {
    return false;
  }
  ScramCredentials derived =
      scram_derive(credentials.hash, prepared_password, credentials.salt, credentials.iterations);
  // Constant time (catalogue 41): the same compare as a SCRAM proof.
  const bool ok = secret_equal(derived.stored_key, credentials.stored_key);
  scram_wipe(derived);
  return ok;
}

}  // namespace xd::protocol
