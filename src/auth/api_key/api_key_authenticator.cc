#include "auth/api_key/api_key_authenticator.h"

#include <algorithm>
#include <chrono>

#include "auth/api_key/key_format.h"

namespace portcullis::auth::api_key {
namespace {

namespace d = describe_outcome;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AuthResult fail(Status s, std::string_view description) {
  return AuthResult::fail(s, std::string(description));
}

// Whom a key whose secret matched names: its client and id (never the secret).
identity::Identity named_by(const KeyEntry& e, std::string_view id) {
  identity::Identity who;
  who.client_id = *e.client_id;
  who.auth_method = "api-key";
  who.credential_id = std::string(id);
  return who;
}

}  // namespace

ApiKeyAuthenticator::ApiKeyAuthenticator(std::shared_ptr<KeyRegistry> registry, std::string header,
                                         std::optional<std::string> query_param)
    : registry_(std::move(registry)),
      credentials_(
          CredentialPlaces{"ApiKey", true, {std::move(header)}, {}, std::move(query_param)}) {}

void ApiKeyAuthenticator::authenticate(const AuthRequest& request, AuthCallback done) {
  done(decide(request, unix_now()));
}

AuthResult ApiKeyAuthenticator::decide(const AuthRequest& request, std::int64_t now) const {
  // ---- Where is the key? Exactly one place, once.
  const Credential found = credentials_.extract(request.headers, request.target);
  if (!found.found()) return AuthResult::fail(Status::NoCredential);
  if (found.ambiguous()) return fail(Status::AmbiguousCredential, d::kAmbiguous);
  const std::string_view key = found.value();

  // ---- The key this connection presented last time, accepted then? Its checksum and secret
  // need no second check while the stored HMAC is the same; everything else is checked below.
  CredentialMemo* memo = request.memo;
  KeyEntry e;
  if (registry_ && memo != nullptr && memo->matches(registry_->memo_owner(), key)) {
    if (registry_->find(memo->key, e) && digest_equal(e.secret_hmac, memo->check)) {
      return admit(e, memo->key, request, now);
    }
    memo->clear();
  }

  // ---- Is it a key at all? Decided without a lookup.
  ParsedKey parsed;
  if (parse_key(key, parsed) != ParseError::None)
    return fail(Status::MalformedCredential, d::kMalformed);

  // Until the store has been read once, no key can be told from an unknown one.
  if (!registry_ || !registry_->loaded()) return fail(Status::StoreUnavailable, d::kUnavailable);
  if (!registry_->find(parsed.id, e)) return fail(Status::UnknownCredential, d::kUnknown);
  Digest digest;
  if (!registry_->hasher().hash(parsed.secret, digest)) {
    return fail(Status::StoreUnavailable, d::kUnavailable);
  }
  // The secret is checked before anything about the key is told.
  if (!digest_equal(e.secret_hmac, digest)) return fail(Status::InvalidCredential, d::kWrongSecret);
  if (memo != nullptr) {
    memo->owner = registry_->memo_owner();
    memo->credential.assign(key);
    memo->key.assign(parsed.id);
    memo->check = e.secret_hmac;
  }
  return admit(e, parsed.id, request, now);
}

AuthResult ApiKeyAuthenticator::admit(const KeyEntry& e, std::string_view id,
                                      const AuthRequest& request, std::int64_t now) const {
  // The secret matched: a refusal from here on names the key in the access log.
  const auto refuse = [&](Status s, std::string_view description) {
    AuthResult r = fail(s, description);
    r.identity = named_by(e, id);
    return r;
  };
  if (e.status == KeyStatus::Revoked) return refuse(Status::RevokedCredential, d::kRevoked);
  if (e.status == KeyStatus::Disabled) return refuse(Status::DisabledCredential, d::kDisabled);
  if (e.expires_at <= now) return refuse(Status::ExpiredCredential, d::kExpired);
  if (e.routes != nullptr) {
    const auto& routes = *e.routes;
    if (std::find(routes.begin(), routes.end(), request.route.name) == routes.end()) {
      return refuse(Status::RouteNotAllowed, d::kRoute);
    }
  }
  if (e.cidrs != nullptr) {
    ip::IpBytes addr;
    if (e.cidrs_invalid || !ip::parse_ip(request.client_ip, addr) ||
        !ip::any_contains(*e.cidrs, addr)) {
      return refuse(Status::SourceNotAllowed, d::kSource);
    }
  }

  registry_->note_used(id);
  identity::Identity who = named_by(e, id);
  who.scopes = *e.scopes;
  if (e.plan != nullptr) who.rate_plan = *e.plan;  // read from the table: a `keys update` counts
  return AuthResult::ok(std::move(who));
}

}  // namespace portcullis::auth::api_key
