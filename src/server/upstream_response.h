// UpstreamResponse: a Beast parser (basic_parser<false>) for an upstream's response that keeps
// the head as ready "Name: value" lines instead of building a Beast field container: the
// gateway only filters the head and writes it on, so it never needs to look a field up.
// Hop-by-hop fields (RFC 9110 §7.6.1), the ones Connection names, and any copy of the
// gateway's request-id header are left out as they are parsed. The body goes, piece by piece,
// into the caller's buffer (as Beast's buffer_body does).
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::server {

class UpstreamResponse : public boost::beast::http::basic_parser<false> {
 public:
  // `drop`: a header name the upstream may not set (the gateway's request-id header).
  explicit UpstreamResponse(std::string_view drop) : drop_(drop) { lines_.reserve(512); }

  // The room left in the caller's body buffer; parsing stops (need_buffer) when it is full.
  struct Body {
    char* data = nullptr;
    std::size_t size = 0;
  };
  Body& body() { return body_; }
  // Leave out RateLimit and RateLimit-Policy (the gateway writes its own on a limited route).
  void drop_rate_limit_fields(bool drop) { drop_rate_limit_ = drop; }

  unsigned status() const { return status_; }
  std::string_view reason() const { return reason_; }
  // The kept fields as "Name: value\r\n" lines, in the order received.
  const std::string& lines() const { return lines_; }
  bool has_content_length() const { return has_content_length_; }

 private:
  using string_view = boost::beast::string_view;
  using error_code = boost::beast::error_code;

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}
  void on_response_impl(int code, string_view reason, int version, error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  std::string_view drop_;
  unsigned status_ = 0;
  std::string reason_;
  std::string lines_;
  std::vector<std::string> connection_;  // names a Connection field listed
  bool has_content_length_ = false;
  bool drop_rate_limit_ = false;
  Body body_;
};

}  // namespace portcullis::server
