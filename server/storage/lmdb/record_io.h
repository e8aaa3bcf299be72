// The byte-level reader and writer of LMDB records (record_codec.h gives
// the layouts): fixed-width little-endian integers, fixed-size byte arrays
// and u32-length-prefixed strings. The reader is total: the first short
// read latches failure and later reads return zeros, so a decoder checks
// done() once and never reads past its input or allocates a claimed size
// it does not have. Pure functions over bytes; never touches LMDB.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

namespace xd::server {

class RecordWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  template <size_t N>
  void bytes(const std::array<uint8_t, N>& in) {
    out_.append(reinterpret_cast<const char*>(in.data()), N);
  }
  void str(std::string_view s) {
    assert(s.size() <= std::numeric_limits<uint32_t>::max());
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void reserve(size_t n) { out_.reserve(n); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class RecordReader {
 public:
  explicit RecordReader(std::string_view in) : in_(in) {}

  uint8_t u8() { return take(1) ? static_cast<uint8_t>(in_[pos_ - 1]) : 0; }
  uint32_t u32() {
    if (!take(4)) return 0;
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in_[pos_ - 4 + i]);
    return v;
  }
  uint64_t u64() {
    if (!take(8)) return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(in_[pos_ - 8 + i]);
    return v;
  }
  template <size_t N>
  void bytes(std::array<uint8_t, N>& out) {
    if (take(N)) std::memcpy(out.data(), in_.data() + pos_ - N, N);
  }
  // The length is checked against the bytes left before anything is
  // allocated, so a corrupt length cannot make us reserve gigabytes.
  std::string str() {
    const uint32_t n = u32();
    if (!take(n)) return {};
    return std::string(in_.substr(pos_ - n, n));
  }
  size_t remaining() const { return ok_ ? in_.size() - pos_ : 0; }
  // True when every read succeeded and all input was consumed.
  bool done() const { return ok_ && pos_ == in_.size(); }

 private:
  bool take(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace xd::server
