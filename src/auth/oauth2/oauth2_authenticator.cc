#include "auth/oauth2/oauth2_authenticator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/json/parse.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

#include "auth/cert_binding.h"
#include "identity/identity.h"
#include "identity/rate_plan.h"
#include "observe/metrics.h"
#include "url/http_url.h"

namespace portcullis::auth::oauth2 {
namespace {

namespace json = boost::json;

std::int64_t system_unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `who`: whom an active token names, kept with the refusal for the access log only.
DecisionPtr refuse(Status s, std::string_view description, identity::Identity who = {}) {
  auto d = std::make_shared<Decision>();
  d->result = AuthResult::fail(s, std::string(description), "Bearer");
  d->result.identity = std::move(who);
  return d;
}

// Whom an active token names: its sub and client_id (strings only) and the token's handle.
identity::Identity named_by(const json::object& claims, const TokenKey& key) {
  identity::Identity id;
  if (const auto* sub = claims.if_contains("sub"); sub != nullptr && sub->is_string()) {
    id.subject = std::string(sub->get_string());
  }
  if (const auto* cid = claims.if_contains("client_id"); cid != nullptr && cid->is_string()) {
    id.client_id = std::string(cid->get_string());
  }
  id.auth_method = "oauth2";
  id.credential_id = credential_id(key);
  return id;
}

// A claim by dotted path ("realm_access.roles"); a member whose name holds the whole path
// wins, so "https://example.com/roles"-style names with dots still work when written whole.
const json::value* claim_at(const json::object& claims, std::string_view path) {
  if (const auto* whole = claims.if_contains(path)) return whole;
  const json::object* obj = &claims;
  while (true) {
    const auto dot = path.find('.');
    const auto* v = obj->if_contains(path.substr(0, dot));
    if (v == nullptr || dot == std::string_view::npos) return v;
    if (!v->is_object()) return nullptr;
    obj = &v->get_object();
    path.remove_prefix(dot + 1);
  }
}

// A space-separated string or an array of strings; other shapes give nothing. An array item
// with a space in it sets `bad`: the identity headers join items with spaces, so upstream
// would read several scopes or roles where policy checked one (RFC 6749 §3.3: a scope token
// has no space). The JWT path refuses the same items (jwt/claims.cc).
std::vector<std::string> string_list(const json::value* v, bool& bad) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (v->is_string()) return identity::split_scopes(v->get_string());
  if (v->is_array()) {
    for (const auto& item : v->get_array()) {
      if (!item.is_string() || item.get_string().empty()) continue;
      const std::string_view s(item.get_string());
      if (s.find(' ') != std::string_view::npos) bad = true;
      out.emplace_back(s);
    }
  }
  return out;
}

// A NumericDate claim: nullopt when absent, and `bad` set when present but not a number.
std::optional<std::int64_t> numeric_date(const json::object& claims, std::string_view name,
                                         bool& bad) {
  const auto* v = claims.if_contains(name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(v->get_uint64(), INT64_MAX));
  }
  if (v->is_double() && std::isfinite(v->get_double())) {
    // Saturated: converting a double outside int64's range is undefined behaviour (on x86 a
    // far-future 1e300 became INT64_MIN, i.e. long expired).
    const double x = std::floor(v->get_double());
    if (x >= 9.2e18) return INT64_MAX;
    if (x <= -9.2e18) return INT64_MIN;
    return static_cast<std::int64_t>(x);
  }
  bad = true;
  return std::nullopt;
}

std::string_view failure_description(IntrospectionAnswer::Kind k) {
  switch (k) {
    case IntrospectionAnswer::Kind::Timeout:
      return describe::kTimeout;
    case IntrospectionAnswer::Kind::Unreachable:
      return describe::kUnreachable;
    case IntrospectionAnswer::Kind::HttpStatus:
      return describe::kHttpError;
    case IntrospectionAnswer::Kind::Malformed:
    case IntrospectionAnswer::Kind::Answer:
    case IntrospectionAnswer::Kind::Refused:
      break;
  }
  return describe::kBadAnswer;
}

}  // namespace

