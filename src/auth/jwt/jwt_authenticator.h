// The jwt mechanism for one route: finds a bearer JWT (Authorization: Bearer, a provider's
// own header or cookie, or the route's jwt_query_param), lets the token's iss pick one of
// the route's providers, and validates it against that provider's keys and policy. The
// verified-token cache answers repeated tokens without a signature check; a key-set refetch
// (unknown kid) answers later, from the HTTP client's thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/jwt/provider.h"

namespace portcullis::auth::jwt {

class JwtAuthenticator : public Authenticator {
 public:
  // `providers`: the route's jwt providers, in the route's order. `query_param`: the route's
  // jwt_query_param. `sole_bearer`: whether this is the route's only mechanism that takes
  // bearer tokens, so that a JWT from an issuer none of the providers knows, and a bearer
  // token that is not a JWT at all, are refused here (true) rather than left to a later
  // mechanism of the route (false: oauth2 introspects opaque and JWT-shaped tokens alike).
  JwtAuthenticator(std::vector<std::shared_ptr<Provider>> providers,
                   std::optional<std::string> query_param, bool sole_bearer = true);

  std::string_view method() const override { return method_; }
  std::string_view challenge_scheme() const override { return "Bearer"; }
  const CredentialExtractor& credentials() const override { return credentials_; }
  void authenticate(const AuthRequest& request, AuthCallback done) override;

 private:
  std::vector<std::shared_ptr<Provider>> providers_;
  // Authorization: Bearer, the providers' own headers and cookies, the route's parameter.
  CredentialExtractor credentials_;
  bool sole_bearer_;
  std::string method_;
  std::size_t max_token_bytes_ = 0;  // the largest of the providers'
};

// "ab12cd34ef56": the first 12 hex characters of a token's SHA-256, for logs.
std::string token_id(const TokenDigest& digest);

}  // namespace portcullis::auth::jwt
