// ASCII inputs for the differential tests that check the ICU-free fast paths
// of precis.h and jid.h against their ICU implementations: every string of
// up to three octets over the printable ASCII characters plus a few
// controls, every string of up to two octets over all of ASCII, strings at
// the length limits, and pseudo-random longer strings from a fixed seed,
// built from the characters and tokens that the rules treat specially.
// Test-only; never performs I/O.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace xd::protocol::test {

// The alphabet of the exhaustive part: U+0020..U+007E and the controls that
// most often appear by accident (NUL, tab, line feed, unit separator, DEL).
inline std::string exhaustive_alphabet() {
  std::string a;
  for (int c = 0x20; c <= 0x7E; ++c) a.push_back(static_cast<char>(c));
  for (const char c : {'\0', '\t', '\n', '\x1F', '\x7F'}) a.push_back(c);
  return a;
}

// The number of pseudo-random strings for_each_ascii_input() generates.
inline constexpr std::size_t kRandomAsciiInputs = 20000;

// Calls |f| with every input described above, about 1.05 million in all.
// The random part uses std::mt19937's raw output, which the standard fixes,
// so every platform sees the same strings.
template <class F>
void for_each_ascii_input(F&& f) {
  const std::string alphabet = exhaustive_alphabet();
  std::string s;
  f(std::string_view());
  for (const char a : alphabet) {
    s.assign(1, a);
    f(s);
    for (const char b : alphabet) {
      s.assign({a, b});
      f(s);
      for (const char c : alphabet) {
        s.assign({a, b, c});
        f(s);
      }
    }
  }
  // Every ASCII octet, controls included, alone and in pairs.
  for (int a = 0; a < 0x80; ++a) {
    for (int b = -1; b < 0x80; ++b) {
      s.assign(1, static_cast<char>(a));
      if (b >= 0) s.push_back(static_cast<char>(b));
      f(s);
    }
  }
  // The length limits: 63/64-octet labels, 1023/1024-octet parts and the
  // 4092/4093-octet raw cap (jid.cc kMaxRawPartBytes), in both cases.
  for (const std::size_t n : {62, 63, 64, 1022, 1023, 1024, 4092, 4093}) {
    f(std::string(n, 'a'));
    f(std::string(n, 'A'));
    f(std::string(n - 2, 'a') + ".b");
    f("x." + std::string(n - 2, 'B'));
  }
  for (const std::size_t labels : {255, 256, 511, 512, 513, 2046, 2047}) {
    std::string name;
    for (std::size_t i = 0; i < labels; ++i) name += i == 0 ? "a" : ".a";
    f(name);
    f(name + ".");
  }
  // Random strings from tokens: IDNA prefixes and valid A-labels (among
  // them right-to-left ones, which make the whole name subject to the Bidi
  // Rule), IP literal pieces, the localpart's forbidden characters, space,
  // tab, DEL and letters of both cases; a quarter of the pieces are single
  // octets drawn from all of ASCII, NUL and the other controls included.
  // Separated by '|', which no token contains.
  static constexpr std::string_view kTokenList =
      "xn--|XN--|xn--bcher-kva|XN--BCHER-KVA|xn--mnchen-3ya|xn--a|xn--9ca|xn--4dbc|xn--ngb|"
      ".|.|..|-|--|a|Z|m|Q|0|1|9|255|256|010|[|]|:|::|ffff|@|/|\"|&|'|<|>| |\t|\x7F|_|~|%|\\|!|"
      "example|COM|1.2.3.4|::1";
  std::vector<std::string_view> tokens;
  for (std::size_t pos = 0; pos <= kTokenList.size();) {
    const std::size_t bar = std::min(kTokenList.find('|', pos), kTokenList.size());
    tokens.push_back(kTokenList.substr(pos, bar - pos));
    pos = bar + 1;
  }
  std::mt19937 rng(20261128);
  for (std::size_t i = 0; i < kRandomAsciiInputs; ++i) {
    s.clear();
    const std::size_t pieces = 2 + rng() % 24;
    for (std::size_t p = 0; p < pieces; ++p) {
      if (rng() % 4 == 0) {
        s.push_back(static_cast<char>(rng() % 0x80));  // any ASCII octet
      } else {
        s += tokens[rng() % tokens.size()];
      }
    }
    f(s);
  }
}

// |s| with every octet outside U+0021..U+007E written as \xNN, for messages.
inline std::string escaped(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7F && c != '\\' && c != '"') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out + "\"";
}

}  // namespace xd::protocol::test
