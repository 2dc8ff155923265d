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

// True when none of 32 bytes is a control character (< 0x20) or DEL, exactly (no early exit
// inside, so the compiler uses vector compares): long values such as bearer tokens pass at a
// fraction of a nanosecond per byte.
bool block_is_plain(const char* p) {
  unsigned char bad = 0;
  for (int j = 0; j < 32; ++j) {
    const auto c = static_cast<unsigned char>(p[j]);
    bad |= static_cast<unsigned char>((c < 0x20) | (c == 0x7f));
  }
  return bad == 0;
}

// The same for 8 bytes in a word; it may answer false for a clean word (then the bytes are
// looked at one by one), never true for a word with such a byte.
bool word_is_plain(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t high = 0x8080808080808080ull;
  const std::uint64_t below_space = (w - ones * 0x20) & ~w & high;
  const std::uint64_t x = w ^ (ones * 0x7f);  // a zero byte where w had DEL
  const std::uint64_t del = (x - ones) & ~x & high;
  return (below_space | del) == 0;
}

// The bytes of one line, without its line end: text, HTAB, obs-text; no other control byte.
HeadCheck check_line(const char* p, std::size_t n) {
  std::size_t i = 0;
  while (i + 32 <= n && block_is_plain(p + i)) i += 32;
  while (i + 8 <= n && word_is_plain(p + i)) i += 8;
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c != 0x7f) continue;
    if (c == '\t') continue;
    if (c == '\r') return HeadCheck::BareCR;
    if (c == '\n') return HeadCheck::BareLF;
    return HeadCheck::ControlChar;
  }
  return HeadCheck::Ok;
}

// Line by line: memchr finds each LF (vectorised in libc); with kBytes, each line's bytes are
// checked a block at a time too.
template <bool kBytes>
HeadCheck check_lines(std::string_view head) {
  const char* data = head.data();
  const std::size_t n = head.size();
  std::size_t pos = 0;
  while (pos < n) {
    const void* lf = std::memchr(data + pos, '\n', n - pos);
    if (lf == nullptr) return kBytes ? check_line(data + pos, n - pos) : HeadCheck::Ok;
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - data);
    const bool crlf = end > pos && data[end - 1] == '\r';
    [[maybe_unused]] const std::size_t content_end = crlf ? end - 1 : end;
    if constexpr (kBytes) {
      if (auto r = check_line(data + pos, content_end - pos); r != HeadCheck::Ok) return r;
    }
    if (!crlf) return HeadCheck::BareLF;
    if (end + 1 < n && (data[end + 1] == ' ' || data[end + 1] == '\t')) return HeadCheck::ObsFold;
    pos = end + 1;
  }
  return HeadCheck::Ok;
}

}  // namespace

HeadCheck check_head(std::string_view head) {
  return check_lines<true>(head);
}

HeadCheck check_head_lines(std::string_view head) {
  return check_lines<false>(head);
}

}  // namespace portcullis::server
