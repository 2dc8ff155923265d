#include "identity/request_id.h"

#include <openssl/rand.h>

#include <cstdint>
#include <random>

namespace portcullis::identity {

bool is_acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string generate_request_id() {
  // Request ids need to be unique, not secret: a random 64-bit prefix per thread and a
  // counter avoid a CSPRNG call per request.
  struct State {
    std::uint64_t prefix = 0;
    std::uint64_t counter = 0;
    State() {
      if (RAND_bytes(reinterpret_cast<unsigned char*>(&prefix), sizeof prefix) != 1) {
        prefix = std::random_device{}();
      }
      counter = prefix * 0x9E3779B97F4A7C15ull;
    }
  };
  thread_local State state;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  std::uint64_t a = state.prefix, b = ++state.counter;
  for (int i = 15; i >= 0; --i, a >>= 4) out[i] = kHex[a & 0xf];
  for (int i = 31; i >= 16; --i, b >>= 4) out[i] = kHex[b & 0xf];
  return out;
}

}  // namespace portcullis::identity
