// Fuzzes the config loader (config/loader.h load_config_string): any text either loads or
// is refused with diagnostics, never a crash; a refused config comes with at least one error.
// File references in the text (secrets, key files) resolve against a directory that does
// not exist, so the fuzzer never reads the machine's files.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const auto result =
      portcullis::config::load_config_string(yaml, "fuzz.yaml", "/nonexistent-portcullis-fuzz");
  if (!result.ok() && result.errors.empty()) __builtin_trap();
  if (result.ok() && !result.errors.empty()) __builtin_trap();
  return 0;
}
