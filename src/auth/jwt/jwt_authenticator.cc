#include "auth/jwt/jwt_authenticator.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <algorithm>
#include <limits>

#include "auth/jwt/describe.h"
#include "auth/jwt/token.h"
#include "auth/jwt/verifier.h"
#include "observe/metrics.h"

namespace portcullis::auth::jwt {
namespace {

namespace http = boost::beast::http;
namespace d = describe;
namespace json = boost::json;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Bearer <token>" (scheme case-insensitive, RFC 6750 §2.1): the token, else nullopt.
std::optional<std::string_view> bearer(std::string_view value) {
  value = trim(value);
  auto sp = value.find_first_of(" \t");
  if (sp == std::string_view::npos) {
    if (boost::beast::iequals(value, "Bearer")) return std::string_view();
    return std::nullopt;
  }
  if (!boost::beast::iequals(value.substr(0, sp), "Bearer")) return std::nullopt;
  return trim(value.substr(sp));
}

// The value of cookie `name` in one Cookie header (RFC 6265 §4.2.1), DQUOTEs removed.
std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    std::size_t semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
    std::string_view v = trim(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return std::nullopt;
}

AuthResult fail(Status s, std::string_view description) {
  return AuthResult::fail(s, std::string(description));
}

AuthResult fail(const Verdict& v) { return AuthResult::fail(v.status, v.description); }

struct Found {
  int places = 0;
  bool from_authorization = false;
  std::string_view token;
  std::string owned;  // when the token had to be decoded (query parameter)
};

// Remembers a token this connection presented, exactly as long as its cache entry holds:
// until the entry's expiry, and from nbf - skew.
void remember(CredentialMemo* memo, const Provider& p, std::string_view token,
              const CachedToken& entry) {
  if (memo == nullptr) return;
  memo->owner = p.memo_owner();
  memo->credential.assign(token);
  memo->identity = entry.identity;
  memo->valid_from = entry.times.nbf
                         ? *entry.times.nbf - static_cast<std::int64_t>(p.config().clock_skew_s)
                         : std::numeric_limits<std::int64_t>::min();
  memo->valid_until = entry.expires_at;
}

// Everything after the key lookup: signature, typ, claims, identity, cache (and the
// connection's memo, when there is one and the cache is on).
AuthResult finish(Provider& p, const Token& t, Alg alg, const LookupResult& lr,
                  const TokenDigest& digest, std::string_view token, CredentialMemo* memo) {
  switch (lr.status) {
    case KeyLookup::Found:
      break;
    case KeyLookup::NotReady:
      return fail(Status::ProviderUnavailable, d::kKeysNotReady);
    case KeyLookup::Unavailable:
      return fail(Status::ProviderUnavailable, d::kKeysUnavailable);
    case KeyLookup::UnknownKey:
    case KeyLookup::NeedFetch:
      return fail(Status::UnknownSigningKey, d::kUnknownKey);
  }
  switch (verify_signature(alg, *lr.key, t.signing_input, t.signature)) {
    case SignatureCheck::Valid:
      break;
    case SignatureCheck::BadLength:
      return fail(Status::InvalidCredential, d::kBadSignatureLength);
    case SignatureCheck::BadEcdsaValue:
      return fail(Status::InvalidCredential, d::kBadEcdsaValue);
    case SignatureCheck::KeyMismatch:
      return fail(Status::UnknownSigningKey, d::kUnknownKey);
    case SignatureCheck::Invalid:
      return fail(Status::InvalidCredential, d::kBadSignature);
  }
  if (Verdict v = check_typ(t.header, p.policy()); !v.ok()) return fail(v);
  const std::int64_t now = p.now();
  TokenTimes times;
  if (Verdict v = check_claims(t.payload, p.policy(), now, times); !v.ok()) return fail(v);
  identity::Identity id;
  if (Verdict v = build_identity(t.payload, p.policy(), id); !v.ok()) return fail(v);
  id.auth_method = "jwt";
  id.credential_id = token_id(digest);
  if (p.cache().enabled()) {
    CachedToken entry;
    entry.identity = id;
    entry.times = times;
    entry.expires_at = now + static_cast<std::int64_t>(p.config().cache_max_s);
    if (times.exp) entry.expires_at = std::min(entry.expires_at, *times.exp);
    if (entry.expires_at > now) {
      remember(memo, p, token, entry);
      p.cache().put(digest, std::move(entry));
    }
  }
  return AuthResult::ok(std::move(id));
}

}  // namespace

std::string token_id(const TokenDigest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 6; ++i) {
    s += kHex[digest[i] >> 4];
    s += kHex[digest[i] & 15];
  }
  return s;
}

