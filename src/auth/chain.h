// AuthChain: a route's mechanisms, tried in order. The first mechanism that finds a
// credential decides; if none does, the answer is MissingCredential with a challenge for
// each mechanism.
#pragma once

#include <memory>
#include <vector>

#include "auth/authenticator.h"
#include "auth/credential_shape.h"

namespace portcullis::auth {

class AuthChain {
 public:
  AuthChain() = default;  // empty chain: auth: none
  explicit AuthChain(std::vector<std::shared_ptr<Authenticator>> mechanisms,
                     CredentialShapes shapes = {});

  bool empty() const { return mechanisms_.empty(); }
  // Space-free list of challenge schemes, in order, without duplicates.
  std::vector<std::string> challenges() const;

  // Calls `done` exactly once. An empty chain answers Ok with an anonymous identity.
  void run(const AuthRequest& request, AuthCallback done) const;

  // Every mechanism scrubs its credential from the upstream request; then any query
  // parameter whose value is an API key (by `shapes`) goes too, whether or not the route
  // accepts keys in the query: a key must never reach an upstream.
  void scrub(boost::beast::http::fields& headers, std::string& target) const;

 private:
  void run_from(std::size_t index, const AuthRequest& request) const;

  std::vector<std::shared_ptr<Authenticator>> mechanisms_;
  CredentialShapes shapes_;
};

}  // namespace portcullis::auth
