// Strict base64url (RFC 4648 §5) as JWS requires (RFC 7515 §2): the URL-safe alphabet only,
// no padding, no whitespace, and canonical (the unused low bits of the last character are
// zero), so every byte string has exactly one accepted encoding. Decoding is OpenSSL's
// EVP_DecodeBlock after this file has checked the input itself.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::jose {

// False (and `out` unspecified) for anything that is not canonical unpadded base64url.
// The empty string decodes to the empty string.
bool base64url_decode(std::string_view in, std::string& out);
// Unpadded base64url.
std::string base64url_encode(std::string_view bytes);

}  // namespace portcullis::jose
