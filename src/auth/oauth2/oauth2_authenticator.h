// The oauth2 mechanism: a bearer token that the authorization server must vouch for, by
// RFC 7662 introspection. One OAuth2Provider per configured provider (shared by every
// route and worker, kept across reloads when its settings do not change) holds the
// introspection client, the cache and the circuit breaker; one OAuth2Authenticator per
// route names it.
//
// Outcomes: active:true -> Ok (sub, client_id, scope, roles); active:false -> 401
// inactive_credential; exp in the past, wrong iss or aud -> 401; token_type other than an
// access token -> 401 wrong_token_type (refresh tokens never call APIs); a provider that
// is down, slow, answers 5xx or nonsense, or an open breaker -> 503
// temporarily_unavailable, never 200 and never 401. No worker waits on the network.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/authenticator.h"
#include "auth/oauth2/circuit_breaker.h"
#include "auth/oauth2/introspection_cache.h"
#include "auth/oauth2/introspection_client.h"
#include "auth/oauth2/transport.h"
#include "config/oauth2_config.h"

namespace portcullis::auth::oauth2 {

// The error_description of each outcome (fixed text: nothing from the token or the
// provider's answer is ever written into a WWW-Authenticate header).
namespace describe {
inline constexpr std::string_view kMalformed = "malformed bearer token";
inline constexpr std::string_view kTooLarge = "bearer token too large";
inline constexpr std::string_view kInactive =
    "the token is not active (revoked, expired or unknown to the issuer)";
inline constexpr std::string_view kRefused =
    "the identity provider would not introspect this token";
inline constexpr std::string_view kExpired = "the token has expired";
inline constexpr std::string_view kNotYetValid = "the token is not valid yet";
inline constexpr std::string_view kIssuer = "the token was issued by another issuer";
inline constexpr std::string_view kAudience = "the token was issued for another audience";
inline constexpr std::string_view kRefreshToken =
    "a refresh token may not be used to call APIs; send an access token";
inline constexpr std::string_view kOtherTokenType =
    "only access tokens may be used to call APIs";
inline constexpr std::string_view kTimeout =
    "the identity provider did not answer in time; try again later";
inline constexpr std::string_view kUnreachable =
    "the identity provider cannot be reached; try again later";
inline constexpr std::string_view kHttpError =
    "the identity provider answered with an error; try again later";
inline constexpr std::string_view kBadAnswer =
    "the identity provider's answer could not be read; try again later";
inline constexpr std::string_view kBreakerOpen =
    "the identity provider is failing; token checks are paused briefly";
inline constexpr std::string_view kNotDiscovered =
    "the identity provider's introspection endpoint is not known yet";
}  // namespace describe

// Metric series of the mechanism. Labels: provider (config name), result, kind.
namespace series {
inline constexpr std::string_view kCalls = "portcullis_introspection_calls_total";
inline constexpr std::string_view kCacheHits = "portcullis_introspection_cache_hits_total";
inline constexpr std::string_view kCacheMisses = "portcullis_introspection_cache_misses_total";
inline constexpr std::string_view kCoalesced = "portcullis_introspection_coalesced_total";
inline constexpr std::string_view kLatency = "portcullis_introspection_latency_seconds";
inline constexpr std::string_view kBreakerOpen = "portcullis_introspection_breaker_open";
inline constexpr std::string_view kBreakerRejected =
    "portcullis_introspection_breaker_rejections_total";
}  // namespace series

// Tokens longer than this are refused without a call (introspection is not free).
inline constexpr std::size_t kMaxTokenBytes = 8192;

class OAuth2Provider : public std::enable_shared_from_this<OAuth2Provider> {
 public:
  struct Clocks {
    CircuitBreaker::Now steady;                // monotonic, for TTLs and the breaker
    std::function<std::int64_t()> unix_now;    // seconds, for exp/nbf
  };

  static std::shared_ptr<OAuth2Provider> create(const config::OAuth2ProviderConfig& config,
                                                std::shared_ptr<IntrospectionTransport> transport,
                                                Clocks clocks = {});

  // Decides one bearer token (already extracted and shape-checked). Calls `done` once.
  // `memo`: the connection's memo, filled from a positive cache hit (for exactly the entry's
  // life, in the cache's clock) and answered from on the next request with the same token.
  void authenticate_token(std::string_view token, AuthCallback done,
                          CredentialMemo* memo = nullptr);

  // Whether an answer about `claims` (an RFC 7662 answer with active) lets the token in;
  // the decision and how long to keep it. Public for tests.
  struct Verdict {
    DecisionPtr decision;
    std::chrono::seconds ttl{0};
  };
  Verdict decide(const IntrospectionAnswer& answer, const TokenKey& key,
                 std::int64_t now) const;

  // False until the introspection endpoint is known (discovery). Asking starts a
  // discovery attempt when one is due.
  bool ready() const;
  // Why tokens cannot be introspected now, for /readyz (a fixed phrase), or empty: discovery
  // not done yet (asking starts an attempt when one is due, as ready() does), or the
  // circuit breaker open.
  std::string_view not_ready_reason() const;
  static constexpr std::string_view kNotDiscovered = "discovery not done yet";
  static constexpr std::string_view kBreakerOpen = "circuit breaker open";

  const config::OAuth2ProviderConfig& config() const { return config_; }
  IntrospectionCache& cache() { return cache_; }
  const CircuitBreaker& breaker() const { return breaker_; }

  OAuth2Provider(const config::OAuth2ProviderConfig& config,
                 std::shared_ptr<IntrospectionTransport> transport, Clocks clocks);

 private:
  const std::uint64_t memo_owner_ = next_memo_owner();
  void introspect(const TokenKey& key, std::string token);
  std::shared_ptr<const IntrospectionClient> client() const;
  void maybe_discover() const;
  void discovered(const HttpOutcome& outcome) const;
  void record_call(bool ok) const;

  const config::OAuth2ProviderConfig config_;
  const std::shared_ptr<IntrospectionTransport> transport_;
  const Clocks clocks_;
  IntrospectionCache cache_;
  mutable CircuitBreaker breaker_;

  mutable std::mutex mu_;  // guards the discovered state below
  mutable std::shared_ptr<const IntrospectionClient> client_;
  mutable std::optional<std::string> expected_issuer_;
  mutable bool discovering_ = false;
  mutable CircuitBreaker::Clock::time_point next_discovery_{};
};

class OAuth2Authenticator : public Authenticator {
 public:
  explicit OAuth2Authenticator(std::shared_ptr<OAuth2Provider> provider);

  std::string_view method() const override { return method_; }
  std::string_view challenge_scheme() const override { return "Bearer"; }
  const CredentialExtractor& credentials() const override { return credentials_; }
  void authenticate(const AuthRequest& request, AuthCallback done) override;

 private:
  std::shared_ptr<OAuth2Provider> provider_;
  std::string method_;               // "oauth2:NAME"
  CredentialExtractor credentials_;  // Authorization: Bearer
};

// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
bool is_b64token(std::string_view token);

// The provider for a config entry: `running` (the one the runtime being replaced holds under
// that name, or null) when its settings are unchanged, so its cache and breaker survive a
// reload; else a new one on `transport` (make_http_transport() in the gateway).
std::shared_ptr<OAuth2Provider> open_provider(const config::OAuth2ProviderConfig& config,
                                              std::shared_ptr<OAuth2Provider> running,
                                              std::shared_ptr<IntrospectionTransport> transport);

}  // namespace portcullis::auth::oauth2
