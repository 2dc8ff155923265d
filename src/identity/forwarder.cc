#include "identity/forwarder.h"

#include "common/header_line.h"
#include "identity/context_signer.h"

namespace portcullis::identity {

namespace http = boost::beast::http;

namespace {

void append_joined(std::string& lines, std::string_view name,
                   const std::vector<std::string>& items) {
  lines += name;
  lines += ": ";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) lines.push_back(' ');
    lines += items[i];
  }
  lines += "\r\n";
}

// The lines that depend on the identity and the header names only. False when a value could
// split a header.
bool append_identity_lines(std::string& lines, const Identity& id,
                           const config::IdentityHeaders& names) {
  if (!id.header_safe()) return false;
  // The sanitizer has removed every inbound copy of these headers (the identity headers and
  // the claims_to_headers names), so they are written without looking for old values.
  auto add = [&](const std::string& name, std::string_view value) {
    if (!value.empty()) append_header_line(lines, name, value);
  };
  add(names.user_id, id.subject);
  add(names.client_id, id.client_id);
  if (!id.scopes.empty()) append_joined(lines, names.scopes, id.scopes);
  if (!id.roles.empty()) append_joined(lines, names.roles, id.roles);
  add(names.auth_method, id.auth_method);
  if (!names.cert_thumbprint.empty()) add(names.cert_thumbprint, id.cert_thumbprint);
  for (const auto& [name, value] : id.extra_headers) add(name, value);
  return true;
}

}  // namespace

bool forward_identity(http::fields& headers, std::string& lines, const Identity& id,
                      const config::IdentityHeaders& names, std::string_view request_id,
                      const ForwardOptions& options) {
  if (!options.forward_authorization && !options.fields_dropped) {
    headers.erase(http::field::authorization);
  }
  RenderedIdentity* kept = options.rendered;
  if (kept != nullptr && kept->runtime_id != 0 && kept->runtime_id == options.runtime_id) {
    lines += kept->lines;
  } else {
    const std::size_t from = lines.size();
    if (!append_identity_lines(lines, id, names)) return false;
    if (kept != nullptr && options.runtime_id != 0) {
      kept->lines.assign(lines, from);
      kept->runtime_id = options.runtime_id;
    }
  }
  // A client's well-formed value may be present: replaced by the one the gateway logs.
  if (!options.fields_dropped) headers.erase(names.request_id);
  append_header_line(lines, names.request_id, request_id);
  if (options.signer != nullptr && options.signer->signs(id)) {
    return options.signer->append(lines, id, options.audience, request_id);
  }
  return true;
}

}  // namespace portcullis::identity
