#include "server/upstream_response.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <cstring>

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
      for (auto token : http::token_list(value)) connection_.emplace_back(token);
    }
    return;
  }
  if (name == http::field::content_length) has_content_length_ = true;
  if (boost::beast::iequals(name_string, drop_)) return;
  const std::size_t begin = lines_.size();
  lines_.append(name_string.data(), name_string.size());
  lines_ += ": ";
  lines_.append(value.data(), value.size());
  lines_ += "\r\n";
  positions_.push_back({begin, lines_.size(), name_string.size()});
}

// A field that Connection names is hop-by-hop too (never the framing, nor the request id,
// which is not in the lines anyway).
void UpstreamResponse::on_header_impl(error_code&) {
  if (connection_.empty()) return;
  std::string kept;
  for (const Line& l : positions_) {
    const std::string_view name(lines_.data() + l.begin, l.name_len);
    bool named = false;
    for (const auto& c : connection_) {
      named |= boost::beast::iequals(name, c) &&
               http::string_to_field(name) != http::field::content_length;
    }
    if (!named) kept.append(lines_, l.begin, l.end - l.begin);
  }
  lines_ = std::move(kept);
  positions_.clear();
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
