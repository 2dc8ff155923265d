// Fuzzes the API-key parser (auth/api_key/key_format.h): whatever it accepts has the
// documented shape, and a key rebuilt from the parsed parts is the input again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/api_key/key_format.h"

namespace ak = portcullis::auth::api_key;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)ak::is_base62(input);
  (void)ak::valid_key_id(input);

  ak::ParsedKey parsed;
  const ak::ParseError e = ak::parse_key(input, parsed);
  (void)ak::describe(e);
  if (e != ak::ParseError::None) return 0;
  if (input.size() != ak::kKeyLength) __builtin_trap();
  if (!ak::valid_key_id(parsed.id) || parsed.secret.size() != ak::kSecretLength) __builtin_trap();
  if (!ak::is_base62(parsed.secret)) __builtin_trap();
  if (ak::make_key(parsed.id, parsed.secret) != input) __builtin_trap();
  return 0;
}
