// The lexical rules of config values (see syntax.h).
#include "config/syntax.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace portcullis::config {
namespace {

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool one_of(std::string_view key, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

constexpr std::string_view kFraming =
    "is part of the HTTP framing or hop-by-hop, which the proxy handles itself";

bool framing(std::string_view key) {
  return one_of(key, {"host", "connection", "keep-alive", "proxy-connection", "te", "trailer",
                      "transfer-encoding", "upgrade", "content-length", "expect"});
}

}  // namespace

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string to_upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
  });
}

bool is_simple_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || c == '_' || c == '-' || c == '.';
  });
}

bool is_plain_query_param(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
  });
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

std::string_view closest_key(std::string_view key, std::span<const std::string_view> known) {
  const std::string lower = to_lower(key);
  std::string_view best;
  std::size_t best_distance = 3;
  for (std::string_view k : known) {
    std::size_t d = edit_distance(lower, k);
    if (d < best_distance) {
      best_distance = d;
      best = k;
    }
  }
  return best;
}

std::string header_key(std::string_view h) {
  std::string l = to_lower(h);
  std::replace(l.begin(), l.end(), '_', '-');
  return l;
}

std::string_view reserved_header(std::string_view h) {
  const std::string key = header_key(h);
  if (framing(key)) return kFraming;
  if (one_of(key, {"authorization", "proxy-authorization", "cookie"})) {
    return "carries the client's credentials, which the gateway handles itself";
  }
  if (one_of(key, {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"})) {
    return "is a forwarding header, which the gateway sets itself";
  }
  return {};
}

std::string_view unstrippable_header(std::string_view h) {
  const std::string key = header_key(h);
  if (one_of(key, {"host", "content-length", "transfer-encoding"})) {
    return "frames the request: removing it would change what the upstream reads";
  }
  if (key == "authorization") return "carries the credentials the gateway checks";
  return {};
}

}  // namespace portcullis::config
