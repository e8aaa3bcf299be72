// Prints the test vectors of spec/e2e.md §11 (the content of
// spec/e2e-vectors.txt); scripts/gen_e2e_vectors writes the file.
#include <cstdio>

#include "spec/tools/e2e_vectors_gen.h"

int main() {
  const std::string text = xd::spec::e2e_vectors::generate();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}
