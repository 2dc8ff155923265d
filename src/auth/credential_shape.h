// What credentials look like, for code that must recognise one by its shape alone without
// knowing the mechanism that issues it: the access log masks them wherever they appear, and
// the auth chain removes a stray API key from the query before forwarding. The runtime fills
// these in from the mechanisms (auth/api_key/key_format.h, jose/token.h); tests use fakes.
#pragma once

#include <cstddef>
#include <string_view>

namespace portcullis::auth {

struct CredentialShapes {
  // A gateway API key: `key_length` bytes starting with `key_prefix`, accepted by `is_key`
  // (which checks the alphabet and checksum offline). No prefix: keys are not recognised.
  std::string_view key_prefix;
  std::size_t key_length = 0;
  bool (*is_key)(std::string_view) = nullptr;
  // A compact JWS: called on runs of base64url characters holding exactly two dots.
  bool (*is_jws)(std::string_view) = nullptr;

  bool key(std::string_view s) const {
    return is_key != nullptr && !key_prefix.empty() && s.size() == key_length &&
           s.starts_with(key_prefix) && is_key(s);
  }
};

}  // namespace portcullis::auth
