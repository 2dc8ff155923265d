// ContextSigner: the signed identity context (identity.signed_context). For each forwarded
// request it makes a compact JWS, signed with the first configured key, that tells the
// upstream who the gateway found: iss, aud (the upstream's name), sub, client_id, scope,
// roles, amr, iat, exp (iat + ttl_s), and rid (the request id) when signing per request.
// The forwarder calls it (identity/forwarder.h): it stays the only writer of identity headers.
//
// Cached mode (the default): a token is kept per (identity, upstream), keyed by every value
// that becomes a claim, and served until half its lifetime is gone, then signed anew; such a
// token carries no rid. per_request: every request is signed, with its rid.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/diagnostics.h"
#include "identity/context_cache.h"
#include "identity/identity.h"

namespace portcullis::jose {
class SigningKey;
}

namespace portcullis::identity {

class ContextSigner {
 public:
  using Clock = std::function<std::int64_t()>;  // Unix seconds; the system clock by default

  // Null with `error` set when a key cannot be used (check_signed_context says where).
  static std::shared_ptr<const ContextSigner> create(const config::SignedContextConfig& config,
                                                     std::string& error, Clock clock = {});
  ~ContextSigner();

  // Whether a request with `id` gets a token: an authenticated one, or any with `anonymous`.
  bool signs(const Identity& id) const { return id.authenticated() || anonymous_; }
  // Appends "Header: token\r\n" to `lines`; false (nothing appended) when signing failed.
  bool append(std::string& lines, const Identity& id, std::string_view audience,
              std::string_view request_id) const;
  // Appends the token alone to `out`, from the cache when it has a fresh one.
  bool write_token(std::string& out, const Identity& id, std::string_view audience,
                   std::string_view request_id) const;
  // The public keys, every configured one, as a JWK set ({"keys": [...]}).
  const std::string& jwks() const { return jwks_; }
  const std::string& header() const { return header_; }
  const ContextCache& cache() const { return *cache_; }

 private:
  ContextSigner() = default;
  std::string sign(const Identity& id, std::string_view audience, std::string_view request_id,
                   std::int64_t iat) const;

  std::vector<std::shared_ptr<const jose::SigningKey>> keys_;  // the first signs
  std::string header_;
  std::string issuer_;
  std::string protected_header_;  // BASE64URL(JOSE header) "."
  std::int64_t ttl_s_ = 60;
  bool per_request_ = false;
  bool anonymous_ = false;
  std::string jwks_;
  Clock clock_;
  std::unique_ptr<ContextCache> cache_;
};

// What `check`, `run` and a reload report about identity.signed_context: each key file must
// hold a PEM private key that suits the algorithm, at the key's file:line:col.
void check_signed_context(const config::Config& config, config::Diagnostics& out);

}  // namespace portcullis::identity
