// The jwt mechanism's checks of its provider configs (see config_check.h).
#include "auth/jwt/config_check.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "jose/algorithms.h"
#include "jose/keys.h"

namespace portcullis::auth::jwt {
namespace {

using namespace portcullis::jose;  // NOLINT: the JOSE vocabulary (Alg, Key, ...) throughout

using config::Mark;
using KS = config::JwtProviderConfig::KeySource;

// The algorithm names, in order: 'none' and unknown names are refused, as is a repeat.
std::vector<std::pair<Alg, Mark>> check_names(const config::JwtProviderConfig& p,
                                              config::Diagnostics& out) {
  std::vector<std::pair<Alg, Mark>> algs;
  for (std::size_t i = 0; i < p.algorithms.size(); ++i) {
    const std::string& a = p.algorithms[i];
    const Mark at = i < p.algorithm_marks.size() ? p.algorithm_marks[i] : p.mark;
    if (is_none_alg(a)) {
      out.error(at, "algorithm '" + a + "' is never accepted: unsigned tokens prove nothing");
      continue;
    }
    auto alg = parse_alg(a);
    if (!alg) {
      out.error(at, "unknown algorithm '" + a +
                        "': expected HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, "
                        "PS512, ES256, ES384, ES512 or EdDSA");
      continue;
    }
    if (std::any_of(algs.begin(), algs.end(), [&](const auto& x) { return x.first == *alg; })) {
      out.error(at, "algorithm '" + a + "' is listed twice");
      continue;
    }
    algs.emplace_back(*alg, at);
  }
  return algs;
}

// HS only with a secret, never with public keys, and a secret as long as the hash.
void check_against_source(const config::JwtProviderConfig& p,
                          const std::vector<std::pair<Alg, Mark>>& algs, config::Diagnostics& out) {
  const bool secret = p.key_source == KS::Secret;
  const std::string where = "jwt provider '" + p.name + "'";
  for (const auto& [alg, at] : algs) {
    const bool hmac = alg_family(alg) == AlgFamily::Hmac;
    const std::string name(alg_name(alg));
    if (hmac && !secret) {
      out.error(at, "algorithm " + name +
                        " needs a shared secret ('secret'); HMAC is never used with a JWKS or "
                        "public key, whose public half anyone can read");
    } else if (!hmac && secret) {
      out.error(at, "algorithm " + name +
                        " needs a public key (jwks_uri, jwks_file, public_key_file or "
                        "discovery), not a shared secret");
    } else if (hmac && secret && !p.secret.empty() &&
               p.secret.reveal().size() < alg_hash_bytes(alg)) {
      out.error(p.secret_mark, where + ": the secret is " +
                                   std::to_string(p.secret.reveal().size()) + " bytes; " + name +
                                   " needs at least " + std::to_string(alg_hash_bytes(alg)) +
                                   " (RFC 7518 §3.2)");
    }
  }
}

void check_key_files(const config::JwtProviderConfig& p,
                     const std::vector<std::pair<Alg, Mark>>& algs, config::Diagnostics& out) {
  if (p.key_source == KS::PublicKeyFile && !p.public_key_pem.empty()) {
    Key key;
    std::string why;
    if (!parse_pem_public_key(p.public_key_pem, key, why)) {
      out.error(p.key_file_mark, "public_key_file " + p.public_key_file + ": " + why);
      return;
    }
    for (const auto& [alg, at] : algs) {
      if (alg_family(alg) != AlgFamily::Hmac && !key_allows(key, alg)) {
        out.error(at, "algorithm " + std::string(alg_name(alg)) + " cannot be used with the " +
                          describe_key(key) + " key in " + p.public_key_file);
      }
    }
  }
  if (p.key_source == KS::JwksFile && !p.jwks_json.empty()) {
    KeySet set;
    std::vector<std::string> skipped;
    std::string why;
    if (!parse_jwks(p.jwks_json, set, skipped, why)) {
      out.error(p.key_file_mark, "jwks_file " + p.jwks_file + ": " + why);
      return;
    }
    for (const auto& s : skipped) {
      out.warning(p.key_file_mark, "jwks_file " + p.jwks_file + ": skipping " + s);
    }
    bool usable = false;
    for (const auto& k : set.all()) {
      for (const auto& [alg, at] : algs) usable |= key_allows(*k, alg);
    }
    if (!usable) {
      out.error(p.key_file_mark,
                "jwks_file " + p.jwks_file + " has no key usable with the provider's algorithms");
    }
  }
}

}  // namespace

void check_provider_config(const config::JwtProviderConfig& p, config::Diagnostics& out) {
  const auto algs = check_names(p, out);
  check_against_source(p, algs, out);
  check_key_files(p, algs, out);
}

void check_provider_configs(const config::Config& config, config::Diagnostics& out) {
  for (const auto& [name, p] : config.jwt_providers) check_provider_config(p, out);
}

bool provider_configs_usable(const config::Config& config, std::string& error) {
  config::Diagnostics out(config.source_path);
  check_provider_configs(config, out);
  const auto errors = out.take_errors();
  if (errors.empty()) return true;
  const auto& e = errors.front();
  error = "line " + std::to_string(e.line) + ", column " + std::to_string(e.col) + ": " + e.message;
  return false;
}

}  // namespace portcullis::auth::jwt