JwtAuthenticator::JwtAuthenticator(std::vector<std::shared_ptr<Provider>> providers,
                                   std::optional<std::string> query_param,
                                   bool unknown_issuer_is_mine)
    : providers_(std::move(providers)),
      query_param_(std::move(query_param)),
      unknown_issuer_is_mine_(unknown_issuer_is_mine) {
  for (const auto& p : providers_) {
    if (!method_.empty()) method_ += ',';
    method_ += "jwt:" + p->name();
    max_token_bytes_ = std::max(max_token_bytes_, p->config().max_token_bytes);
  }
}

bool JwtAuthenticator::ready() const {
  return std::all_of(providers_.begin(), providers_.end(),
                     [](const auto& p) { return p->ready(); });
}

void JwtAuthenticator::authenticate(const AuthRequest& request, AuthCallback done) {
  // ---- Where is the token? Exactly one place.
  Found f;
  for (const auto& field : request.headers) {
    if (field.name() == http::field::authorization) {
      if (auto t = bearer(field.value())) {
        ++f.places;
        f.token = *t;
        f.from_authorization = true;
      }
      continue;
    }
    for (const auto& p : providers_) {
      const auto& c = p->config();
      if (c.header && boost::beast::iequals(field.name_string(), *c.header)) {
        ++f.places;
        f.token = trim(field.value());
        break;
      }
      if (c.cookie && field.name() == http::field::cookie) {
        if (auto v = cookie_value(field.value(), *c.cookie)) {
          ++f.places;
          f.token = *v;
          break;
        }
      }
    }
  }
  if (query_param_ && request.target.find('?') != std::string_view::npos) {
    if (auto parsed = boost::urls::parse_uri_reference(request.target)) {
      for (auto param : parsed->params()) {
        if (param.key != *query_param_) continue;
        ++f.places;
        f.owned = param.value;
        f.token = f.owned;
        f.from_authorization = true;  // like a bearer token: other kinds may use it too
      }
    }
  }
  if (f.places == 0) return done(AuthResult::fail(Status::NoCredential));
  if (f.places > 1) return done(fail(Status::AmbiguousCredential, d::kAmbiguous));
  const std::string_view token = f.token;
  if (token.empty()) return done(fail(Status::MalformedCredential, d::kEmpty));
  if (!looks_like_jws(token)) {
    // An opaque bearer token belongs to another mechanism (oauth2 introspection).
    if (f.from_authorization) return done(AuthResult::fail(Status::NoCredential));
    return done(fail(Status::MalformedCredential, d::kNotJwt));
  }
  if (token.size() > max_token_bytes_) return done(fail(Status::MalformedCredential, d::kTooLarge));

  // ---- The token this connection presented last time, verified then?
  auto& metrics = observe::Metrics::global();
  if (CredentialMemo* memo = request.memo; memo != nullptr && memo->owner != 0) {
    for (const auto& p : providers_) {
      if (p->memo_owner() != memo->owner) continue;
      if (memo->matches(p->memo_owner(), token)) {
        const std::int64_t now = p->now();
        if (now >= memo->valid_from && now < memo->valid_until) {
          metrics.add_series(p->cache_hits_series());
          return done(AuthResult::ok(memo->identity));
        }
      }
      memo->clear();
      break;
    }
  }

  // ---- A token verified before?
  TokenDigest digest;
  sha256(token, digest.data());
  for (const auto& p : providers_) {
    if (!p->cache().enabled()) continue;
    CachedToken entry;
    if (p->cache().get(digest, p->now(), entry)) {
      metrics.add_series(p->cache_hits_series());
      remember(request.memo, *p, token, entry);
      return done(AuthResult::ok(std::move(entry.identity)));
    }
  }

  // ---- Decode, and let iss pick the provider.
  Token t;
  switch (parse_token(token, max_token_bytes_, t)) {
    case TokenError::None:
      break;
    case TokenError::NotJwt:
    case TokenError::BadEncoding:
    case TokenError::BadJson:
      return done(fail(Status::MalformedCredential, d::kMalformed));
    case TokenError::TooLarge:
      return done(fail(Status::MalformedCredential, d::kTooLarge));
    case TokenError::DuplicateMember:
      return done(fail(Status::MalformedCredential, d::kDuplicateMember));
  }
  std::shared_ptr<Provider> provider;
  auto iss = t.payload.find("iss");
  if (iss != t.payload.end() && iss->value().is_string()) {
    std::string_view issuer(iss->value().get_string());
    for (const auto& p : providers_) {
      if (p->issuer() == issuer) {
        provider = p;
        break;
      }
    }
  }
  if (!provider) {
    if (!unknown_issuer_is_mine_) return done(AuthResult::fail(Status::NoCredential));
    const bool has_iss = iss != t.payload.end();
    return done(fail(Status::UnknownCredential, has_iss ? d::kUnknownIssuer : d::kNoIssuer));
  }
  if (provider->cache().enabled()) {
    metrics.add("portcullis_jwt_cache_misses_total", {{"provider", provider->name()}});
  }
  if (token.size() > provider->config().max_token_bytes) {
    return done(fail(Status::MalformedCredential, d::kTooLarge));
  }

  Alg alg{};
  std::optional<std::string> kid;
  if (Verdict v = check_header(t.header, provider->algorithms(), alg, kid); !v.ok()) {
    return done(fail(v));
  }
  std::optional<std::string_view> kid_view;
  if (kid) kid_view = *kid;
  LookupResult lr = provider->keys().try_lookup(kid_view, alg);
  if (lr.status != KeyLookup::NeedFetch) {
    return done(finish(*provider, t, alg, lr, digest, token, request.memo));
  }

  // ---- The kid is unknown and a refetch may bring it: answer when it ends. The request's
  // buffers are only valid until `done`, so the token is copied.
  struct Pending {
    std::string token;
    std::shared_ptr<Provider> provider;
    Alg alg;
    TokenDigest digest;
    AuthCallback done;
  };
  auto pending = std::make_shared<Pending>(
      Pending{std::string(token), provider, alg, digest, std::move(done)});
  provider->keys().lookup_async(std::move(kid), alg, [pending](LookupResult r) {
    Token again;
    if (parse_token(pending->token, pending->token.size(), again) != TokenError::None) {
      pending->done(fail(Status::MalformedCredential, d::kMalformed));  // cannot happen
      return;
    }
    pending->done(
        finish(*pending->provider, again, pending->alg, r, pending->digest, {}, nullptr));
  });
}

void JwtAuthenticator::scrub(http::fields& headers, std::string& target) const {
  for (const auto& p : providers_) {
    const auto& c = p->config();
    if (c.header) headers.erase(*c.header);
    if (!c.cookie) continue;
    // Cookie headers carrying the token cookie are rewritten without it; others pass as they are.
    bool present = false;
    for (const auto& f : headers) {
      present |= f.name() == http::field::cookie && cookie_value(f.value(), *c.cookie).has_value();
    }
    if (!present) continue;
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
        std::string_view pair = trim(value.substr(0, semi));
        value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
        std::size_t eq = pair.find('=');
        if (pair.empty() || (eq != std::string_view::npos && trim(pair.substr(0, eq)) == *c.cookie)) {
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
  if (!query_param_ || target.find('?') == std::string::npos) return;
  auto parsed = boost::urls::parse_uri_reference(target);
  if (!parsed) {
    target.erase(target.find('?'));  // never forward a token by accident
    return;
  }
  boost::urls::url u(*parsed);
  if (u.params().erase(*query_param_) == 0) return;
  if (u.params().empty()) u.remove_query();
  target = std::string(u.buffer());
}

}  // namespace portcullis::auth::jwt
