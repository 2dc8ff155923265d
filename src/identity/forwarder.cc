#include "identity/forwarder.h"

namespace portcullis::identity {

namespace http = boost::beast::http;

void forward_identity(http::fields& headers, const Identity& id,
                      const config::IdentityHeaders& names, std::string_view request_id,
                      const ForwardOptions& options) {
  if (!options.forward_authorization) headers.erase(http::field::authorization);
  auto set = [&](const std::string& name, std::string_view value) {
    if (!value.empty()) headers.set(name, value);
  };
  set(names.user_id, id.subject);
  set(names.client_id, id.client_id);
  if (!id.scopes.empty()) headers.set(names.scopes, join(id.scopes));
  if (!id.roles.empty()) headers.set(names.roles, join(id.roles));
  set(names.auth_method, id.auth_method);
  headers.set(names.request_id, request_id);
  for (const auto& [name, value] : id.extra_headers) set(name, value);
}

}  // namespace portcullis::identity
