// The api_key mechanism: finds a key in the configured header (X-API-Key by default), in
// `Authorization: ApiKey <key>`, or in the route's api_key_query_param, and decides it
// against the in-memory view of the key store. Synchronous, no I/O on the request path.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "auth/api_key/key_registry.h"
#include "auth/authenticator.h"

namespace portcullis::auth::api_key {

// The error_description of each outcome (distinct, so a caller can tell what to fix).
namespace describe_outcome {
inline constexpr std::string_view kMalformed = "malformed API key";
inline constexpr std::string_view kUnknown = "unknown API key";
inline constexpr std::string_view kWrongSecret = "API key secret does not match";
inline constexpr std::string_view kDisabled = "API key is disabled";
inline constexpr std::string_view kRevoked = "API key has been revoked";
inline constexpr std::string_view kExpired = "API key has expired";
inline constexpr std::string_view kRoute = "API key may not be used on this route";
inline constexpr std::string_view kSource = "API key may not be used from this address";
inline constexpr std::string_view kAmbiguous = "more than one API key was presented";
inline constexpr std::string_view kUnavailable = "API keys cannot be checked right now";
}  // namespace describe_outcome

class ApiKeyAuthenticator : public Authenticator {
 public:
  // `query_param`: the route's api_key_query_param, if any (one authenticator per route).
  ApiKeyAuthenticator(std::shared_ptr<KeyRegistry> registry, std::string header,
                      std::optional<std::string> query_param);

  std::string_view method() const override { return "api_key"; }
  std::string_view challenge_scheme() const override { return "ApiKey"; }
  const CredentialExtractor& credentials() const override { return credentials_; }
  void authenticate(const AuthRequest& request, AuthCallback done) override;

  // The decision alone (tests call it directly). `now`: unix seconds.
  AuthResult decide(const AuthRequest& request, std::int64_t now) const;

 private:
  // The checks after the secret: status, expiry, route, source address; then the identity.
  AuthResult admit(const KeyEntry& e, std::string_view id, const AuthRequest& request,
                   std::int64_t now) const;

  std::shared_ptr<KeyRegistry> registry_;
  // The configured header, `Authorization: ApiKey <key>` (never forwarded) and the route's
  // query parameter.
  CredentialExtractor credentials_;
};

}  // namespace portcullis::auth::api_key
