#include "auth/jwt/provider.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>

#include "auth/jwt/jwks_cache.h"
#include "jose/strict_json.h"
#include "jose/verifier.h"
#include "net/http_client.h"
#include "observe/metrics.h"
#include "tls/client_context.h"
#include "url/http_url.h"

namespace portcullis::auth::jwt {

using jose::JsonError;
using jose::parse_alg;
using jose::parse_jwks;
using jose::parse_pem_public_key;
using jose::parse_strict_object;
using jose::secret_key;
namespace {

constexpr std::size_t kMaxJwksBytes = 1 << 20;

std::int64_t system_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A single static key (PEM or secret): whatever kid a token names, this is the key.
class SingleKeySource : public KeySource {
 public:
  explicit SingleKeySource(Key key) : key_(std::make_shared<const Key>(std::move(key))) {}
  LookupResult try_lookup(std::optional<std::string_view>, Alg alg) override {
    if (!key_allows(*key_, alg)) return {KeyLookup::UnknownKey, nullptr};
    return {KeyLookup::Found, key_};
  }
  void lookup_async(std::optional<std::string> kid, Alg alg,
                    std::function<void(LookupResult)> done) override {
    done(try_lookup(kid, alg));
  }
  bool ready() const override { return true; }

 private:
  std::shared_ptr<const Key> key_;
};

class ClientScheduler : public Scheduler {
 public:
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    net::HttpClient::shared().after(delay, std::move(fn));
  }
};

FetchResult to_fetch_result(const net::HttpResponse& r, std::string_view url) {
  FetchResult f;
  const std::string what = url::redact(url);
  if (!r.ok) {
    f.error = std::string(what) + ": " + r.error;
    return f;
  }
  if (r.status != 200) {
    f.error = std::string(what) + ": HTTP " + std::to_string(r.status);
    return f;
  }
  f.ok = true;
  f.body = r.body;
  if (auto cc = r.header("Cache-Control"); !cc.empty()) f.max_age = cache_control_max_age(cc);
  return f;
}

// GET jwks_uri.
class HttpJwksFetcher : public JwksFetcher {
 public:
  HttpJwksFetcher(config::FetchUrl url, std::chrono::milliseconds timeout, net::TlsContext tls)
      : url_(std::move(url)), timeout_(timeout), tls_(std::move(tls)) {}
  void fetch(std::function<void(FetchResult)> done) override {
    net::HttpClient::shared().get(
        url_, {{"Accept", "application/jwk-set+json, application/json"}}, timeout_, kMaxJwksBytes,
        [done = std::move(done), url = url_.url](net::HttpResponse r) {
          done(to_fetch_result(r, url));
        },
        tls_);
  }

 private:
  const config::FetchUrl url_;
  const std::chrono::milliseconds timeout_;
  const net::TlsContext tls_;
};

// OpenID Connect Discovery: the document names the issuer (checked) and the jwks_uri. It is
// fetched first, and again whenever a JWKS fetch has failed (the jwks_uri may have moved).
class DiscoveryFetcher : public JwksFetcher {
 public:
  DiscoveryFetcher(config::FetchUrl url, std::string issuer, std::chrono::milliseconds timeout,
                   net::TlsContext tls)
      : state_(std::make_shared<State>()) {
    state_->url = std::move(url);
    state_->issuer = std::move(issuer);
    state_->timeout = timeout;
    state_->tls = std::move(tls);
  }

  void fetch(std::function<void(FetchResult)> done) override {
    std::optional<config::FetchUrl> jwks;
    {
      std::lock_guard lock(state_->mu);
      if (!state_->last_failed) jwks = state_->jwks;
    }
    if (jwks) return fetch_jwks(state_, *jwks, std::move(done));
    auto state = state_;
    net::HttpClient::shared().get(
        state->url, {{"Accept", "application/json"}}, state->timeout, kMaxJwksBytes,
        [state, done = std::move(done)](net::HttpResponse r) mutable {
          FetchResult f = to_fetch_result(r, state->url.url);
          if (!f.ok) return fail(state, std::move(f), done);
          boost::json::object doc;
          if (parse_strict_object(f.body, doc) != JsonError::None) {
            return fail(state, {false, {}, {}, "discovery document is not a JSON object"}, done);
          }
          auto iss = doc.find("issuer");
          if (iss == doc.end() || !iss->value().is_string() ||
              std::string_view(iss->value().get_string()) != state->issuer) {
            return fail(
                state,
                {false, {}, {}, "discovery document names another issuer than " + state->issuer},
                done);
          }
          auto uri = doc.find("jwks_uri");
          config::FetchUrl jwks;
          std::string why;
          if (uri == doc.end() || !uri->value().is_string()) {
            return fail(state, {false, {}, {}, "discovery document has no jwks_uri"}, done);
          }
          if (!config::parse_fetch_url(std::string_view(uri->value().get_string()), jwks, why)) {
            return fail(state, {false, {}, {}, "discovery jwks_uri: " + why}, done);
          }
          // Keys fetched in clear text would undo the TLS the document came over.
          if (state->url.https && !jwks.https) {
            return fail(state,
                        {false,
                         {},
                         {},
                         "the discovery document, fetched over https, names an "
                         "http:// jwks_uri: " +
                             url::redact(jwks.url)},
                        done);
          }
          {
            std::lock_guard lock(state->mu);
            state->jwks = jwks;
          }
          fetch_jwks(state, jwks, std::move(done));
        },
        state->tls);
  }

 private:
  struct State {
    std::mutex mu;
    config::FetchUrl url;
    std::string issuer;
    std::chrono::milliseconds timeout{3000};
    std::optional<config::FetchUrl> jwks;
    bool last_failed = false;
    net::TlsContext tls;
  };

