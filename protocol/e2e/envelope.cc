#include "protocol/e2e/envelope.h"

#include <algorithm>

#include "protocol/name_table.h"

namespace xd::protocol::e2e {
namespace {

struct Entry {
  std::string_view name;
  std::string_view message;
};

constexpr Entry kEntries[] = {
#define XD_X(e, n, m) {n, m},
    XD_ENVELOPE_ERRORS(XD_X)
#undef XD_X
};

static_assert(static_cast<int>(EnvelopeError::kFirst_) + 1 == 800 &&
                  static_cast<int>(EnvelopeError::kLast_) <= 820,
              "envelope errors own [800, 819]");

// A cursor over the input that never reads past its end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool key(Key32& out) {
    if (in_.size() - pos_ < out.size()) return false;
    std::copy_n(in_.begin() + static_cast<std::ptrdiff_t>(pos_), out.size(), out.begin());
    pos_ += out.size();
    return true;
  }
  bool u32(std::uint32_t& out) {
    if (in_.size() - pos_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) out = (out << 8) | static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }
  std::size_t pos() const { return pos_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

void put_u32(std::uint32_t v, std::string& out) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_key(const Key32& k, std::string& out) {
  out.append(reinterpret_cast<const char*>(k.data()), k.size());
}

}  // namespace

std::string_view envelope_error_name(EnvelopeError error) {
  const Entry* e = name_table_entry(kEntries, error);
  return e ? e->name : "unknown";
}

// spec/e2e.md §6.2: the checks in the order the section lists them.
EnvelopeError parse_envelope(std::string_view bytes, Envelope& out) {
  if (bytes.size() < 2) return EnvelopeError::kTruncated;
  if (static_cast<std::uint8_t>(bytes[0]) != kEnvelopeVersion) return EnvelopeError::kVersion;
  const auto type = static_cast<std::uint8_t>(bytes[1]);
  if (type != kEnvelopeTypeMessage && type != kEnvelopeTypePreKey) return EnvelopeError::kType;
  out = Envelope{};
  out.prekey = type == kEnvelopeTypePreKey;
  Reader r(bytes.substr(2));
  if (out.prekey) {
    if (!r.key(out.sender_identity) || !r.key(out.base_key) || !r.u32(out.signed_prekey_id) ||
        !r.u32(out.one_time_prekey_id)) {
      return EnvelopeError::kTruncated;
    }
  }
  if (!r.key(out.ratchet_key) || !r.u32(out.previous_chain_length) || !r.u32(out.message_number)) {
    return EnvelopeError::kTruncated;
  }
  const std::size_t header = 2 + r.pos();
  const std::size_t length = bytes.size() - header;
  if (length > kMaxEnvelopeCiphertext) return EnvelopeError::kTooLong;
  if (length < kMinEnvelopeCiphertext) return EnvelopeError::kTooShort;
  out.authenticated_prefix = bytes.substr(0, header);
  out.ciphertext = bytes.substr(header);
  return EnvelopeError::kOk;
}

void append_envelope_header(const Envelope& header, std::string& out) {
  out.push_back(static_cast<char>(kEnvelopeVersion));
  out.push_back(static_cast<char>(header.prekey ? kEnvelopeTypePreKey : kEnvelopeTypeMessage));
  if (header.prekey) {
    put_key(header.sender_identity, out);
    put_key(header.base_key, out);
    put_u32(header.signed_prekey_id, out);
    put_u32(header.one_time_prekey_id, out);
  }
  put_key(header.ratchet_key, out);
  put_u32(header.previous_chain_length, out);
  put_u32(header.message_number, out);
}

}  // namespace xd::protocol::e2e
