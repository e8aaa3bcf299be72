// ICU helpers shared by PRECIS enforcement and JID domain mapping: the
// NFC/NFKC normalizer instances and the width mapping of RFC 8264 §9.2 /
// RFC 5895 §2. Internal to protocol/jid/; never performs I/O.
#pragma once

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

namespace xd::protocol::unicode {

// ICU's shared instances. A failure to load ICU's data is an environment
// failure, not a peer error (conventions.md §4), so these abort.
const icu::Normalizer2& nfc();
const icu::Normalizer2& nfkc();

// Maps each fullwidth or halfwidth code point to its decomposition mapping.
// Only code points whose Decomposition_Type is Wide or Narrow are touched:
// NFKC on the whole string would also fold compatibility characters such as
// 'ᴮ' into 'B', which the PRECIS profiles must instead reject.
icu::UnicodeString map_width(const icu::UnicodeString& s);

}  // namespace xd::protocol::unicode
