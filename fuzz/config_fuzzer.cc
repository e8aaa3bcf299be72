// Fuzz target for the configuration loader (TOML through toml++, then our
// key table, bounds and cross-field validation). Hostile-inputs.md B12
// asks every XML and config entry point to be fuzzed; the loader must turn
// any text into a value or an error message, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  xd::server::ServerConfig config;
  std::string error;
  if (xd::server::load_config_text(text, "fuzz.toml", config, error)) {
    if (!error.empty()) __builtin_trap();  // success leaves no error
    xd::server::validate_config(config, error);
    // The description of any accepted configuration must load back to the
    // same values (describe_config is what --print-config shows users).
    xd::server::ServerConfig again;
    std::string error2;
    if (!xd::server::load_config_text(xd::server::describe_config(config), "again.toml", again,
                                      error2)) {
      __builtin_trap();
    }
    if (xd::server::describe_config(again) != xd::server::describe_config(config)) __builtin_trap();
  } else if (error.empty()) {
    __builtin_trap();  // a failure always says why
  }
  return 0;
}
