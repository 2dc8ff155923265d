// Fuzzes the key store URL parser and its masking (config/key_store_url.h), and what the
// PostgreSQL store reads from the server (auth/api_key/pg_values.h: text conversions and the
// binary COPY reader), with the properties the gateway relies on: nothing crashes or reads
// out of bounds; where a parsed URL had its password, its display has the mask; libpq values
// hold no NUL or control character; masking is idempotent;
// bytea and integers round-trip; the COPY reader gives the same tuples however the input is
// cut into pieces. Also url::redact (the upstream and identity-provider URLs in messages):
// idempotent, and what it leaves parses with no password.
#include <algorithm>
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/api_key/pg_values.h"
#include "config/key_store_url.h"
#include "url/http_url.h"

using namespace portcullis;
using auth::api_key::pg::CopyBinaryReader;

namespace {

// Every tuple, as "field|field|~" (~ for NULL), then the final step.
std::string read_all(std::string_view input, std::size_t piece) {
  CopyBinaryReader reader;
  CopyBinaryReader::Fields fields;
  std::string out;
  for (std::size_t pos = 0;; pos += piece) {
    reader.feed(input.substr(std::min(pos, input.size()), piece));
    const bool all_fed = pos + piece >= input.size();
    while (true) {
      const auto step = reader.next(fields);
      if (step == CopyBinaryReader::Step::Row) {
        for (const auto& f : fields) out += f ? std::string(*f) + "|" : std::string("~|");
        out += "\n";
        continue;
      }
      if (step == CopyBinaryReader::Step::Error) return out + "#error";
      // NeedMore, or End (which more data would turn into an error).
      if (all_fed) return out + (step == CopyBinaryReader::Step::End ? "#end" : "#more");
      break;
    }
  }
}

void copy_reader(std::string_view input) {
  // Signature and header in front, so that the fuzzer reaches the tuples.
  std::string data("PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0", 19);
  data.append(input);
  if (read_all(data, data.size() + 1) != read_all(data, 7)) __builtin_trap();
  if (read_all(input, input.size() + 1) != read_all(input, 1)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const std::string masked = config::mask_store_url(input);
  if (config::mask_store_url(masked) != masked) __builtin_trap();

  const std::string redacted = url::redact(input);
  if (url::redact(redacted) != redacted) __builtin_trap();
  if (auto u = boost::urls::parse_uri(redacted); u && u->has_password()) __builtin_trap();

  config::KeyStoreLocation loc;
  std::string error;
  if (config::parse_key_store_url(input, "/etc/portcullis", loc, error)) {
    if (loc.display != masked) __builtin_trap();
    if (!loc.password.empty()) {
      // Where the password was, the display holds the mask: exactly, or everything from the
      // scheme's ':' to the last '@' when the URL holds an '@' past its authority.
      auto shown = boost::urls::parse_uri(loc.display);
      const bool exact = shown && shown->has_authority() && shown->encoded_password() == "***";
      const auto scheme_end = loc.display.find(':');
      const bool generous = loc.display.compare(scheme_end, 5, ":***@") == 0 &&
                            loc.display.find('@', scheme_end + 5) == std::string::npos;
      if (!exact && !generous) __builtin_trap();
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
  copy_reader(input);

  std::int64_t v = 0;
  if (auth::api_key::pg::parse_int64(input, v)) {
    std::int64_t w = 0;
    if (!auth::api_key::pg::parse_int64(std::to_string(v), w) || w != v) __builtin_trap();
  }
  return 0;
}
