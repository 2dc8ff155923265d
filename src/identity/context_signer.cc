#include "identity/context_signer.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "jose/base64url.h"
#include "jose/signer.h"

namespace portcullis::identity {
namespace {

namespace json = boost::json;

jose::Alg alg_of(config::ContextAlg a) {
  return a == config::ContextAlg::ES256 ? jose::Alg::ES256 : jose::Alg::EdDSA;
}

std::int64_t system_seconds() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

// Length-prefixed, so no two different identities make the same key whatever bytes their
// values hold.
void add_part(std::string& key, std::string_view part) {
  const auto n = static_cast<std::uint32_t>(part.size());
  key.append(reinterpret_cast<const char*>(&n), sizeof n);
  key.append(part);
}

// Everything that becomes a claim of a cached token: the upstream and the identity's values.
void cache_key(std::string& key, const Identity& id, std::string_view audience) {
  add_part(key, audience);
  add_part(key, id.subject);
  add_part(key, id.client_id);
  add_part(key, id.auth_method);
  add_part(key, std::to_string(id.scopes.size()));
  for (const auto& s : id.scopes) add_part(key, s);
  add_part(key, std::to_string(id.roles.size()));
  for (const auto& r : id.roles) add_part(key, r);
}

json::array strings(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& s : items) a.emplace_back(s);
  return a;
}

}  // namespace

ContextSigner::~ContextSigner() = default;

std::shared_ptr<const ContextSigner> ContextSigner::create(
    const config::SignedContextConfig& config, std::string& error, Clock clock) {
  std::shared_ptr<ContextSigner> s(new ContextSigner());
  json::array published;
  for (const auto& k : config.keys) {
    auto key = jose::SigningKey::from_pem(k.pem.reveal(), alg_of(config.algorithm), k.kid, error);
    if (!key) {
      error = "identity.signed_context key '" + k.kid + "' (" + k.key_file + "): " + error;
      return nullptr;
    }
    published.emplace_back(key->public_jwk());
    s->keys_.push_back(std::move(key));
  }
  if (s->keys_.empty()) {
    error = "identity.signed_context has no key";
    return nullptr;
  }
  json::object jwks;
  jwks["keys"] = std::move(published);
  s->jwks_ = json::serialize(jwks);
  json::object header;
  header["alg"] = jose::alg_name(s->keys_.front()->alg());
  header["typ"] = "JWT";
  header["kid"] = s->keys_.front()->kid();
  s->protected_header_ = jose::base64url_encode(json::serialize(header)) + ".";
  s->header_ = config.header;
  s->issuer_ = config.issuer;
  s->ttl_s_ = config.ttl_s;
  s->per_request_ = config.per_request;
  s->anonymous_ = config.anonymous;
  s->clock_ = clock ? std::move(clock) : Clock(&system_seconds);
  s->cache_ = std::make_unique<ContextCache>(config.cache_entries);
  return s;
}

std::string ContextSigner::sign(const Identity& id, std::string_view audience,
                                std::string_view request_id, std::int64_t iat) const {
  json::object claims;
  claims["iss"] = issuer_;
  claims["aud"] = audience;
  if (!id.subject.empty()) claims["sub"] = id.subject;
  if (!id.client_id.empty()) claims["client_id"] = id.client_id;
  claims["scope"] = join(id.scopes);
  claims["roles"] = strings(id.roles);
  // RFC 8176's amr is a list of methods; an anonymous context used none.
  json::array amr;
  if (id.authenticated()) amr.emplace_back(id.auth_method);
  claims["amr"] = std::move(amr);
  claims["iat"] = iat;
  claims["exp"] = iat + ttl_s_;
  if (!request_id.empty()) claims["rid"] = request_id;
  std::string token = protected_header_ + jose::base64url_encode(json::serialize(claims));
  const std::string signature = keys_.front()->sign(token);
  if (signature.empty()) return {};
  token.push_back('.');
  token += jose::base64url_encode(signature);
  return token;
}

bool ContextSigner::write_token(std::string& out, const Identity& id, std::string_view audience,
                                std::string_view request_id) const {
  const std::int64_t now = clock_();
  if (per_request_) {
    const std::string token = sign(id, audience, request_id, now);
    out += token;
    return !token.empty();
  }
  thread_local std::string key;
  key.clear();
  cache_key(key, id, audience);
  if (cache_->find(key, now, out)) return true;
  const std::string token = sign(id, audience, {}, now);
  if (token.empty()) return false;
  // Served while at least half its lifetime is left.
  cache_->put(key, token, now + ttl_s_ / 2);
  out += token;
  return true;
}

bool ContextSigner::append(std::string& lines, const Identity& id, std::string_view audience,
                           std::string_view request_id) const {
  const std::size_t before = lines.size();
  lines += header_;
  lines += ": ";
  if (!write_token(lines, id, audience, request_id)) {
    lines.resize(before);
    return false;
  }
  lines += "\r\n";
  return true;
}

void check_signed_context(const config::Config& config, config::Diagnostics& out) {
  const auto& sc = config.identity.signed_context;
  if (!sc) return;
  for (const auto& k : sc->keys) {
    if (k.pem.empty()) continue;  // the loader has reported it
    std::string error;
    if (!jose::SigningKey::from_pem(k.pem.reveal(), alg_of(sc->algorithm), k.kid, error)) {
      out.error(k.at, "identity.signed_context key '" + k.kid + "': " + error);
    }
  }
}

}  // namespace portcullis::identity
