// The RFC 7662 client: POST token=…&token_type_hint=access_token to the introspection
// endpoint, authenticated as the gateway's client (client_secret_basic, RFC 6749 §2.3.1,
// or client_secret_post), and read the JSON answer. A 200 with a JSON object holding a
// boolean `active` is an answer; so is a 400 whose OAuth error says the token itself was
// refused. Anything else is a provider failure, never an answer about the token.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "auth/oauth2/transport.h"
#include "config/oauth2_config.h"

namespace portcullis::auth::oauth2 {

struct IntrospectionAnswer {
  // Refused: a 400 invalid_request / unsupported_token_type, which is about the token (some
  // servers will not introspect a JWT): an answer, not a provider failure, so that no
  // client can trip the breaker by sending odd tokens.
  enum class Kind { Answer, Refused, Timeout, Unreachable, HttpStatus, Malformed };
  Kind kind = Kind::Unreachable;
  boost::json::object claims;  // the answer (kind == Answer); `active` is a bool
  unsigned http_status = 0;
  std::string detail;  // for logs: what went wrong; never contains the token
  // The provider answered about the token (Answer or Refused).
  bool ok() const { return kind == Kind::Answer || kind == Kind::Refused; }
  bool active() const;
};

// Metric label for a call's result: active, inactive, refused, timeout, unreachable,
// http_error, malformed.
std::string_view result_label(const IntrospectionAnswer& a);

// application/x-www-form-urlencoded encoding of one name or value (Boost.URL; space as '+').
std::string form_encode(std::string_view text);
// "Basic " + base64(form_encode(id) ":" form_encode(secret)), RFC 6749 §2.3.1.
std::string basic_authorization(std::string_view client_id, std::string_view client_secret);

class IntrospectionClient {
 public:
  struct Settings {
    config::HttpUrl endpoint;
    std::string client_id;
    config::Secret client_secret;
    config::ClientAuthMethod auth_method = config::ClientAuthMethod::ClientSecretBasic;
    std::chrono::milliseconds timeout{2000};
  };

  IntrospectionClient(Settings settings, std::shared_ptr<IntrospectionTransport> transport);

  // The exchange for one token (tests look at it).
  HttpExchange request_for(std::string_view token) const;
  // The transport's outcome, read.
  static IntrospectionAnswer read(const HttpOutcome& outcome);

  // Calls `done` exactly once, on any thread.
  void introspect(std::string_view token, std::function<void(IntrospectionAnswer)> done) const;

  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
  std::shared_ptr<IntrospectionTransport> transport_;
};

}  // namespace portcullis::auth::oauth2
