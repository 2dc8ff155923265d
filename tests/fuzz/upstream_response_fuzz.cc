// Fuzzes the upstream response parser (server/upstream_response.h) as the session drives it:
// header limit 64 KiB, then the body piece by piece into a small buffer. The kept lines are
// well-formed "Name: value\r\n" lines and never carry a hop-by-hop or dropped field.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/upstream_response.h"

namespace http = boost::beast::http;

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if ((s[i] | 0x20) != (prefix[i] | 0x20)) return false;
  }
  return true;
}

void check_lines(std::string_view lines) {
  while (!lines.empty()) {
    const std::size_t end = lines.find("\r\n");
    if (end == std::string_view::npos) __builtin_trap();
    const std::string_view line = lines.substr(0, end);
    if (line.find(':') == std::string_view::npos) __builtin_trap();
    for (std::string_view banned :
         {"x-request-id:", "connection:", "transfer-encoding:", "keep-alive:", "upgrade:"}) {
      if (starts_with_ci(line, banned)) __builtin_trap();
    }
    lines.remove_prefix(end + 2);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  portcullis::server::UpstreamResponse rp("X-Request-Id");
  rp.body_limit(boost::none);
  rp.header_limit(64 * 1024);
  rp.eager(true);
  char body[512];
  const char* p = reinterpret_cast<const char*>(data);
  std::size_t left = size;
  bool checked = false;
  while (left > 0 && !rp.is_done()) {
    rp.body().data = body;
    rp.body().size = sizeof body;
    boost::beast::error_code ec;
    const std::size_t used = rp.put(boost::asio::buffer(p, left), ec);
    if (used > left) __builtin_trap();
    p += used;
    left -= used;
    if (rp.is_header_done() && !checked) {
      check_lines(rp.lines());
      checked = true;
    }
    if (ec && ec != http::error::need_buffer) break;  // need_more, or a malformed message
    if (used == 0 && !ec) break;
  }
  if (left == 0 && rp.is_header_done() && !rp.is_done()) {
    boost::beast::error_code ec;
    rp.put_eof(ec);
  }
  return 0;
}
