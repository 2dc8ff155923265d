#include "auth/credential_extractor.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace portcullis::auth {
namespace {

namespace http = boost::beast::http;

bool names_one_of(std::string_view name, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (boost::beast::iequals(name, n)) return true;
  }
  return false;
}

// Cookie headers carrying cookie `name` are rewritten without it; others pass as they are.
void remove_cookie(http::fields& headers, std::string_view name) {
  bool present = false;
  for (const auto& f : headers) {
    present |= f.name() == http::field::cookie && cookie_value(f.value(), name).has_value();
  }
  if (!present) return;
  std::vector<std::string> kept;
  for (auto it = headers.begin(); it != headers.end();) {
    if (it->name() != http::field::cookie) {
      ++it;
      continue;
    }
    std::string_view value = it->value();
    std::string rebuilt;
    while (!value.empty()) {
      std::size_t semi = value.find(';');
      std::string_view pair = trim_ows(value.substr(0, semi));
      value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
      std::size_t eq = pair.find('=');
      if (pair.empty() || (eq != std::string_view::npos && trim_ows(pair.substr(0, eq)) == name)) {
        continue;
      }
      if (!rebuilt.empty()) rebuilt += "; ";
      rebuilt += pair;
    }
    if (!rebuilt.empty()) kept.push_back(std::move(rebuilt));
    it = headers.erase(it);
  }
  for (auto& k : kept) headers.insert(http::field::cookie, k);
}

void remove_query_param(std::string& target, std::string_view param) {
  if (target.find('?') == std::string::npos) return;
  auto parsed = boost::urls::parse_uri_reference(target);
  if (!parsed) {
    // Cannot happen for a target the session built; never forward a credential by accident.
    target.erase(target.find('?'));
    return;
  }
  boost::urls::url u(*parsed);
  if (u.params().erase(param) == 0) return;
  if (u.params().empty()) u.remove_query();
  target = std::string(u.buffer());
}

}  // namespace

void remove_query_params_if(std::string& target,
                            const std::function<bool(std::string_view)>& drop) {
  if (target.find('?') == std::string::npos) return;
  auto parsed = boost::urls::parse_uri_reference(target);
  if (!parsed) {
    target.erase(target.find('?'));  // never forward a credential by accident
    return;
  }
  boost::urls::url u(*parsed);
  auto params = u.params();
  bool removed = false;
  for (auto it = params.begin(); it != params.end();) {
    const auto p = *it;
    if (p.has_value && drop(p.value)) {
      it = params.erase(it);
      removed = true;
    } else {
      ++it;
    }
  }
  if (!removed) return;
  if (params.empty()) u.remove_query();
  target = std::string(u.buffer());
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string_view> scheme_credential(std::string_view value, std::string_view scheme) {
  value = trim_ows(value);
  std::size_t sp = 0;  // the scheme's end: the first SP or HTAB
  while (sp < value.size() && value[sp] != ' ' && value[sp] != '\t') ++sp;
  if (sp == value.size()) sp = std::string_view::npos;
  if (!boost::beast::iequals(value.substr(0, sp), scheme)) return std::nullopt;
  // The scheme alone is a credential of that scheme without a value: malformed, not another's.
  return sp == std::string_view::npos ? std::string_view() : trim_ows(value.substr(sp));
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view pair = trim_ows(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || trim_ows(pair.substr(0, eq)) != name) continue;
    std::string_view v = trim_ows(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return std::nullopt;
}

void Credential::add(From from, std::string_view value) {
  ++places_;
  from_ = from;
  view_ = value;
}

Credential CredentialExtractor::extract(const http::fields& headers,
                                        std::string_view target) const {
  Credential c;
  const auto& p = places_;
  for (const auto& f : headers) {
    if (f.name() == http::field::authorization) {
      if (p.scheme.empty()) continue;
      if (auto v = scheme_credential(f.value(), p.scheme))
        c.add(Credential::From::Authorization, *v);
      continue;
    }
    if (names_one_of(f.name_string(), p.headers)) {
      c.add(Credential::From::Header, trim_ows(f.value()));
      continue;
    }
    if (f.name() != http::field::cookie) continue;
    for (const auto& name : p.cookies) {
      if (auto v = cookie_value(f.value(), name)) {
        c.add(Credential::From::Cookie, *v);
        break;  // one Cookie header is one place
      }
    }
  }
  if (p.query_param && target.find('?') != std::string_view::npos) {
    if (auto parsed = boost::urls::parse_uri_reference(target)) {
      for (auto param : parsed->params()) {
        if (param.key != *p.query_param) continue;
        c.add(Credential::From::Query, {});
        c.decoded_ = param.value;
      }
    }
  }
  return c;
}

void CredentialExtractor::remove(http::fields& headers, std::string& target) const {
  const auto& p = places_;
  for (const auto& name : p.headers) headers.erase(name);
  if (p.remove_authorization && !p.scheme.empty()) {
    for (auto it = headers.begin(); it != headers.end();) {
      if (it->name() == http::field::authorization && scheme_credential(it->value(), p.scheme)) {
        it = headers.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& name : p.cookies) remove_cookie(headers, name);
  if (p.query_param) remove_query_param(target, *p.query_param);
}

}  // namespace portcullis::auth
