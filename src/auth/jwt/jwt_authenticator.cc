#include "auth/jwt/jwt_authenticator.h"

#include <algorithm>
#include <limits>

#include "auth/cert_binding.h"
#include "auth/jwt/describe.h"
#include "jose/token.h"
#include "jose/verifier.h"
#include "observe/metrics.h"

namespace portcullis::auth::jwt {

using jose::looks_like_jws;
using jose::parse_token;
using jose::sha256;
using jose::SignatureCheck;
using jose::Token;
using jose::TokenError;
using jose::verify_signature;
namespace {

namespace d = describe;
namespace json = boost::json;

AuthResult fail(Status s, std::string_view description) {
  return AuthResult::fail(s, std::string(description));
}

AuthResult fail(const Verdict& v) {
  return AuthResult::fail(v.status, v.description);
}

// RFC 8705: a provider that requires certificate-bound tokens accepts a token (however it was
// found: verified now, cached, or memoized) only with the certificate it is bound to. The
// result is checked where it is (it travels on to `done` without a move).
AuthResult&& bound(const Provider& p, AuthResult&& result, const ClientCertificate* cert) {
  if (p.config().require_cert_binding) enforce_cert_binding(result, cert);
  return std::move(result);
}

// Remembers a token this connection presented, exactly as long as its cache entry holds:
// until the entry's expiry, and from nbf - skew.
void remember(CredentialMemo* memo, const Provider& p, std::string_view token,
              const CachedToken& entry) {
  if (memo == nullptr) return;
  memo->owner = p.memo_owner();
  memo->credential.assign(token);
  memo->set_identity(entry.identity);
  memo->valid_from = entry.times.nbf
                         ? *entry.times.nbf - static_cast<std::int64_t>(p.config().clock_skew_s)
                         : std::numeric_limits<std::int64_t>::min();
  memo->valid_until = entry.expires_at;
}

// Whom a token with a valid signature names, for the access log of its refusal: sub and
// client id when its claims make an identity at all, and always the token's handle.
void named_by(const json::object& payload, const ClaimsPolicy& policy, const TokenDigest& digest,
              identity::Identity& who) {
  identity::Identity full;
  if (build_identity(payload, policy, full).ok()) {
    who.subject = std::move(full.subject);
    who.client_id = std::move(full.client_id);
  }
  who.auth_method = "jwt";
  who.credential_id = token_id(digest);
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
  // The signature verified: a refusal from here on names the token in the access log.
  const auto refuse = [&](const Verdict& v) {
    AuthResult r = fail(v);
    named_by(t.payload, p.policy(), digest, r.identity);
    return r;
  };
  if (Verdict v = check_typ(t.header, p.policy()); !v.ok()) return refuse(v);
  const std::int64_t now = p.now();
  TokenTimes times;
  if (Verdict v = check_claims(t.payload, p.policy(), now, times); !v.ok()) return refuse(v);
  identity::Identity id;
  if (Verdict v = build_identity(t.payload, p.policy(), id); !v.ok()) return refuse(v);
  if (p.config().require_cert_binding) id.cert_binding = cnf_thumbprint(t.payload).value_or("");
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
                                   std::optional<std::string> query_param, bool sole_bearer)
    : providers_(std::move(providers)), sole_bearer_(sole_bearer) {
  CredentialPlaces places{"Bearer", false, {}, {}, std::move(query_param)};
  for (const auto& p : providers_) {
    if (!method_.empty()) method_ += ',';
    method_ += "jwt:" + p->name();
    max_token_bytes_ = std::max(max_token_bytes_, p->config().max_token_bytes);
    if (p->config().header) places.headers.push_back(*p->config().header);
    if (p->config().cookie) places.cookies.push_back(*p->config().cookie);
  }
  credentials_ = CredentialExtractor(std::move(places));
}

void JwtAuthenticator::authenticate(const AuthRequest& request, AuthCallback done) {
  // ---- Where is the token? Exactly one place.
  const Credential found = credentials_.extract(request.headers, request.target);
  if (!found.found()) return done(AuthResult::fail(Status::NoCredential));
  if (found.ambiguous()) return done(fail(Status::AmbiguousCredential, d::kAmbiguous));
  const std::string_view token = found.value();
  if (token.empty()) return done(fail(Status::MalformedCredential, d::kEmpty));
  // ---- The token this connection presented last time, verified then? (Before the shape
  // checks: the memo holds a token that passed them all, compared byte for byte.)
  if (CredentialMemo* memo = request.memo;
      memo != nullptr && memo->owner != 0 && token.size() <= max_token_bytes_) {
    for (const auto& p : providers_) {
      if (p->memo_owner() != memo->owner) continue;
      if (memo->matches(p->memo_owner(), token)) {
        const std::int64_t now = p->now();
        if (now >= memo->valid_from && now < memo->valid_until) {
          observe::Metrics::global().add_series(p->cache_hits_series());
          return done(bound(*p, AuthResult::ok_memo(*memo), request.client_cert));
        }
      }
      memo->clear();
      break;
    }
  }
  if (!looks_like_jws(token)) {
    // An opaque bearer token (in Authorization, or the query parameter like one) belongs to
    // the route's other bearer mechanism (oauth2 introspection) when it has one; without one
    // the caller did present a credential, and is told it is not a JWT.
    const bool authorization = found.from() == Credential::From::Authorization;
    const bool bearer = authorization || found.from() == Credential::From::Query;
    if (bearer && !sole_bearer_) return done(AuthResult::fail(Status::NoCredential));
    return done(fail(Status::MalformedCredential, authorization ? d::kBearerNotJwt : d::kNotJwt));
  }
  if (token.size() > max_token_bytes_) return done(fail(Status::MalformedCredential, d::kTooLarge));

  auto& metrics = observe::Metrics::global();
  // ---- A token verified before?
  TokenDigest digest;
  sha256(token, digest.data());
  for (const auto& p : providers_) {
    if (!p->cache().enabled()) continue;
    CachedToken entry;
    if (p->cache().get(digest, p->now(), entry)) {
      metrics.add_series(p->cache_hits_series());
      remember(request.memo, *p, token, entry);
      return done(bound(*p, AuthResult::ok(std::move(entry.identity)), request.client_cert));
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
    if (!sole_bearer_) return done(AuthResult::fail(Status::NoCredential));
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
    return done(bound(*provider, finish(*provider, t, alg, lr, digest, token, request.memo),
                      request.client_cert));
  }

  // ---- The kid is unknown and a refetch may bring it: answer when it ends. The request's
  // buffers are only valid until `done`, so the token is copied (the connection's
  // certificate outlives the request).
  struct Pending {
    std::string token;
    std::shared_ptr<Provider> provider;
    Alg alg;
    TokenDigest digest;
    AuthCallback done;
    const ClientCertificate* cert;
  };
  auto pending = std::make_shared<Pending>(
      Pending{std::string(token), provider, alg, digest, std::move(done), request.client_cert});
  provider->keys().lookup_async(std::move(kid), alg, [pending](LookupResult r) {
    Token again;
    if (parse_token(pending->token, pending->token.size(), again) != TokenError::None) {
      pending->done(fail(Status::MalformedCredential, d::kMalformed));  // cannot happen
      return;
    }
    pending->done(
        bound(*pending->provider,
              finish(*pending->provider, again, pending->alg, r, pending->digest, {}, nullptr),
              pending->cert));
  });
}

}  // namespace portcullis::auth::jwt
