// The API key format: ptk_<id>_<secret><check>.
//
//   id      12 base62 characters, public: the lookup key, safe to log.
//   secret  43 base62 characters from the OS CSPRNG (43 * log2(62) = 256.03 bits).
//   check   6 base62 characters: CRC32 of everything before it, so a mistyped or truncated
//           key is refused before any lookup, and secret scanners can recognise a leaked key.
//
// Only the id and HMAC-SHA-256(pepper, secret) are ever stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::auth::api_key {

inline constexpr std::string_view kKeyPrefix = "ptk_";
inline constexpr std::size_t kIdLength = 12;
inline constexpr std::size_t kSecretLength = 43;
inline constexpr std::size_t kCheckLength = 6;
inline constexpr std::size_t kKeyLength =
    kKeyPrefix.size() + kIdLength + 1 + kSecretLength + kCheckLength;  // 66

// Views into the string given to parse_key.
struct ParsedKey {
  std::string_view id;
  std::string_view secret;
};

enum class ParseError : std::uint8_t { None, WrongPrefix, WrongLength, BadCharacter, BadChecksum };

// Checks prefix, length, alphabet and checksum; no lookup, no allocation.
ParseError parse_key(std::string_view key, ParsedKey& out);
std::string_view describe(ParseError e);

bool is_base62(std::string_view s);
// A key id as stored: exactly kIdLength base62 characters.
bool valid_key_id(std::string_view id);

// The 6 check characters for `body` ("ptk_<id>_<secret>").
std::string checksum(std::string_view body);
// Assembles a key from its parts.
std::string make_key(std::string_view id, std::string_view secret);

// `n` uniformly random base62 characters from RAND_bytes (rejection sampling). False when
// the CSPRNG fails.
bool random_base62(std::size_t n, std::string& out);

struct GeneratedKey {
  std::string id;
  std::string secret;
  std::string key;  // the full key: shown once, never stored
};
bool generate_key(GeneratedKey& out);

}  // namespace portcullis::auth::api_key