bool is_b64token(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size()) {
    const char c = t[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) break;
    ++i;
  }
  if (i == 0) return false;
  while (i < t.size() && t[i] == '=') ++i;
  return i == t.size();
}

// ---- Provider ----------------------------------------------------------------------------

std::shared_ptr<OAuth2Provider> OAuth2Provider::create(
    const config::OAuth2ProviderConfig& config, std::shared_ptr<IntrospectionTransport> transport,
    Clocks clocks) {
  auto p = std::make_shared<OAuth2Provider>(config, std::move(transport), std::move(clocks));
  observe::Metrics::global().set_gauge(series::kBreakerOpen, {{"provider", config.name}}, 0);
  p->maybe_discover();
  return p;
}

OAuth2Provider::OAuth2Provider(const config::OAuth2ProviderConfig& config,
                               std::shared_ptr<IntrospectionTransport> transport, Clocks clocks)
    : config_(config),
      transport_(std::move(transport)),
      clocks_{clocks.steady, clocks.unix_now ? clocks.unix_now : system_unix_now},
      cache_(config.cache_entries, clocks.steady),
      breaker_(config.breaker_failures, std::chrono::seconds(config.breaker_open_s), clocks.steady),
      expected_issuer_(config.issuer) {
  if (!config_.introspection_endpoint.empty()) {
    client_ = std::make_shared<IntrospectionClient>(
        IntrospectionClient::Settings{config_.introspection_endpoint, config_.client_id,
                                      config_.client_secret, config_.auth_method,
                                      std::chrono::milliseconds(config_.timeout_ms)},
        transport_);
  }
}

std::shared_ptr<const IntrospectionClient> OAuth2Provider::client() const {
  std::lock_guard lock(mu_);
  return client_;
}

bool OAuth2Provider::ready() const {
  if (client()) return true;
  maybe_discover();
  return false;
}

std::string_view OAuth2Provider::not_ready_reason() const {
  if (!ready()) return kNotDiscovered;
  if (breaker_.refusing()) return kBreakerOpen;
  return {};
}

void OAuth2Provider::maybe_discover() const {
  if (config_.discovery.empty()) return;
  const auto now = clocks_.steady ? clocks_.steady() : CircuitBreaker::Clock::now();
  {
    std::lock_guard lock(mu_);
    if (client_ || discovering_ || now < next_discovery_) return;
    discovering_ = true;
    next_discovery_ = now + std::chrono::seconds(2);  // retry pace while it fails
  }
  HttpExchange x;
  x.method = "GET";
  x.url = config_.discovery;
  x.headers.emplace_back("Accept", "application/json");
  x.timeout = std::chrono::milliseconds(config_.timeout_ms);
  std::weak_ptr<const OAuth2Provider> weak = weak_from_this();
  transport_->send(std::move(x), [weak](HttpOutcome outcome) {
    if (auto self = weak.lock()) self->discovered(outcome);
  });
}

void OAuth2Provider::discovered(const HttpOutcome& outcome) const {
  auto fail = [&](const std::string& why) {
    spdlog::warn("oauth2 provider '{}': discovery from {} failed: {}; retrying", config_.name,
                 url::redact(config_.discovery.url), why);
    std::lock_guard lock(mu_);
    discovering_ = false;
  };
  if (outcome.kind != HttpOutcome::Kind::Response) {
    return fail(outcome.kind == HttpOutcome::Kind::Timeout ? "timeout" : outcome.detail);
  }
  if (outcome.status != 200) return fail("HTTP " + std::to_string(outcome.status));
  boost::system::error_code ec;
  json::value doc = json::parse(outcome.body, ec);
  if (ec || !doc.is_object()) return fail("the document is not a JSON object");
  const auto* endpoint = doc.get_object().if_contains("introspection_endpoint");
  const auto* issuer = doc.get_object().if_contains("issuer");
  if (endpoint == nullptr || !endpoint->is_string()) {
    return fail("the document has no introspection_endpoint");
  }
  if (issuer == nullptr || !issuer->is_string() || issuer->get_string().empty()) {
    return fail("the document has no issuer");
  }
  if (config_.issuer && *config_.issuer != issuer->get_string()) {
    return fail("its issuer '" + std::string(issuer->get_string()) +
                "' is not the configured issuer '" + *config_.issuer + "'");
  }
  config::HttpUrl url;
  std::string why;
  if (!config::parse_http_url(std::string(endpoint->get_string()), url, why)) {
    return fail("introspection_endpoint: " + why);
  }
  // Tokens sent in clear text would undo the TLS the document came over.
  if (config_.discovery.https && !url.https) {
    return fail("the document, fetched over https, names an http:// introspection_endpoint");
  }
  auto client = std::make_shared<IntrospectionClient>(
      IntrospectionClient::Settings{url, config_.client_id, config_.client_secret,
                                    config_.auth_method,
                                    std::chrono::milliseconds(config_.timeout_ms)},
      transport_);
  spdlog::info("oauth2 provider '{}': introspection endpoint {} (issuer {})", config_.name,
               url::redact(url.url), std::string(issuer->get_string()));
  std::lock_guard lock(mu_);
  client_ = std::move(client);
  expected_issuer_ = std::string(issuer->get_string());
  discovering_ = false;
}

