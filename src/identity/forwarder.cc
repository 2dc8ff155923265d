#include "identity/forwarder.h"

namespace portcullis::identity {

namespace http = boost::beast::http;

void forward_identity(http::fields& headers, const Identity& id,
                      const config::IdentityHeaders& names, std::string_view request_id,
                      const ForwardOptions& options) {
  if (!options.forward_authorization) headers.erase(http::field::authorization);
  // The sanitizer has removed every inbound copy of these headers (the identity headers and
  // the claims_to_headers names), so they are inserted without looking for old values first.
  auto add = [&](const std::string& name, std::string_view value) {
    if (!value.empty()) headers.insert(name, value);
  };
  add(names.user_id, id.subject);
  add(names.client_id, id.client_id);
  if (!id.scopes.empty()) headers.insert(names.scopes, join(id.scopes));
  if (!id.roles.empty()) headers.insert(names.roles, join(id.roles));
  add(names.auth_method, id.auth_method);
  headers.set(names.request_id, request_id);  // a client's well-formed value may be present
  for (const auto& [name, value] : id.extra_headers) add(name, value);
}

}  // namespace portcullis::identity
