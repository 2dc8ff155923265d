// A configured JWT provider at run time: its policy, its keys (static, or a remote JWK set
// kept by JwksCache) and its verified-token cache. A reload whose provider config is
// unchanged gets the running provider back, with its keys and cache (open_provider).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "jose/algorithms.h"
#include "auth/jwt/claims.h"
#include "auth/jwt/key_source.h"
#include "auth/jwt/token_cache.h"
#include "auth/credential_memo.h"
#include "config/config.h"

namespace portcullis::auth::jwt {

using UnixNow = std::function<std::int64_t()>;

class Provider {
 public:
  // From a validated config, with the given key source (tests pass fakes).
  Provider(const config::JwtProviderConfig& config, std::shared_ptr<KeySource> keys,
           UnixNow now = {});

  const std::string& name() const { return config_.name; }
  const std::string& issuer() const { return config_.issuer; }
  const config::JwtProviderConfig& config() const { return config_; }
  const AlgSet& algorithms() const { return algorithms_; }
  const ClaimsPolicy& policy() const { return policy_; }
  KeySource& keys() { return *keys_; }
  TokenCache& cache() { return cache_; }
  bool ready() const { return keys_->ready(); }
  std::string_view not_ready_reason() const { return keys_->not_ready_reason(); }
  std::int64_t now() const { return now_(); }
  void start() { keys_->start(); }
  // The CredentialMemo owner for tokens this provider accepted (a reload builds new ones).
  std::uint64_t memo_owner() const { return memo_owner_; }
  // portcullis_jwt_cache_hits_total{provider="NAME"}, formatted once (observe::Metrics).
  const std::string& cache_hits_series() const { return cache_hits_series_; }

 private:
  const config::JwtProviderConfig config_;
  AlgSet algorithms_;
  ClaimsPolicy policy_;
  std::shared_ptr<KeySource> keys_;
  TokenCache cache_;
  UnixNow now_;
  const std::string cache_hits_series_;
  const std::uint64_t memo_owner_ = next_memo_owner();
};

// The key source a config describes: static keys at once, or a JwksCache fetching over HTTP
// (jwks_uri or discovery) through net::HttpClient. Null with `error` set when static key
// material is unusable.
std::shared_ptr<KeySource> make_key_source(const config::JwtProviderConfig& config,
                                           std::string& error);

// The provider for `config`, started: `running` (the one the runtime being replaced holds
// under that name, or null) when its settings are unchanged, so a reload keeps its keys and
// cache; else a new one. Null with `error` set when static key material is unusable.
std::shared_ptr<Provider> open_provider(const config::JwtProviderConfig& config,
                                        std::shared_ptr<Provider> running, std::string& error);

}  // namespace portcullis::auth::jwt
