#include "auth/api_key/key_format.h"

#include <openssl/rand.h>
#include <zlib.h>

#include <array>

#include "common/enum_names.h"

namespace portcullis::auth::api_key {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static_assert(kAlphabet.size() == 62);

constexpr bool base62_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

bool is_base62(std::string_view s) {
  for (char c : s) {
    if (!base62_char(c)) return false;
  }
  return true;
}

bool valid_key_id(std::string_view id) {
  return id.size() == kIdLength && is_base62(id);
}

std::string checksum(std::string_view body) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  // 62^6 > 2^32, so six digits always suffice; most significant first, zero-padded.
  std::uint64_t v = static_cast<std::uint32_t>(crc);
  std::string out(kCheckLength, '0');
  for (std::size_t i = kCheckLength; i-- > 0;) {
    out[i] = kAlphabet[v % 62];
    v /= 62;
  }
  return out;
}

std::string make_key(std::string_view id, std::string_view secret) {
  std::string key;
  key.reserve(kKeyLength);
  key += kKeyPrefix;
  key += id;
  key += '_';
  key += secret;
  key += checksum(key);
  return key;
}

ParseError parse_key(std::string_view key, ParsedKey& out) {
  if (!key.starts_with(kKeyPrefix)) return ParseError::WrongPrefix;
  if (key.size() != kKeyLength) return ParseError::WrongLength;
  constexpr std::size_t sep = kKeyPrefix.size() + kIdLength;
  if (key[sep] != '_') return ParseError::BadCharacter;
  if (!is_base62(key.substr(kKeyPrefix.size(), kIdLength)) || !is_base62(key.substr(sep + 1))) {
    return ParseError::BadCharacter;
  }
  const std::string_view body = key.substr(0, kKeyLength - kCheckLength);
  if (checksum(body) != key.substr(kKeyLength - kCheckLength)) return ParseError::BadChecksum;
  out.id = key.substr(kKeyPrefix.size(), kIdLength);
  out.secret = key.substr(sep + 1, kSecretLength);
  return ParseError::None;
}

std::string_view describe(ParseError e) {
  static constexpr EnumName<ParseError> kDescriptions[] = {
      {ParseError::None, "ok"},
      {ParseError::WrongPrefix, "does not start with ptk_"},
      {ParseError::WrongLength, "wrong length"},
      {ParseError::BadCharacter, "unexpected character"},
      {ParseError::BadChecksum, "checksum mismatch"}};
  return name_of(kDescriptions, e, "malformed");
}

bool random_base62(std::size_t n, std::string& out) {
  out.clear();
  out.reserve(n);
  std::array<unsigned char, 64> buf;
  while (out.size() < n) {
    if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) return false;
    for (unsigned char b : buf) {
      // 248 = 4 * 62: bytes above it would make the low characters more likely.
      if (b >= 248) continue;
      out.push_back(kAlphabet[b % 62]);
      if (out.size() == n) break;
    }
  }
  return true;
}

bool generate_key(GeneratedKey& out) {
  if (!random_base62(kIdLength, out.id) || !random_base62(kSecretLength, out.secret)) {
    return false;
  }
  out.key = make_key(out.id, out.secret);
  return true;
}

}  // namespace portcullis::auth::api_key
