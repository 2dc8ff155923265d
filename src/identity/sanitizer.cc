#include "identity/sanitizer.h"

#include <boost/beast/core/string.hpp>

namespace portcullis::identity {

namespace {

char canonical_char(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (c == '_') return '-';
  return c;
}

}  // namespace

std::string canonical_header_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = canonical_char(c);
  return out;
}

Sanitizer::Sanitizer(const config::IdentityConfig& identity,
                     const std::vector<std::string>& extra) {
  const auto& h = identity.headers;
  for (const auto* name : {&h.user_id, &h.client_id, &h.scopes, &h.roles, &h.auth_method}) {
    names_.insert(canonical_header_name(*name));
  }
  if (!h.cert_thumbprint.empty()) names_.insert(canonical_header_name(h.cert_thumbprint));
  // The signed identity context: only the gateway's token may reach the upstream.
  if (identity.signed_context)
    names_.insert(canonical_header_name(identity.signed_context->header));
  // The request id is not stripped: a well-formed client value is kept (request_id.h). Only
  // its other spellings are.
  request_id_ = h.request_id;
  request_id_canonical_ = canonical_header_name(h.request_id);
  for (const auto& n : identity.strip_inbound) names_.insert(canonical_header_name(n));
  for (const auto& n : extra) names_.insert(canonical_header_name(n));
  // A name Beast knows among them, or as the request id's canonical form (a request id
  // configured as Message_ID has the other spelling Message-ID, which Beast knows): every
  // field is looked at.
  const auto known = [](const std::string& n) {
    return boost::beast::http::string_to_field(n) != boost::beast::http::field::unknown;
  };
  for (const auto& n : names_) {
    max_len_ = std::max(max_len_, n.size());
    if (known(n)) strips_known_ = true;
  }
  if (known(request_id_canonical_)) strips_known_ = true;
}

bool Sanitizer::strips(std::string_view name) const {
  if (name.size() == request_id_.size() && !boost::beast::iequals(name, request_id_) &&
      canonical_header_name(name) == request_id_canonical_) {
    return true;
  }
  if (name.size() > max_len_) return false;
  char buf[256];
  if (name.size() > sizeof buf) return names_.find(canonical_header_name(name)) != names_.end();
  for (std::size_t i = 0; i < name.size(); ++i) buf[i] = canonical_char(name[i]);
  return names_.find(std::string_view(buf, name.size())) != names_.end();
}

std::size_t Sanitizer::sanitize(boost::beast::http::fields& headers) const {
  std::size_t removed = 0;
  for (auto it = headers.begin(); it != headers.end();) {
    const bool looked_at = strips_known_ || it->name() == boost::beast::http::field::unknown;
    if (looked_at && strips(it->name_string())) {
      it = headers.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

}  // namespace portcullis::identity
