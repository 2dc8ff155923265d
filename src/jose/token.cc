#include "jose/token.h"

#include <algorithm>

#include "jose/base64url.h"
#include "jose/strict_json.h"

namespace portcullis::jose {

bool looks_like_jws(std::string_view text) {
  // Three find()s (memchr) instead of a byte-by-byte count: this runs on every bearer token.
  const std::size_t d1 = text.find('.');
  if (d1 == std::string_view::npos) return false;
  const std::size_t d2 = text.find('.', d1 + 1);
  return d2 != std::string_view::npos && text.find('.', d2 + 1) == std::string_view::npos;
}

TokenError parse_token(std::string_view text, std::size_t max_bytes, Token& out) {
  if (text.size() > max_bytes) return TokenError::TooLarge;
  const std::size_t d1 = text.find('.');
  if (d1 == std::string_view::npos) return TokenError::NotJwt;
  const std::size_t d2 = text.find('.', d1 + 1);
  if (d2 == std::string_view::npos || text.find('.', d2 + 1) != std::string_view::npos) {
    return TokenError::NotJwt;
  }
  const std::string_view h = text.substr(0, d1);
  const std::string_view p = text.substr(d1 + 1, d2 - d1 - 1);
  const std::string_view s = text.substr(d2 + 1);
  if (h.empty() || p.empty()) return TokenError::BadEncoding;

  std::string header_json, payload_json;
  if (!base64url_decode(h, header_json) || !base64url_decode(p, payload_json) ||
      !base64url_decode(s, out.signature)) {
    return TokenError::BadEncoding;
  }
  for (auto [json, obj] : {std::pair{&header_json, &out.header},
                           std::pair{&payload_json, &out.payload}}) {
    switch (parse_strict_object(*json, *obj, 32, obj->storage())) {
      case JsonError::None:
        break;
      case JsonError::DuplicateMember:
        return TokenError::DuplicateMember;
      default:
        return TokenError::BadJson;
    }
  }
  out.raw = text;
  out.signing_input = text.substr(0, d2);
  return TokenError::None;
}

bool is_compact_jws(std::string_view text) {
  // A header is a few dozen bytes; a long first part is not worth decoding to find out.
  constexpr std::size_t kMaxHeaderChars = 4096;
  if (!looks_like_jws(text)) return false;
  const std::string_view h = text.substr(0, text.find('.'));
  if (h.empty() || h.size() > kMaxHeaderChars) return false;
  for (char c : text) {
    const bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.';
    if (!b64) return false;
  }
  std::string json;
  if (!base64url_decode(h, json)) return false;
  boost::json::object header;
  const JsonError e = parse_strict_object(json, header);
  return e == JsonError::None || e == JsonError::DuplicateMember;  // still a token
}

}  // namespace portcullis::jose
