#include "server/framing.h"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <string_view>

namespace portcullis::server {

namespace http = boost::beast::http;

// RFC 9110 §7.2 / RFC 3986 §3.2.2: host [":" port], the host a name (unreserved, sub-delims,
// pct-encoded) or a bracketed IP literal. No '@' (userinfo: it was logged as the client wrote
// it, password included), no quotes, backslashes, '/', '?', '#' or spaces.
constexpr std::array<bool, 256> kHostChars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=%:[]")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool valid_host(std::string_view h) {
  return std::all_of(h.begin(), h.end(),
                     [](char c) { return kHostChars[static_cast<unsigned char>(c)]; });
}

// One pass over the fields, counting by the field enum (no name lookups).
std::optional<GatewayError> check_framing(const http::fields& headers, unsigned version) {
  std::size_t te = 0, cl = 0, auth = 0, hosts = 0;
  std::string_view te_value, cl_value, host;
  bool cl_differs = false;
  for (const auto& f : headers) {
    switch (f.name()) {
      case http::field::transfer_encoding:
        ++te;
        te_value = f.value();
        break;
      case http::field::content_length:
        if (cl++ == 0) {
          cl_value = f.value();
        } else if (f.value() != cl_value) {
          cl_differs = true;
        }
        break;
      case http::field::authorization:
        ++auth;
        break;
      case http::field::host:
        ++hosts;
        host = f.value();
        break;
      default:
        break;
    }
  }
  if (te > 0) {
    if (version == 10) return GatewayError::ChunkedHttp10;
    if (cl > 0) return GatewayError::LengthAndChunked;
    if (te > 1 || !boost::beast::iequals(te_value, "chunked")) {
      return GatewayError::UnsupportedEncoding;
    }
  }
  if (cl_differs) return GatewayError::ConflictingLength;
  if (auth > 1) return GatewayError::TwoAuthorization;
  if (version != 11 && version != 10) return GatewayError::BadVersion;
  if (hosts > 1 || (version == 11 && hosts == 0)) return GatewayError::BadHost;
  if (!valid_host(host)) return GatewayError::MalformedHost;
  return std::nullopt;
}

GatewayError to_error(HeadCheck c) {
  switch (c) {
    case HeadCheck::BareCR:
      return GatewayError::BareCR;
    case HeadCheck::BareLF:
      return GatewayError::BareLF;
    case HeadCheck::ObsFold:
      return GatewayError::ObsFold;
    case HeadCheck::ControlChar:
    case HeadCheck::Ok:
      break;
  }
  return GatewayError::ControlChar;
}

}  // namespace portcullis::server
