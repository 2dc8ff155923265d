#include "server/framing.h"

#include <boost/beast/core/string.hpp>

namespace portcullis::server {

namespace http = boost::beast::http;

std::optional<GatewayError> check_framing(const http::fields& headers, unsigned version) {
  const auto te = headers.count(http::field::transfer_encoding);
  const auto cl = headers.count(http::field::content_length);
  if (te > 0) {
    if (cl > 0) return GatewayError::LengthAndChunked;
    if (te > 1 || !boost::beast::iequals(headers[http::field::transfer_encoding], "chunked")) {
      return GatewayError::UnsupportedEncoding;
    }
  }
  if (cl > 1) {
    auto [first, last] = headers.equal_range(http::field::content_length);
    for (auto it = first; it != last; ++it) {
      if (it->value() != first->value()) return GatewayError::ConflictingLength;
    }
  }
  if (headers.count(http::field::authorization) > 1) return GatewayError::TwoAuthorization;
  if (version != 11 && version != 10) return GatewayError::BadVersion;
  const auto hosts = headers.count(http::field::host);
  if (hosts > 1 || (version == 11 && hosts == 0)) return GatewayError::BadHost;
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
