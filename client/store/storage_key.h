// The account's storage key: 32 random octets that encrypt every secret the
// client keeps on disk (client/store/key_file.h holds it, ClientStore uses
// it). This unit only holds and wipes the octets; it never writes them
// anywhere and never logs them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace xd::client {

// A fixed-size secret that erases itself (sodium_memzero) when destroyed or
// overwritten, so a copy does not outlive its owner in freed memory. Copies
// are allowed (the store keeps its own); each copy wipes itself.
class StorageKey {
 public:
  static constexpr std::size_t kSize = 32;

  // All zero octets: a key that was never filled. Callers fill it through
  // data() (create_key_file, open_key_file).
  StorageKey() = default;
  StorageKey(const StorageKey& other) = default;
  StorageKey& operator=(const StorageKey& other) = default;
  ~StorageKey();

  std::uint8_t* data() { return bytes_.data(); }
  const std::uint8_t* data() const { return bytes_.data(); }
  static constexpr std::size_t size() { return kSize; }

  // Constant-time comparison (sodium_memcmp), for tests and sanity checks.
  bool equals(const StorageKey& other) const;

  // Overwrites the octets with zeros now.
  void wipe();

 private:
  std::array<std::uint8_t, kSize> bytes_{};
};

}  // namespace xd::client
