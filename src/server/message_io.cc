#include "server/message_io.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdio>
#include <type_traits>

#include "proxy/tls_stream.h"

namespace portcullis::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

void append_status_line(unsigned version, unsigned status, std::string_view reason,
                        std::string& out) {
  out += version == 10 ? "HTTP/1.0" : "HTTP/1.1";
  const unsigned code = status % 1000;
  const char digits[5] = {' ', static_cast<char>('0' + code / 100),
                          static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10), ' '};
  out.append(digits, sizeof digits);
  out += reason.empty() ? std::string_view(http::obsolete_reason(static_cast<http::status>(code)))
                        : reason;
  out += "\r\n";
}

}  // namespace

template <bool isRequest>
void serialize_head(const http::header<isRequest>& msg, std::string_view extra, std::string& out) {
  out.clear();
  if constexpr (isRequest) {
    out += msg.method_string();
    out += ' ';
    out += msg.target();
    out += msg.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  } else {
    append_status_line(msg.version(), msg.result_int(), msg.reason(), out);
  }
  for (const auto& f : msg) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += extra;
  out += "\r\n";
}

void OutgoingMessage::begin_response(unsigned version, unsigned status, std::string_view reason,
                                     std::string_view lines, std::string_view extra_lines,
                                     bool chunked) {
  prefix_.clear();
  append_status_line(version, status, reason, prefix_);
  prefix_ += lines;
  prefix_ += extra_lines;
  prefix_ += "\r\n";
  chunked_ = chunked;
}

template void serialize_head<true>(const http::header<true>&, std::string_view, std::string&);
template void serialize_head<false>(const http::header<false>&, std::string_view, std::string&);

template <class Stream>
asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>> OutgoingMessage::write(
    Stream& s, const char* data, std::size_t n, bool last) {
  suffix_.clear();
  if (chunked_) {
    if (n > 0) {
      char hex[24];
      const int len = std::snprintf(hex, sizeof hex, "%zx\r\n", n);
      prefix_.append(hex, static_cast<std::size_t>(len));
      suffix_ = "\r\n";
    }
    if (last) suffix_ += "0\r\n\r\n";
  }
  // A small piece is copied behind the head, so that a small message leaves as one buffer:
  // one send(2) instead of sendmsg(2) with an iovec (the kernel's cheaper path), and over
  // TLS one record instead of three (the upstream ssl stream encrypts each buffer as records
  // of its own). Large pieces are not copied (nor kept: the head buffer stays small between
  // messages).
  const bool tls_upstream = std::is_same_v<Stream, proxy::TlsSocket>;
  if (n <= kCoalesceBytes && (tls_upstream || prefix_.size() + n <= kCoalesceBytes)) {
    if (n > 0) prefix_.append(data, n);
    prefix_ += suffix_;
    auto result =
        co_await asio::async_write(s, asio::buffer(prefix_), asio::as_tuple(asio::use_awaitable));
    prefix_.clear();
    co_return result;
  }
  const std::array<asio::const_buffer, 3> buffers{asio::buffer(prefix_), asio::buffer(data, n),
                                                  asio::buffer(suffix_)};
  auto result = co_await asio::async_write(s, buffers, asio::as_tuple(asio::use_awaitable));
  prefix_.clear();
  co_return result;
}

template asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>>
OutgoingMessage::write<proxy::Socket>(proxy::Socket&, const char*, std::size_t, bool);
template asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>>
OutgoingMessage::write<proxy::TlsSocket>(proxy::TlsSocket&, const char*, std::size_t, bool);
template asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>>
OutgoingMessage::write<ClientStream>(ClientStream&, const char*, std::size_t, bool);

}  // namespace portcullis::server
