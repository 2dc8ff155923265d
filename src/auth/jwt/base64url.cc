#include "auth/jwt/base64url.h"

#include <openssl/evp.h>

#include <array>

namespace portcullis::auth::jwt {
namespace {

// Value of a base64url character, or -1.
constexpr std::array<signed char, 256> make_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<signed char>(i);
    t['a' + i] = static_cast<signed char>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<signed char>(52 + i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}
constexpr auto kTable = make_table();

}  // namespace

bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  if (in.empty()) return true;
  const std::size_t rem = in.size() % 4;
  if (rem == 1) return false;  // no byte string encodes to 4n+1 characters
  for (char c : in) {
    if (kTable[static_cast<unsigned char>(c)] < 0) return false;  // also '=', '+', '/', space
  }
  // Canonical: the bits the last character carries beyond the data must be zero
  // ("QQ" is "A"; "QR" would decode to "A" too and is refused).
  const int last = kTable[static_cast<unsigned char>(in.back())];
  if (rem == 2 && (last & 0x0f) != 0) return false;
  if (rem == 3 && (last & 0x03) != 0) return false;

  // To the standard alphabet with padding, for EVP_DecodeBlock (a per-thread scratch buffer:
  // this runs for every part of every token).
  thread_local std::string std64;
  std64.assign(in);
  for (char& c : std64) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  const std::size_t pad = rem == 0 ? 0 : 4 - rem;
  std64.append(pad, '=');
  out.resize(std64.size() / 4 * 3);
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(std64.data()),
                          static_cast<int>(std64.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) return false;
  // EVP_DecodeBlock counts the zero bytes that padding stands for; drop them.
  out.resize(out.size() - pad);
  return true;
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  if (bytes.empty()) return out;
  out.resize((bytes.size() + 2) / 3 * 4 + 1);
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

}  // namespace portcullis::auth::jwt
