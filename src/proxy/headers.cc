#include "proxy/headers.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <iterator>
#include <vector>

#include "common/header_line.h"

namespace portcullis::proxy {

namespace http = boost::beast::http;

bool is_hop_by_hop(http::field f) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::proxy_authenticate:
    case http::field::proxy_authorization:
      return true;
    default:
      return false;
  }
}

namespace {

// The names a Connection header lists that must go too (those that are not removed anyway,
// and never the framing, Host or `keep`).
void collect_connection_names(std::string_view value, std::string_view keep,
                              std::vector<std::string>& out) {
  for (auto token : http::token_list(value)) {
    const http::field f = http::string_to_field(token);
    if (is_hop_by_hop(f) || f == http::field::content_length || f == http::field::host) continue;
    if (!keep.empty() && boost::beast::iequals(token, keep)) continue;
    if (boost::beast::iequals(token, "close")) continue;
    out.emplace_back(token);
  }
}

void erase_named(http::fields& headers, const std::vector<std::string>& names) {
  for (const auto& n : names) headers.erase(n);
}

}  // namespace

void remove_hop_by_hop(http::fields& headers, std::string_view keep) {
  std::vector<std::string> named;
  for (auto it = headers.begin(); it != headers.end();) {
    if (!is_hop_by_hop(it->name())) {
      ++it;
      continue;
    }
    if (it->name() == http::field::connection) collect_connection_names(it->value(), keep, named);
    it = headers.erase(it);
  }
  erase_named(headers, named);
}

namespace {

// A field Beast has no enum value for (the X-Forwarded-* family), by its name.
bool is_named(const http::fields::value_type& f, std::string_view name) {
  return f.name() == http::field::unknown && boost::beast::iequals(f.name_string(), name);
}

// X_Forwarded_For and the other spellings with '_' of the forwarding headers, which CGI, WSGI
// and Rack servers read as the header itself: never the gateway's, always dropped.
bool is_forwarding_spelling(const http::fields::value_type& f) {
  if (f.name() != http::field::unknown) return false;
  const std::string_view n = f.name_string();
  if (n.find('_') == std::string_view::npos) return false;
  for (std::string_view name : {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          if (a == '_') a = '-';
          if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
          return a == b;
        })) {
      return true;
    }
  }
  return false;
}

void append_list_item(std::string& list, std::string_view item) {
  if (!list.empty()) list += ", ";
  list += item;
}

}  // namespace

std::string joined_forwarded_for(const http::fields& headers) {
  std::string out;
  for (const auto& f : headers) {
    if (is_named(f, "X-Forwarded-For")) append_list_item(out, f.value());
  }
  return out;
}

void rewrite_request_head(http::fields& headers, const UpstreamHead& head,
                          std::string& original_host, std::string& lines) {
  std::vector<std::string> named;
  std::string forwarded_for;
  bool kept_proto = false, kept_host = false;
  for (auto it = headers.begin(); it != headers.end();) {
    const http::field f = it->name();
    bool drop = true;
    if (f == http::field::host) {
      original_host = it->value();
    } else if (f == http::field::content_length) {
      // Re-written below from the parsed length (one value, whatever the client repeated).
    } else if (is_hop_by_hop(f)) {
      if (f == http::field::connection) collect_connection_names(it->value(), {}, named);
    } else if (f == http::field::forwarded) {
      drop = !head.peer_trusted;
    } else if (is_named(*it, "X-Forwarded-For")) {
      if (head.peer_trusted) append_list_item(forwarded_for, it->value());
    } else if (is_named(*it, "X-Forwarded-Proto")) {
      drop = !head.peer_trusted;
      kept_proto = kept_proto || !drop;
    } else if (is_named(*it, "X-Forwarded-Host")) {
      drop = !head.peer_trusted;
      kept_host = kept_host || !drop;
    } else if (is_forwarding_spelling(*it)) {
      // dropped
    } else if (f == http::field::authorization) {
      drop = head.drop_authorization;
    } else {
      drop = !head.drop_name.empty() && boost::beast::iequals(it->name_string(), head.drop_name);
    }
    it = drop ? headers.erase(it) : std::next(it);
  }
  erase_named(headers, named);
  append_header_line(lines, "Host", head.upstream_host);
  append_list_item(forwarded_for, head.peer_ip);
  append_header_line(lines, "X-Forwarded-For", forwarded_for);
  if (!kept_proto) append_header_line(lines, "X-Forwarded-Proto", head.proto);
  if (!kept_host && !original_host.empty()) {
    append_header_line(lines, "X-Forwarded-Host", original_host);
  }
  if (head.chunked) {
    lines += "Transfer-Encoding: chunked\r\n";
  } else if (head.content_length) {
    append_header_line(lines, "Content-Length", std::to_string(*head.content_length));
  }
}

void append_response_lines(std::string_view request_id_name, std::string_view request_id,
                           unsigned version, bool keep_alive, bool chunked, std::string& lines) {
  append_header_line(lines, request_id_name, request_id);
  if (version == 11 && !keep_alive) lines += "Connection: close\r\n";
  if (version == 10 && keep_alive) lines += "Connection: keep-alive\r\n";
  if (chunked) lines += "Transfer-Encoding: chunked\r\n";
}

}  // namespace portcullis::proxy
