#include "protocol/jid/unicode_support.h"

#include <unicode/uchar.h>

#include <cstdlib>

namespace xd::protocol::unicode {

const icu::Normalizer2& nfc() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || n == nullptr) std::abort();
  return *n;
}

const icu::Normalizer2& nfkc() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKCInstance(status);
  if (U_FAILURE(status) || n == nullptr) std::abort();
  return *n;
}

icu::UnicodeString map_width(const icu::UnicodeString& s) {
  icu::UnicodeString out;
  icu::UnicodeString mapping;
  for (int32_t i = 0; i < s.length(); i = s.moveIndex32(i, 1)) {
    const UChar32 c = s.char32At(i);
    const auto dt = u_getIntPropertyValue(c, UCHAR_DECOMPOSITION_TYPE);
    if ((dt == U_DT_WIDE || dt == U_DT_NARROW) && nfkc().getRawDecomposition(c, mapping)) {
      out.append(mapping);
    } else {
      out.append(c);
    }
  }
  return out;
}

}  // namespace xd::protocol::unicode
