// Splitting and decoding a compact JWS (RFC 7515 §7.1): exactly three base64url parts, the
// first two JSON objects without duplicate member names. Nothing here trusts the content;
// the header's alg/kid/crit are read out for the checks that follow.
#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::jose {

enum class TokenError {
  None,
  NotJwt,           // not three dot-separated parts: some other kind of credential
  TooLarge,         // longer than max_token_bytes
  BadEncoding,      // a part is not canonical unpadded base64url, or header/payload empty
  BadJson,          // header or payload is not a JSON object
  DuplicateMember,  // header or payload repeats a member name
};

struct Token {
  Token() = default;
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;

  std::string_view raw;            // the whole token (points into the caller's buffer)
  std::string_view signing_input;  // header "." payload, as received
  std::string signature;           // decoded

 private:
  // Header and payload are allocated from here: one token's JSON rarely needs more, and
  // the parse then costs no heap allocation (the resource falls back to the heap beyond).
  alignas(16) unsigned char buffer_[2048];
  boost::json::monotonic_resource arena_{buffer_, sizeof buffer_};

 public:
  boost::json::object header{&arena_};
  boost::json::object payload{&arena_};
};

// True when `text` has the shape of a compact JWS: three non-empty-headed parts separated by
// exactly two dots. Cheap; decides "is this mine" before any decoding.
bool looks_like_jws(std::string_view text);

TokenError parse_token(std::string_view text, std::size_t max_bytes, Token& out);

// True when `text` is a compact JWS by more than its dots: three base64url parts, the first
// non-empty and decoding to a JSON object (the protected header). For masking credentials
// in logs; says nothing about validity.
bool is_compact_jws(std::string_view text);

}  // namespace portcullis::jose
