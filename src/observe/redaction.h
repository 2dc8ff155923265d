// What the access log never writes in clear: the values of query parameters that carry
// credentials by name (a built-in list, extended by log.redact_query_params and the routes'
// credential parameters), and any value shaped like a credential (an API key with a valid
// checksum, a compact JWS) wherever it appears in a logged field.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credential_shape.h"

namespace portcullis::observe {

inline constexpr std::string_view kRedacted = "REDACTED";

class Redactor {
 public:
  Redactor() : Redactor({}, {}) {}
  // `extra_params` extend default_params(); they never replace it.
  Redactor(std::vector<std::string> extra_params, auth::CredentialShapes shapes);

  // api_key, apikey, key, access_token, id_token, refresh_token, token, code, client_secret,
  // password, secret, sig, signature.
  static std::span<const std::string_view> default_params();
  const std::vector<std::string>& params() const { return params_; }

  // The raw query with the value of every named parameter (names compared after
  // percent-decoding, case-insensitively) and every credential-shaped run replaced by
  // REDACTED; other bytes as they were.
  std::string query(std::string_view raw) const;
  // `text` with its credential-shaped runs replaced: false (and `out` untouched) when there
  // are none, so that the caller can keep using `text` without a copy. A scan for "ptk_" and
  // for dots; no decoding unless a run has the shape of a JWS.
  bool mask(std::string_view text, std::string& out) const;

 private:
  bool named(std::string_view encoded_name) const;

  std::vector<std::string> params_;  // lower case
  auth::CredentialShapes shapes_;
};

}  // namespace portcullis::observe
