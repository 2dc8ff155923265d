// Finds a mechanism's credential in a request, in the places its config names, and removes
// it from what goes upstream. The one reader of Authorization schemes, credential headers,
// cookies and query parameters: every mechanism (api_key, jwt, oauth2) has one.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

// Where a mechanism's credential may be.
struct CredentialPlaces {
  // `Authorization: <scheme> <credential>`, scheme case-insensitive; empty: not looked at.
  std::string scheme;
  // Whether remove() drops such an Authorization header. When false the forwarder decides (it
  // drops Authorization unless the route forwards it); an API key is never forwarded.
  bool remove_authorization = false;
  std::vector<std::string> headers;        // carrying the bare credential; case-insensitive
  std::vector<std::string> cookies;        // carrying the bare credential (RFC 6265)
  std::optional<std::string> query_param;  // carrying it percent-encoded
};

// A credential as found: its value, where it was, and in how many places one was (a request
// presenting more than one is ambiguous and is refused by the mechanism).
class Credential {
 public:
  enum class From : std::uint8_t { None, Authorization, Header, Cookie, Query };

  bool found() const { return places_ > 0; }
  bool ambiguous() const { return places_ > 1; }
  From from() const { return from_; }
  // Valid while the request's headers are (a query parameter's value is held here, decoded).
  std::string_view value() const { return from_ == From::Query ? decoded_ : view_; }

 private:
  friend class CredentialExtractor;
  void add(From from, std::string_view value);

  int places_ = 0;
  From from_ = From::None;
  std::string_view view_;
  std::string decoded_;
};

class CredentialExtractor {
 public:
  CredentialExtractor() = default;  // looks nowhere
  explicit CredentialExtractor(CredentialPlaces places) : places_(std::move(places)) {}

  // Every field is looked at (fields of one name need not be adjacent, whatever Beast's
  // equal_range assumes). An Authorization field only ever counts for the scheme.
  Credential extract(const boost::beast::http::fields& headers, std::string_view target) const;

  // Removes the credential's places from the upstream request: the headers, the cookies from
  // Cookie headers (others kept as they were), the query parameter, and the Authorization
  // header when `remove_authorization`.
  void remove(boost::beast::http::fields& headers, std::string& target) const;

  const CredentialPlaces& places() const { return places_; }

 private:
  CredentialPlaces places_;
};

// "<scheme> <credential>" with the scheme case-insensitive (RFC 9110 §11.4): the credential,
// empty for the scheme alone; nullopt for another scheme.
std::optional<std::string_view> scheme_credential(std::string_view value, std::string_view scheme);

// Removes from `target` ("/path?query") every query parameter whose percent-decoded value
// satisfies `drop`; the query goes entirely when nothing is left of it.
void remove_query_params_if(std::string& target, const std::function<bool(std::string_view)>& drop);

// `s` without the optional whitespace (spaces, tabs) around it (RFC 9110 §5.6.3).
std::string_view trim_ows(std::string_view s);

// The value of cookie `name` in one Cookie header (RFC 6265 §4.2.1), DQUOTEs removed.
std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name);

}  // namespace portcullis::auth
