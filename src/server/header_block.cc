#include "server/header_block.h"

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

HeadCheck check_head(std::string_view head) {
  const std::size_t n = head.size();
  for (std::size_t i = 0; i < n; ++i) {
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

const char* describe(HeadCheck c) {
  switch (c) {
    case HeadCheck::Ok:
      return "ok";
    case HeadCheck::BareCR:
      return "bare CR in request head";
    case HeadCheck::BareLF:
      return "bare LF in request head";
    case HeadCheck::ObsFold:
      return "obsolete line folding in request head";
    case HeadCheck::ControlChar:
      return "control character in request head";
  }
  return "bad request head";
}

}  // namespace portcullis::server
