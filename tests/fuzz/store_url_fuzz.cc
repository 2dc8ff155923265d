// Fuzzes the key store URL parser and its masking (config/key_store_url.h), and the text
// conversions of PostgreSQL values (auth/api_key/pg_values.h), with the properties the
// gateway relies on: nothing crashes; a parsed URL's password never survives masking (in its
// encoded form, where it sat in the URL); libpq values hold no NUL or control character;
// masking is idempotent; bytea and integers round-trip.
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/api_key/pg_values.h"
#include "config/key_store_url.h"

using namespace portcullis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const std::string masked = config::mask_store_url(input);
  if (config::mask_store_url(masked) != masked) __builtin_trap();

  config::KeyStoreLocation loc;
  std::string error;
  if (config::parse_key_store_url(input, "/etc/portcullis", loc, error)) {
    if (loc.display != masked) __builtin_trap();
    if (!loc.password.empty()) {
      auto u = boost::urls::parse_uri(input);
      if (!u) __builtin_trap();
      const std::string encoded(u->encoded_password());
      // (A password that is the mask itself cannot be told from it.)
      if (encoded != "***" && loc.display.find(":" + encoded + "@") != std::string::npos) {
        __builtin_trap();
      }
    }
    for (const auto& [k, v] : loc.params) {
      for (char c : v) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
      }
    }
  }

  std::string bytes;
  if (auth::api_key::pg::decode_bytea(input, bytes)) {
    std::string again;
    if (!auth::api_key::pg::decode_bytea(auth::api_key::pg::encode_bytea(bytes), again) ||
        again != bytes) {
      __builtin_trap();
    }
  }
  std::int64_t v = 0;
  if (auth::api_key::pg::parse_int64(input, v)) {
    std::int64_t w = 0;
    if (!auth::api_key::pg::parse_int64(std::to_string(v), w) || w != v) __builtin_trap();
  }
  return 0;
}
