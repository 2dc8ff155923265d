#include "proxy/headers.h"

#include <boost/beast/http/rfc7230.hpp>
#include <string>
#include <vector>

namespace portcullis::proxy {

namespace http = boost::beast::http;

void remove_hop_by_hop(http::fields& headers) {
  // Names listed in Connection are hop-by-hop too (collect first: erasing invalidates).
  std::vector<std::string> named;
  auto [first, last] = headers.equal_range(http::field::connection);
  for (auto it = first; it != last; ++it) {
    for (auto token : http::token_list(it->value())) named.emplace_back(token);
  }
  for (const auto& n : named) headers.erase(n);
  static constexpr http::field kHopByHop[] = {
      http::field::connection,          http::field::keep_alive,
      http::field::proxy_connection,    http::field::te,
      http::field::trailer,             http::field::transfer_encoding,
      http::field::upgrade,             http::field::proxy_authenticate,
      http::field::proxy_authorization,
  };
  for (auto f : kHopByHop) headers.erase(f);
}

void set_forwarded(http::fields& headers, std::string_view client_ip, std::string_view proto,
                   std::string_view original_host) {
  auto [first, last] = headers.equal_range("X-Forwarded-For");
  if (first != last) {
    std::string joined;
    for (auto it = first; it != last; ++it) {
      if (!joined.empty()) joined += ", ";
      joined += std::string_view(it->value());
    }
    joined += ", ";
    joined += client_ip;
    headers.set("X-Forwarded-For", joined);
  } else {
    headers.set("X-Forwarded-For", client_ip);
  }
  headers.set("X-Forwarded-Proto", proto);
  if (!original_host.empty()) {
    headers.set("X-Forwarded-Host", original_host);
  } else {
    headers.erase("X-Forwarded-Host");
  }
}

}  // namespace portcullis::proxy
