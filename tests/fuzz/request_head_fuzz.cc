// Fuzzes the request head as a session reads it (server/http_session.cc read_head and
// parse_head): find_head_end, the line checks (check_head_lines), Beast's request_parser on
// what passes, then check_framing on what parses. The session checks a head byte by byte
// (check_head) only after Beast refused it, so Beast must never accept a head that
// check_head refuses: that traps.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/framing.h"
#include "server/header_block.h"

namespace http = boost::beast::http;
using namespace portcullis::server;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t skip = 0;
  const std::size_t head_len = find_head_end(input, skip);
  if (head_len == 0) return 0;
  // The head found lies inside the input, after the skipped blank lines.
  if (skip > input.size() || head_len > input.size() - skip) __builtin_trap();
  const std::string_view head = input.substr(skip, head_len);
  if (head.substr(head.size() - 4) != "\r\n\r\n") __builtin_trap();
  if (check_head_lines(head) != HeadCheck::Ok) return 0;

  http::request_parser<http::empty_body> parser;
  parser.eager(false);
  parser.header_limit(static_cast<std::uint32_t>(head_len + 1));
  parser.body_limit(1024 * 1024);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || !parser.is_header_done()) return 0;
  if (check_head(head) != HeadCheck::Ok) __builtin_trap();  // Beast accepted a bad byte
  const auto& req = parser.get();
  (void)check_framing(req, req.version());
  return 0;
}
