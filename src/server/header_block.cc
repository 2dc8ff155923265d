#include "server/header_block.h"

#include <cstdint>
#include <cstring>

namespace portcullis::server {

std::size_t find_head_end(std::string_view data, std::size_t& skip) {
  skip = 0;
  while (skip + 1 < data.size() && data[skip] == '\r' && data[skip + 1] == '\n') skip += 2;
  std::string_view rest = data.substr(skip);
  auto pos = rest.find("\r\n\r\n");
  if (pos == std::string_view::npos) return 0;
  return pos + 4;
}

namespace {

// True when none of the 8 bytes in `w` is a control character (< 0x20) or DEL (0x7f); it may
// answer false for a clean word (then the bytes are looked at one by one), never true for a
// word with such a byte. Bytes >= 0x80 (obs-text) count as clean.
bool word_is_plain(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t high = 0x8080808080808080ull;
  const std::uint64_t below_space = (w - ones * 0x20) & ~w & high;
  const std::uint64_t x = w ^ (ones * 0x7f);  // a zero byte where w had DEL
  const std::uint64_t del = (x - ones) & ~x & high;
  return (below_space | del) == 0;
}

// The same for 32 bytes, exactly (no early exit inside, so the compiler uses vector compares):
// long values such as bearer tokens pass at a fraction of a nanosecond per byte.
bool block_is_plain(const char* p) {
  unsigned char bad = 0;
  for (int j = 0; j < 32; ++j) {
    const auto c = static_cast<unsigned char>(p[j]);
    bad |= static_cast<unsigned char>((c < 0x20) | (c == 0x7f));
  }
  return bad == 0;
}

}  // namespace

HeadCheck check_head(std::string_view head) {
  const std::size_t n = head.size();
  for (std::size_t i = 0; i < n; ++i) {
    // Most of a head is printable text: skip it a block, then a word, at a time.
    while (i + 32 <= n && block_is_plain(head.data() + i)) i += 32;
    while (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, head.data() + i, sizeof w);
      if (!word_is_plain(w)) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = static_cast<unsigned char>(head[i]);
    if (c >= 0x20 && c != 0x7f) continue;
    if (c == '\t') continue;
    if (c == '\r') {
      if (i + 1 >= n || head[i + 1] != '\n') return HeadCheck::BareCR;
      continue;
    }
    if (c == '\n') {
      if (i == 0 || head[i - 1] != '\r') return HeadCheck::BareLF;
      if (i + 1 < n && (head[i + 1] == ' ' || head[i + 1] == '\t')) return HeadCheck::ObsFold;
      continue;
    }
    return HeadCheck::ControlChar;
  }
  return HeadCheck::Ok;
}

}  // namespace portcullis::server
