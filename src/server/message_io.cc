#include "server/message_io.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdio>

namespace portcullis::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;

template <bool isRequest>
void serialize_head(const http::header<isRequest>& msg, std::string_view extra, std::string& out) {
  out.clear();
  const std::string_view version = msg.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  if constexpr (isRequest) {
    out += msg.method_string();
    out += ' ';
    out += msg.target();
    out += ' ';
    out += version;
  } else {
    out += version;
    const unsigned code = msg.result_int() % 1000;
    const char digits[5] = {' ', static_cast<char>('0' + code / 100),
                            static_cast<char>('0' + code / 10 % 10),
                            static_cast<char>('0' + code % 10), ' '};
    out.append(digits, sizeof digits);
    const std::string_view reason = msg.reason();
    out += reason.empty() ? std::string_view(http::obsolete_reason(msg.result())) : reason;
  }
  out += "\r\n";
  for (const auto& f : msg) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += extra;
  out += "\r\n";
}

template void serialize_head<true>(const http::header<true>&, std::string_view, std::string&);
template void serialize_head<false>(const http::header<false>&, std::string_view, std::string&);

asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>> OutgoingMessage::write(
    proxy::Socket& s, const char* data, std::size_t n, bool last) {
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
  const std::array<asio::const_buffer, 3> buffers{asio::buffer(prefix_), asio::buffer(data, n),
                                                  asio::buffer(suffix_)};
  auto result = co_await asio::async_write(s, buffers, asio::as_tuple(asio::use_awaitable));
  prefix_.clear();
  co_return result;
}

}  // namespace portcullis::server