void OAuth2Provider::authenticate_token(std::string_view token, AuthCallback done,
                                        CredentialMemo* memo) {
  auto& metrics = observe::Metrics::global();
  // The connection's last token, still within its cache entry's life (steady ticks)?
  if (memo != nullptr && memo->matches(memo_owner_, token)) {
    if (cache_.now().time_since_epoch().count() < memo->valid_until) {
      metrics.add(series::kCacheHits, {{"provider", config_.name}, {"kind", "positive"}});
      done(AuthResult::ok_memo(*memo));
      return;
    }
    memo->clear();
  }
  const TokenKey key = token_key(token);
  IntrospectionCache::Clock::time_point expires;
  if (DecisionPtr hit = cache_.find(key, &expires)) {  // no waiter to build on a hit
    metrics.add(series::kCacheHits,
                {{"provider", config_.name}, {"kind", hit->positive() ? "positive" : "negative"}});
    if (memo != nullptr && hit->positive()) {
      memo->owner = memo_owner_;
      memo->credential.assign(token);
      memo->set_identity(hit->result.identity);
      memo->valid_from = std::numeric_limits<std::int64_t>::min();
      memo->valid_until = expires.time_since_epoch().count();
    }
    done(AuthResult(hit->result));  // a copy: the cached decision is shared
    return;
  }
  const auto lookup = cache_.lookup(
      key, [done = std::move(done)](const DecisionPtr& d) { done(AuthResult(d->result)); });
  switch (lookup) {
    case IntrospectionCache::Lookup::HitPositive:
      metrics.add(series::kCacheHits, {{"provider", config_.name}, {"kind", "positive"}});
      return;
    case IntrospectionCache::Lookup::HitNegative:
      metrics.add(series::kCacheHits, {{"provider", config_.name}, {"kind", "negative"}});
      return;
    case IntrospectionCache::Lookup::Joined:
      metrics.add(series::kCoalesced, {{"provider", config_.name}});
      return;
    case IntrospectionCache::Lookup::Leader:
      metrics.add(series::kCacheMisses, {{"provider", config_.name}});
      introspect(key, std::string(token));
      return;
  }
}

void OAuth2Provider::introspect(const TokenKey& key, std::string token) {
  auto client = this->client();
  if (!client) {
    maybe_discover();
    cache_.complete(key, refuse(Status::ProviderUnavailable, describe::kNotDiscovered), {});
    return;
  }
  if (!breaker_.allow()) {
    observe::Metrics::global().add(series::kBreakerRejected, {{"provider", config_.name}});
    cache_.complete(key, refuse(Status::ProviderUnavailable, describe::kBreakerOpen), {});
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  client->introspect(token, [self = shared_from_this(), key, start](IntrospectionAnswer a) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto& metrics = observe::Metrics::global();
    const std::string& name = self->config_.name;
    metrics.observe(series::kLatency, {{"provider", name}}, secs);
    metrics.add(series::kCalls, {{"provider", name}, {"result", result_label(a)}});
    if (!a.ok()) {
      spdlog::debug("oauth2 provider '{}': introspection failed: {}", name, a.detail);
    }
    self->record_call(a.ok());
    Verdict v = self->decide(a, key, self->clocks_.unix_now());
    self->cache_.complete(key, std::move(v.decision), v.ttl);
  });
}

