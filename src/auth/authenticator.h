// The seam every authentication mechanism plugs into. A mechanism looks for its own kind of
// credential and answers asynchronously (JWKS fetches and introspection must never block a
// worker), or synchronously by calling `done` before returning.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "auth/client_certificate.h"
#include "auth/credential_extractor.h"
#include "auth/credential_memo.h"
#include "auth/status.h"
#include "config/config.h"
#include "identity/identity.h"

namespace portcullis::auth {

struct AuthResult {
  Status status = Status::NoCredential;
  // Set when status == Ok. On a refusal after the credential proved genuine (a key whose
  // secret matched, a token whose signature verified or that the provider called active):
  // whom it names (client_id, subject, auth_method, credential_id), for the access log only.
  identity::Identity identity;
  // Set instead of `identity` by a memo hit: the identity the connection's CredentialMemo
  // holds, read where it is rather than copied. It stays valid until the connection
  // authenticates again (the memo changes only then), which is after this request ends.
  const identity::Identity* memo_identity = nullptr;
  std::string description;  // overrides default_description(status) when set
  std::string scope;        // for insufficient_scope: the scope(s) required
  std::string challenge;    // auth scheme for WWW-Authenticate ("Bearer", "ApiKey")

  static AuthResult ok(identity::Identity&& id) {
    AuthResult r;
    r.status = Status::Ok;
    r.identity = std::move(id);
    return r;
  }
  // A copy made in place (a cached identity).
  static AuthResult ok(const identity::Identity& id) {
    AuthResult r;
    r.status = Status::Ok;
    r.identity = id;
    return r;
  }
  // The identity a connection's memo holds, not copied (see memo_identity).
  static AuthResult ok_memo(const CredentialMemo& memo) {
    AuthResult r;
    r.status = Status::Ok;
    r.memo_identity = &memo.identity();
    return r;
  }
  // Whom the result names.
  const identity::Identity& who() const {
    return memo_identity != nullptr ? *memo_identity : identity;
  }
  // The identity, to be changed: a memo's is copied first.
  identity::Identity& own_identity() {
    if (memo_identity != nullptr) {
      identity = *memo_identity;
      memo_identity = nullptr;
    }
    return identity;
  }
  static AuthResult fail(Status s, std::string description = {}, std::string challenge = {}) {
    AuthResult r;
    r.status = s;
    r.description = std::move(description);
    r.challenge = std::move(challenge);
    return r;
  }
};

// Takes the result by rvalue reference: it travels from the mechanism through the chain to the
// session without being copied or moved on the way.
using AuthCallback = std::function<void(AuthResult&&)>;

// What a mechanism may read about the request. Valid until `done` has been called.
struct AuthRequest {
  const boost::beast::http::fields& headers;
  std::string_view method;
  std::string_view target;  // as received, with the query string
  std::string_view path;    // normalised
  std::string_view client_ip;
  std::string_view request_id;
  const config::RouteConfig& route;
  CredentialMemo* memo = nullptr;  // the connection's memo; null where there is none
  // The connection's client certificate (read once, after its TLS handshake); null when the
  // connection presented none or is not TLS.
  const ClientCertificate* client_cert = nullptr;
  // The chain's own: which mechanism is asked and whom to answer (AuthChain::run keeps them
  // here, so each mechanism's callback is two pointers, which std::function holds without
  // allocating). Mechanisms leave it alone.
  struct ChainProgress {
    std::size_t index = 0;
    AuthCallback done;
  };
  mutable ChainProgress chain{};
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The name routes use: "api_key", "jwt:main", "oauth2:idp".
  virtual std::string_view method() const = 0;
  // The scheme named in WWW-Authenticate when this mechanism asks for a credential.
  virtual std::string_view challenge_scheme() const = 0;
  // Calls `done` exactly once, on any thread, possibly before returning. NoCredential
  // means "not mine": the chain tries the next mechanism.
  virtual void authenticate(const AuthRequest& request, AuthCallback done) = 0;
  // Where this mechanism's credential is (from its config and the route's).
  virtual const CredentialExtractor& credentials() const = 0;
  // Removes this mechanism's credential from what goes upstream (a header, a cookie, a query
  // parameter). Authorization itself is handled by the forwarder, except an API key's.
  void scrub(boost::beast::http::fields& headers, std::string& target) const {
    credentials().remove(headers, target);
  }
  // Readiness is not asked here: the long-lived state a mechanism depends on (a provider's
  // keys, a key store) says why it is not ready, and runtime::Runtime::readiness() lists it.
};

}  // namespace portcullis::auth
