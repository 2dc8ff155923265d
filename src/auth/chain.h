// AuthChain: a route's mechanisms, tried in order. The first mechanism that finds a
// credential decides; if none does, the answer is MissingCredential with a challenge for
// each mechanism.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "auth/credential_shape.h"

namespace portcullis::auth {

class AuthChain {
 public:
  AuthChain() = default;  // empty chain: auth: none
  // `key_header`: the header API keys are read from (api_keys.header), when the gateway
  // has a key registry; removed on every route, the routes that take no key included.
  explicit AuthChain(std::vector<std::shared_ptr<Authenticator>> mechanisms,
                     CredentialShapes shapes = {}, std::string_view key_header = {});

  bool empty() const { return mechanisms_.empty(); }
  // Space-free list of challenge schemes, in order, without duplicates.
  std::vector<std::string> challenges() const;

  // Calls `done` exactly once. An empty chain answers Ok with an anonymous identity.
  void run(const AuthRequest& request, AuthCallback done) const;

  // Every mechanism scrubs its credential from the upstream request; then the API key
  // header (in any spelling: case, '_' for '-') and any query parameter whose value is an
  // API key (by `shapes`) go too, whether or not the route accepts keys: a key must never
  // reach an upstream.
  void scrub(boost::beast::http::fields& headers, std::string& target) const;

 private:
  void run_from(std::size_t index, const AuthRequest& request) const;

  std::vector<std::shared_ptr<Authenticator>> mechanisms_;
  CredentialShapes shapes_;
  std::string key_header_;  // lower case, '_' as '-'; empty: no key registry
};

}  // namespace portcullis::auth