void OAuth2Provider::record_call(bool ok) const {
  const bool was_open = breaker_.is_open();
  if (ok) {
    breaker_.record_success();
  } else {
    breaker_.record_failure();
  }
  const bool open = breaker_.is_open();
  if (open == was_open) return;
  observe::Metrics::global().set_gauge(series::kBreakerOpen, {{"provider", config_.name}},
                                       open ? 1 : 0);
  if (open) {
    spdlog::warn("oauth2 provider '{}': introspection failing, pausing calls for {}s", config_.name,
                 config_.breaker_open_s);
  } else {
    spdlog::info("oauth2 provider '{}': introspection answering again", config_.name);
  }
}

OAuth2Provider::Verdict OAuth2Provider::decide(const IntrospectionAnswer& answer,
                                               const TokenKey& key, std::int64_t now) const {
  Verdict v;
  if (!answer.ok()) {
    v.decision = refuse(Status::ProviderUnavailable, failure_description(answer.kind));
    return v;  // never cached
  }
  const auto negative = [&](Status s, std::string_view why, identity::Identity who = {}) {
    v.decision = refuse(s, why, std::move(who));
    v.ttl = std::chrono::seconds(config_.negative_cache_s);
    return v;
  };
  if (answer.kind == IntrospectionAnswer::Kind::Refused) {
    return negative(Status::UnknownCredential, describe::kRefused);
  }
  const json::object& c = answer.claims;
  if (!answer.active()) return negative(Status::InactiveCredential, describe::kInactive);
  // Active: the provider vouches for the token, so a refusal from here on names it.
  const identity::Identity who = named_by(c, key);

  // Only access tokens call APIs (RFC 7662 token_type; oidc-provider says "Bearer" for
  // access tokens and "refresh_token" for refresh tokens).
  if (const auto* tt = c.if_contains("token_type"); tt != nullptr && !tt->is_null()) {
    const std::string_view type = tt->is_string() ? std::string_view(tt->get_string()) : "";
    if (boost::beast::iequals(type, "refresh_token")) {
      return negative(Status::WrongTokenType, describe::kRefreshToken, who);
    }
    if (!boost::beast::iequals(type, "access_token") && !boost::beast::iequals(type, "bearer")) {
      return negative(Status::WrongTokenType, describe::kOtherTokenType, who);
    }
  }
  bool bad = false;
  const auto exp = numeric_date(c, "exp", bad);
  const auto nbf = numeric_date(c, "nbf", bad);
  if (bad) {
    v.decision = refuse(Status::ProviderUnavailable, describe::kBadAnswer);
    return v;
  }
  if (exp && *exp <= now) return negative(Status::ExpiredCredential, describe::kExpired, who);
  if (nbf && *nbf > now + 60)
    return negative(Status::CredentialNotYetValid, describe::kNotYetValid, who);

  std::optional<std::string> issuer;
  {
    std::lock_guard lock(mu_);
    issuer = expected_issuer_;
  }
  if (issuer) {
    const auto* iss = c.if_contains("iss");
    if (iss == nullptr || !iss->is_string() || iss->get_string() != *issuer) {
      return negative(Status::UnknownCredential, describe::kIssuer, who);
    }
  }
  if (!config_.audiences.empty()) {
    bool spaced = false;  // an audience with a space is compared whole, never forwarded
    const auto auds = string_list(c.if_contains("aud"), spaced);
    // `aud` as a string is one audience, even with spaces in it.
    std::vector<std::string> single;
    if (const auto* a = c.if_contains("aud"); a != nullptr && a->is_string()) {
      single.emplace_back(a->get_string());
    }
    const auto& list = single.empty() ? auds : single;
    bool match = false;
    for (const auto& want : config_.audiences) {
      match |= std::find(list.begin(), list.end(), want) != list.end();
    }
    if (!match) return negative(Status::WrongAudience, describe::kAudience, who);
  }

  identity::Identity id = who;
  bool spaced = false;
  if (config_.scopes_claim.empty()) {
    id.scopes = string_list(c.if_contains("scope"), spaced);
    if (id.scopes.empty()) id.scopes = string_list(c.if_contains("scp"), spaced);
  } else {
    id.scopes = string_list(claim_at(c, config_.scopes_claim), spaced);
  }
  if (!config_.roles_claim.empty()) {
    id.roles = string_list(claim_at(c, config_.roles_claim), spaced);
  }
  if (!config_.rate_limit_claim.empty()) {
    if (const auto* plan = claim_at(c, config_.rate_limit_claim)) {
      // Not a plan: ignored, like a token without the claim (the route's limits apply).
      id.rate_plan = identity::rate_plan_from_json(*plan);
      if (!id.rate_plan) {
        spdlog::debug("oauth2 provider '{}': claim '{}' is not a rate plan; ignored", config_.name,
                      config_.rate_limit_claim);
      }
    }
  }
  if (config_.require_cert_binding) id.cert_binding = cnf_thumbprint(c).value_or("");
  if (spaced || !id.header_safe()) {
    // A control character would split the upstream header, a space in a scope or role item
    // the list: the answer is unusable, like any other malformed answer (503, not cached;
    // docs/oauth2.md says why not 401).
    v.decision = refuse(Status::ProviderUnavailable, describe::kBadAnswer);
    return v;
  }

  auto d = std::make_shared<Decision>();
  d->result = AuthResult::ok(std::move(id));
  v.decision = std::move(d);
  std::int64_t ttl = config_.cache_s;
  if (exp) ttl = std::min<std::int64_t>(ttl, *exp - now);
  v.ttl = std::chrono::seconds(std::max<std::int64_t>(ttl, 0));
  return v;
}

