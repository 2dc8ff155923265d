#include "jose/base64url.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>

namespace portcullis::jose {
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
  // Canonical: the bits the last character carries beyond the data must be zero
  // ("QQ" is "A"; "QR" would decode to "A" too and is refused).
  const int last = kTable[static_cast<unsigned char>(in.back())];
  if (rem == 2 && (last & 0x0f) != 0) return false;
  if (rem == 3 && (last & 0x03) != 0) return false;

  // Decoded straight from the table, four characters to three bytes; an invalid character
  // (table value -1) makes the OR of all values negative, checked once at the end.
  out.resize(in.size() / 4 * 3 + (rem == 0 ? 0 : rem - 1));
  int bad = 0;
  auto v = [&](std::size_t i) {
    const int x = kTable[static_cast<unsigned char>(in[i])];
    bad |= x;
    return static_cast<std::uint32_t>(x) & 0x3f;
  };
  std::size_t i = 0, o = 0;
  for (; i + 4 <= in.size(); i += 4) {
    const std::uint32_t n = v(i) << 18 | v(i + 1) << 12 | v(i + 2) << 6 | v(i + 3);
    out[o++] = static_cast<char>(n >> 16);
    out[o++] = static_cast<char>(n >> 8 & 0xff);
    out[o++] = static_cast<char>(n & 0xff);
  }
  if (rem >= 2) {
    const std::uint32_t n = v(i) << 18 | v(i + 1) << 12 | (rem == 3 ? v(i + 2) << 6 : 0);
    out[o++] = static_cast<char>(n >> 16);
    if (rem == 3) out[o++] = static_cast<char>(n >> 8 & 0xff);
  }
  if (bad < 0) {  // also '=', '+', '/', space, NUL
    out.clear();
    return false;
  }
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

}  // namespace portcullis::jose
