#include "server/upstream_response.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstring>

#include "common/header_line.h"
#include "proxy/headers.h"

namespace portcullis::server {

namespace http = boost::beast::http;

void UpstreamResponse::on_response_impl(int code, string_view reason, int, error_code&) {
  status_ = static_cast<unsigned>(code);
  reason_.assign(reason.data(), reason.size());
}

void UpstreamResponse::on_field_impl(http::field name, string_view name_string, string_view value,
                                     error_code&) {
  if (proxy::is_hop_by_hop(name)) {
    if (name == http::field::connection) {
      // Names that are hop-by-hop anyway ("keep-alive"), "close" and the framing need no
      // second look.
      for (auto token : http::token_list(value)) {
        const http::field f = http::string_to_field(token);
        if (proxy::is_hop_by_hop(f) || f == http::field::content_length) continue;
        if (!boost::beast::iequals(token, "close")) connection_.emplace_back(token);
      }
    }
    return;
  }
  if (name == http::field::content_length) has_content_length_ = true;
  if (name_string.size() == drop_.size() && boost::beast::iequals(name_string, drop_)) return;
  if (drop_rate_limit_ && (name_string.size() == 9 || name_string.size() == 16) &&
      (boost::beast::iequals(name_string, "RateLimit") ||
       boost::beast::iequals(name_string, "RateLimit-Policy"))) {
    return;
  }
  append_header_line(lines_, std::string_view(name_string.data(), name_string.size()),
                     std::string_view(value.data(), value.size()));
}

// A field that Connection names is hop-by-hop too. Rare: the kept lines are filtered again.
void UpstreamResponse::on_header_impl(error_code&) {
  if (connection_.empty()) return;
  std::string kept;
  std::string_view rest = lines_;
  while (!rest.empty()) {
    const std::size_t end = rest.find("\r\n") + 2;
    const std::string_view line = rest.substr(0, end);
    const std::string_view name = line.substr(0, line.find(':'));
    bool named = false;
    for (const auto& c : connection_) named |= boost::beast::iequals(name, c);
    if (!named) kept += line;
    rest.remove_prefix(end);
  }
  lines_ = std::move(kept);
}

std::size_t UpstreamResponse::on_body_impl(string_view body, error_code& ec) {
  if (body_.data == nullptr || body_.size == 0) {
    ec = http::error::need_buffer;
    return 0;
  }
  const std::size_t n = std::min(body_.size, body.size());
  std::memcpy(body_.data, body.data(), n);
  body_.data += n;
  body_.size -= n;
  if (n != body.size()) ec = http::error::need_buffer;
  return n;
}

std::size_t UpstreamResponse::on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) {
  return on_body_impl(body, ec);
}

}  // namespace portcullis::server