// ---- Authenticator ---------------------------------------------------------------------

OAuth2Authenticator::OAuth2Authenticator(std::shared_ptr<OAuth2Provider> provider)
    : provider_(std::move(provider)),
      method_("oauth2:" + provider_->config().name),
      credentials_(CredentialPlaces{"Bearer"}) {}

void OAuth2Authenticator::authenticate(const AuthRequest& request, AuthCallback done) {
  const Credential found = credentials_.extract(request.headers, request.target);
  if (!found.found()) {
    done(AuthResult::fail(Status::NoCredential));
    return;
  }
  // Two Authorization headers never get here: the session refuses them with 400.
  if (found.ambiguous()) {
    done(AuthResult::fail(Status::AmbiguousCredential));
    return;
  }
  const std::string_view token = found.value();
  if (token.size() > kMaxTokenBytes) {
    done(AuthResult::fail(Status::MalformedCredential, std::string(describe::kTooLarge)));
    return;
  }
  if (!is_b64token(token)) {
    done(AuthResult::fail(Status::MalformedCredential, std::string(describe::kMalformed)));
    return;
  }
  if (provider_->config().require_cert_binding) {
    // RFC 8705: the answer (introspected now, cached or memoized) holds for this connection
    // only with the certificate the token is bound to.
    done = [done = std::move(done), cert = request.client_cert](AuthResult&& result) {
      enforce_cert_binding(result, cert);
      done(std::move(result));
    };
  }
  provider_->authenticate_token(token, std::move(done), request.memo);
}

std::shared_ptr<OAuth2Provider> open_provider(const config::OAuth2ProviderConfig& config,
                                              std::shared_ptr<OAuth2Provider> running,
                                              std::shared_ptr<IntrospectionTransport> transport) {
  if (running) {
    // Where the provider is written in the file does not matter, nor whether it gates
    // readiness (the runtime reads that from the config it was built from).
    config::OAuth2ProviderConfig moved = running->config();
    moved.line = config.line;
    moved.col = config.col;
    moved.gates_readiness = config.gates_readiness;
    moved.cert_binding_mark = config.cert_binding_mark;
    if (moved == config) return running;
  }
  return OAuth2Provider::create(config, std::move(transport));
}

}  // namespace portcullis::auth::oauth2
