#include "auth/api_key/api_key_authenticator.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <chrono>
#include <map>
#include <mutex>

#include "auth/api_key/key_format.h"
#include "auth/api_key/sqlite_store.h"

namespace portcullis::auth::api_key {
namespace {

namespace http = boost::beast::http;
namespace d = describe_outcome;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "ApiKey <key>" (scheme case-insensitive): the key, else nullopt.
std::optional<std::string_view> apikey_authorization(std::string_view value) {
  value = trim(value);
  auto sp = value.find_first_of(" \t");
  if (sp == std::string_view::npos) {
    // "ApiKey" alone is an ApiKey credential without a key: malformed, not someone else's.
    if (boost::beast::iequals(value, "ApiKey")) return std::string_view();
    return std::nullopt;
  }
  if (!boost::beast::iequals(value.substr(0, sp), "ApiKey")) return std::nullopt;
  return trim(value.substr(sp));
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AuthResult fail(Status s, std::string_view description) {
  return AuthResult::fail(s, std::string(description));
}

}  // namespace

ApiKeyAuthenticator::ApiKeyAuthenticator(std::shared_ptr<KeyRegistry> registry, std::string header,
                                         std::optional<std::string> query_param)
    : registry_(std::move(registry)),
      header_(std::move(header)),
      query_param_(std::move(query_param)) {}

void ApiKeyAuthenticator::authenticate(const AuthRequest& request, AuthCallback done) {
  done(decide(request, unix_now()));
}

AuthResult ApiKeyAuthenticator::decide(const AuthRequest& request, std::int64_t now) const {
  // ---- Where is the key? Exactly one place, once. (Every field is looked at: Beast's
  // equal_range assumes that fields of one name are adjacent, which a client need not do.)
  int places = 0;
  std::string_view key;
  for (const auto& f : request.headers) {
    if (f.name() == http::field::authorization) {
      if (auto k = apikey_authorization(f.value())) {
        ++places;
        key = *k;
      }
    } else if (boost::beast::iequals(f.name_string(), header_)) {
      ++places;
      key = trim(f.value());
    }
  }
  std::string from_query;  // percent-decoded, so owned
  bool in_query = false;
  if (query_param_ && request.target.find('?') != std::string_view::npos) {
    if (auto parsed = boost::urls::parse_uri_reference(request.target)) {
      for (auto p : parsed->params()) {
        if (p.key != *query_param_) continue;
        ++places;
        if (!in_query) from_query = p.value;
        in_query = true;
      }
    }
  }
  if (places == 0) return AuthResult::fail(Status::NoCredential);
  if (places > 1) return fail(Status::AmbiguousCredential, d::kAmbiguous);
  if (in_query) key = from_query;

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

  if (!registry_) return fail(Status::StoreUnavailable, d::kUnavailable);
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
  if (e.status == KeyStatus::Revoked) return fail(Status::RevokedCredential, d::kRevoked);
  if (e.status == KeyStatus::Disabled) return fail(Status::DisabledCredential, d::kDisabled);
  if (e.expires_at <= now) return fail(Status::ExpiredCredential, d::kExpired);
  if (e.routes != nullptr) {
    const auto& routes = *e.routes;
    if (std::find(routes.begin(), routes.end(), request.route.name) == routes.end()) {
      return fail(Status::RouteNotAllowed, d::kRoute);
    }
  }
  if (e.cidrs != nullptr) {
    IpBytes addr;
    if (e.cidrs_invalid || !parse_ip(request.client_ip, addr) || !any_contains(*e.cidrs, addr)) {
      return fail(Status::SourceNotAllowed, d::kSource);
    }
  }

  registry_->note_used(id);
  identity::Identity id_out;
  id_out.client_id = *e.client_id;
  id_out.scopes = *e.scopes;
  id_out.auth_method = "api-key";
  id_out.credential_id = std::string(id);
  return AuthResult::ok(std::move(id_out));
}

void ApiKeyAuthenticator::scrub(boost::beast::http::fields& headers, std::string& target) const {
  headers.erase(header_);
  // The forwarder drops Authorization unless the route forwards it; an API key in it is
  // never forwarded, whatever the route says.
  for (auto it = headers.begin(); it != headers.end();) {
    if (it->name() == http::field::authorization && apikey_authorization(it->value())) {
      it = headers.erase(it);
    } else {
      ++it;
    }
  }
  if (!query_param_ || target.find('?') == std::string::npos) return;
  auto parsed = boost::urls::parse_uri_reference(target);
  if (!parsed) {
    // Cannot happen for a target the session built; never forward a key by accident.
    target.erase(target.find('?'));
    return;
  }
  boost::urls::url u(*parsed);
  if (u.params().erase(*query_param_) == 0) return;
  if (u.params().empty()) u.remove_query();
  target = std::string(u.buffer());
}

std::shared_ptr<KeyRegistry> open_registry(const config::ApiKeysConfig& config,
                                           std::string& error) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<KeyRegistry>> running;
  std::lock_guard lock(mu);
  const std::string& pepper = config.pepper.reveal();
  auto interval = std::chrono::milliseconds(config.poll_interval_ms);

  if (auto it = running.find(config.store_path); it != running.end()) {
    if (auto existing = it->second.lock()) {
      Digest a, b;
      auto hasher = SecretHasher::create(pepper, error);
      if (hasher && hasher->fingerprint(a) && existing->hasher().fingerprint(b) &&
          digest_equal(a, b)) {
        existing->set_poll_interval(interval);
        return existing;
      }
    }
  }
  SqliteKeyStore::Options opts;
  opts.create = true;
  opts.busy_timeout_ms = 2000;
  auto store = SqliteKeyStore::open(config.store_path, opts, error);
  if (!store) return nullptr;
  KeyRegistry::Options ropts;
  ropts.poll_interval = interval;
  auto registry = KeyRegistry::create(std::move(store), pepper, ropts, error);
  if (!registry) return nullptr;
  running[config.store_path] = registry;
  return registry;
}

}  // namespace portcullis::auth::api_key