  static void fail(const std::shared_ptr<State>& state, FetchResult f,
                   std::function<void(FetchResult)>& done) {
    {
      std::lock_guard lock(state->mu);
      state->last_failed = true;
    }
    done(std::move(f));
  }

  static void fetch_jwks(std::shared_ptr<State> state, const config::FetchUrl& jwks,
                         std::function<void(FetchResult)> done) {
    net::HttpClient::shared().get(
        jwks, {{"Accept", "application/jwk-set+json, application/json"}}, state->timeout,
        kMaxJwksBytes,
        [state, done = std::move(done), url = jwks.url](net::HttpResponse r) {
          FetchResult f = to_fetch_result(r, url);
          {
            std::lock_guard lock(state->mu);
            state->last_failed = !f.ok;
          }
          done(std::move(f));
        },
        state->tls);
  }

  std::shared_ptr<State> state_;
};

}  // namespace

Provider::Provider(const config::JwtProviderConfig& config, std::shared_ptr<KeySource> keys,
                   UnixNow now)
    : config_(config),
      keys_(std::move(keys)),
      cache_(config.token_cache_entries, config.clock_skew_s),
      now_(now ? std::move(now) : UnixNow(system_now)),
      cache_hits_series_(observe::Metrics::series_key("portcullis_jwt_cache_hits_total",
                                                      {{"provider", config.name}})) {
  for (const auto& name : config_.algorithms) {
    if (auto a = parse_alg(name)) algorithms_.add(*a);
  }
  policy_.issuer = config_.issuer;
  policy_.audiences = config_.audiences;
  policy_.clock_skew_s = config_.clock_skew_s;
  policy_.required_claims = config_.required_claims;
  if (config_.max_lifetime_s) policy_.max_lifetime_s = *config_.max_lifetime_s;
  if (config_.typ) policy_.typ = normalise_typ(*config_.typ);
  policy_.scopes_claim = config_.scopes_claim;
  policy_.roles_claim = config_.roles_claim;
  policy_.rate_limit_claim = config_.rate_limit_claim;
  policy_.claims_to_headers = config_.claims_to_headers;
}

std::shared_ptr<KeySource> make_key_source(const config::JwtProviderConfig& c, std::string& error) {
  using KS = config::JwtProviderConfig::KeySource;
  auto& metrics = observe::Metrics::global();
  switch (c.key_source) {
    case KS::Secret:
      metrics.set_gauge("portcullis_jwks_keys", {{"provider", c.name}}, 1);
      return std::make_shared<SingleKeySource>(secret_key(c.secret.reveal()));
    case KS::PublicKeyFile: {
      Key key;
      if (!parse_pem_public_key(c.public_key_pem, key, error)) {
        error = c.public_key_file + ": " + error;
        return nullptr;
      }
      metrics.set_gauge("portcullis_jwks_keys", {{"provider", c.name}}, 1);
      return std::make_shared<SingleKeySource>(std::move(key));
    }
    case KS::JwksFile: {
      KeySet set;
      std::vector<std::string> skipped;
      if (!parse_jwks(c.jwks_json, set, skipped, error)) {
        error = c.jwks_file + ": " + error;
        return nullptr;
      }
      for (const auto& s : skipped) spdlog::warn("jwt provider '{}': skipping {}", c.name, s);
      metrics.set_gauge("portcullis_jwks_keys", {{"provider", c.name}},
                        static_cast<double>(set.size()));
      return std::make_shared<StaticKeySource>(std::move(set));
    }
    case KS::JwksUri:
    case KS::Discovery: {
      JwksOptions o;
      o.provider = c.name;
      o.refresh = std::chrono::seconds(c.jwks_refresh_s);
      o.min_refresh = std::chrono::seconds(c.jwks_min_refresh_s);
      o.max_refresh = std::chrono::seconds(c.jwks_max_refresh_s);
      o.refetch_cooldown = std::chrono::seconds(c.jwks_refetch_cooldown_s);
      o.max_stale = std::chrono::seconds(c.jwks_max_stale_s);
      const auto timeout = std::chrono::milliseconds(c.jwks_timeout_ms);
      // For https (a discovery document may name an https jwks_uri whatever its own scheme).
      net::TlsContext tls;
      if (c.jwks_uri.https || c.key_source == KS::Discovery) {
        tls = tls::ClientContext::create(c.tls, error);
        if (!tls) return nullptr;
      }
      std::unique_ptr<JwksFetcher> fetcher;
      if (c.key_source == KS::JwksUri) {
        fetcher = std::make_unique<HttpJwksFetcher>(c.jwks_uri, timeout, std::move(tls));
      } else {
        fetcher =
            std::make_unique<DiscoveryFetcher>(c.discovery, c.issuer, timeout, std::move(tls));
      }
      metrics.set_gauge("portcullis_jwks_keys", {{"provider", c.name}}, 0);
      auto cache =
          JwksCache::create(std::move(o), std::move(fetcher), std::make_shared<ClientScheduler>());
      // The key set's age, computed at scrape time for as long as the cache lives.
      metrics.add_live_gauge(cache, "portcullis_jwks_age_seconds", {{"provider", c.name}},
                             [raw = cache.get()] { return raw->age_seconds(); });
      return cache;
    }
  }
  error = "unknown key source";
  return nullptr;
}

std::shared_ptr<Provider> open_provider(const config::JwtProviderConfig& config,
                                        std::shared_ptr<Provider> running, std::string& error) {
  if (running) {
    // Where the provider is written in the file does not matter.
    if (running->config().with_positions_of(config) == config) return running;
  }
  auto keys = make_key_source(config, error);
  if (!keys) return nullptr;
  auto provider = std::make_shared<Provider>(config, std::move(keys));
  provider->start();
  return provider;
}

}  // namespace portcullis::auth::jwt
