// Access-log redaction (see redaction.h).
#include "observe/redaction.h"

#include <algorithm>
#include <array>

namespace portcullis::observe {
namespace {

constexpr std::array<std::string_view, 13> kDefaultParams = {
    "api_key", "apikey",        "key",      "access_token", "id_token", "refresh_token", "token",
    "code",    "client_secret", "password", "secret",       "sig",      "signature"};

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// A query parameter name as the gateway reads it: percent-decoded ('+' is a space in form
// encoding), lower case. Malformed escapes stay as they are.
std::string decoded_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(lower(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]))));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : lower(s[i]));
    }
  }
  return out;
}

bool base64url_or_dot(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

struct Span {
  std::size_t begin, end;
};

}  // namespace

Redactor::Redactor(std::vector<std::string> extra_params, auth::CredentialShapes shapes)
    : shapes_(shapes) {
  for (auto d : kDefaultParams) params_.emplace_back(d);
  for (auto& p : extra_params) {
    std::string name = decoded_lower(p);
    if (std::find(params_.begin(), params_.end(), name) == params_.end()) {
      params_.push_back(std::move(name));
    }
  }
}

std::span<const std::string_view> Redactor::default_params() {
  return kDefaultParams;
}

bool Redactor::named(std::string_view encoded_name) const {
  const std::string name = decoded_lower(encoded_name);
  return std::find(params_.begin(), params_.end(), name) != params_.end();
}

bool Redactor::mask(std::string_view text, std::string& out) const {
  std::vector<Span> spans;
  // API keys: fixed length from their prefix, checksum verified by the shape.
  if (!shapes_.key_prefix.empty()) {
    for (std::size_t at = text.find(shapes_.key_prefix); at != std::string_view::npos;
         at = text.find(shapes_.key_prefix, at + 1)) {
      if (shapes_.key(text.substr(at, shapes_.key_length))) {
        spans.push_back({at, at + shapes_.key_length});
        at += shapes_.key_length - 1;
      }
    }
  }
  // Compact JWS: a run of base64url characters with exactly two dots. A token glued to a
  // percent escape ("Bearer%20eyJ...") starts inside its run: tried again from "eyJ".
  if (shapes_.is_jws != nullptr && text.find('.') != std::string_view::npos) {
    std::size_t i = 0;
    while (i < text.size()) {
      if (!base64url_or_dot(text[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < text.size() && base64url_or_dot(text[j])) ++j;
      std::string_view run = text.substr(i, j - i);
      if (std::count(run.begin(), run.end(), '.') == 2) {
        std::size_t from = 0;
        if (!shapes_.is_jws(run)) {
          from = run.find("eyJ", 1);
          if (from != std::string_view::npos && !shapes_.is_jws(run.substr(from))) {
            from = std::string_view::npos;
          }
        }
        if (from != std::string_view::npos) spans.push_back({i + from, j});
      }
      i = j;
    }
  }
  if (spans.empty()) return false;
  std::sort(spans.begin(), spans.end(), [](Span a, Span b) { return a.begin < b.begin; });
  std::string result;
  result.reserve(text.size());
  std::size_t pos = 0;
  for (const Span& s : spans) {
    if (s.begin < pos) continue;  // inside a span already masked
    result.append(text.substr(pos, s.begin - pos));
    result.append(kRedacted);
    pos = s.end;
  }
  result.append(text.substr(pos));
  out = std::move(result);
  return true;
}

std::string Redactor::query(std::string_view raw) const {
  std::string out;
  out.reserve(raw.size());
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    std::size_t amp = raw.find('&', pos);
    if (amp == std::string_view::npos) amp = raw.size();
    const std::string_view param = raw.substr(pos, amp - pos);
    const std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && named(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1));
      out.append(kRedacted);
    } else {
      out.append(param);
    }
    if (amp == raw.size()) break;
    out.push_back('&');
    pos = amp + 1;
  }
  std::string masked;
  if (mask(out, masked)) return masked;
  return out;
}

}  // namespace portcullis::observe
