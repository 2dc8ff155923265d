#include "auth/chain.h"

#include <algorithm>
#include <iterator>

#include "auth/credential_extractor.h"

namespace portcullis::auth {

namespace {

char canonical(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  return c == '_' ? '-' : c;
}

bool same_header(std::string_view name, std::string_view canonical_name) {
  return name.size() == canonical_name.size() &&
         std::equal(name.begin(), name.end(), canonical_name.begin(),
                    [](char a, char b) { return canonical(a) == b; });
}

}  // namespace

AuthChain::AuthChain(std::vector<std::shared_ptr<Authenticator>> mechanisms,
                     CredentialShapes shapes, std::string_view key_header)
    : mechanisms_(std::move(mechanisms)), shapes_(shapes) {
  key_header_.reserve(key_header.size());
  for (char c : key_header) key_header_.push_back(canonical(c));
}

std::vector<std::string> AuthChain::challenges() const {
  std::vector<std::string> out;
  for (const auto& m : mechanisms_) {
    std::string scheme(m->challenge_scheme());
    if (std::find(out.begin(), out.end(), scheme) == out.end()) out.push_back(std::move(scheme));
  }
  return out;
}

void AuthChain::run(const AuthRequest& request, AuthCallback done) const {
  if (mechanisms_.empty()) {
    done(AuthResult::ok({}));
    return;
  }
  request.chain.done = std::move(done);
  run_from(0, request);
}

void AuthChain::run_from(std::size_t index, const AuthRequest& request) const {
  if (index == mechanisms_.size()) {
    request.chain.done(AuthResult::fail(Status::MissingCredential));
    return;
  }
  request.chain.index = index;
  // The chain outlives the request (it belongs to the config snapshot the session holds), and
  // the request outlives the answer.
  mechanisms_[index]->authenticate(request, [this, &request](AuthResult&& result) {
    const std::size_t at = request.chain.index;
    if (result.status == Status::NoCredential) {
      run_from(at + 1, request);
      return;
    }
    if (result.status == Status::Ok && result.who().auth_method.empty()) {
      result.status = Status::InvalidCredential;  // a mechanism must name itself
    }
    if (result.challenge.empty()) result.challenge = mechanisms_[at]->challenge_scheme();
    request.chain.done(std::move(result));
  });
}

void AuthChain::scrub(boost::beast::http::fields& headers, std::string& target) const {
  for (const auto& m : mechanisms_) m->scrub(headers, target);
  if (!key_header_.empty()) {
    for (auto it = headers.begin(); it != headers.end();) {
      it = same_header(it->name_string(), key_header_) ? headers.erase(it) : std::next(it);
    }
  }
  // Cheap when there is nothing to find: no query, or neither the key prefix nor a percent
  // escape (which could spell it) in it.
  if (shapes_.key_prefix.empty()) return;
  const std::size_t q = target.find('?');
  if (q == std::string::npos) return;
  if (target.find(shapes_.key_prefix, q) == std::string::npos &&
      target.find('%', q) == std::string::npos) {
    return;
  }
  remove_query_params_if(target, [this](std::string_view value) { return shapes_.key(value); });
}

}  // namespace portcullis::auth
