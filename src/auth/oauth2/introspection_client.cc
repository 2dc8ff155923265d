#include "auth/oauth2/introspection_client.h"

#include <openssl/evp.h>

#include <boost/json/parse.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace portcullis::auth::oauth2 {

bool IntrospectionAnswer::active() const {
  if (kind != Kind::Answer) return false;
  const auto* v = claims.if_contains("active");
  return v != nullptr && v->is_bool() && v->get_bool();
}

std::string_view result_label(const IntrospectionAnswer& a) {
  switch (a.kind) {
    case IntrospectionAnswer::Kind::Answer:
      return a.active() ? "active" : "inactive";
    case IntrospectionAnswer::Kind::Refused:
      return "refused";
    case IntrospectionAnswer::Kind::Timeout:
      return "timeout";
    case IntrospectionAnswer::Kind::Unreachable:
      return "unreachable";
    case IntrospectionAnswer::Kind::HttpStatus:
      return "http_error";
    case IntrospectionAnswer::Kind::Malformed:
      return "malformed";
  }
  return "unknown";
}

std::string form_encode(std::string_view text) {
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  return boost::urls::encode(text, boost::urls::unreserved_chars, opts);
}

std::string basic_authorization(std::string_view client_id, std::string_view client_secret) {
  const std::string plain = form_encode(client_id) + ":" + form_encode(client_secret);
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()),
                                static_cast<int>(plain.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return "Basic " + out;
}

IntrospectionClient::IntrospectionClient(Settings settings,
                                         std::shared_ptr<IntrospectionTransport> transport)
    : settings_(std::move(settings)), transport_(std::move(transport)) {}

HttpExchange IntrospectionClient::request_for(std::string_view token) const {
  HttpExchange x;
  x.method = "POST";
  x.url = settings_.endpoint;
  x.timeout = settings_.timeout;
  x.headers.emplace_back("Accept", "application/json");
  x.form.emplace_back("token", std::string(token));
  x.form.emplace_back("token_type_hint", "access_token");
  if (settings_.auth_method == config::ClientAuthMethod::ClientSecretBasic) {
    x.headers.emplace_back("Authorization", basic_authorization(
                                                settings_.client_id,
                                                settings_.client_secret.reveal()));
  } else {
    x.form.emplace_back("client_id", settings_.client_id);
    x.form.emplace_back("client_secret", settings_.client_secret.reveal());
  }
  for (const auto& [name, value] : x.form) {
    if (!x.body.empty()) x.body += '&';
    x.body += form_encode(name);
    x.body += '=';
    x.body += form_encode(value);
  }
  return x;
}

IntrospectionAnswer IntrospectionClient::read(const HttpOutcome& outcome) {
  IntrospectionAnswer a;
  switch (outcome.kind) {
    case HttpOutcome::Kind::Timeout:
      a.kind = IntrospectionAnswer::Kind::Timeout;
      a.detail = "no answer within the timeout";
      return a;
    case HttpOutcome::Kind::Unreachable:
      a.kind = IntrospectionAnswer::Kind::Unreachable;
      a.detail = outcome.detail.empty() ? "unreachable" : outcome.detail;
      return a;
    case HttpOutcome::Kind::Response:
      break;
  }
  a.http_status = outcome.status;
  if (outcome.status == 400) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(outcome.body, ec);
    const auto* err = !ec && v.is_object() ? v.get_object().if_contains("error") : nullptr;
    if (err != nullptr && err->is_string() &&
        (err->get_string() == "invalid_request" || err->get_string() == "unsupported_token_type")) {
      a.kind = IntrospectionAnswer::Kind::Refused;
      a.detail = "HTTP 400 " + std::string(err->get_string());
      return a;
    }
  }
  if (outcome.status != 200) {
    a.kind = IntrospectionAnswer::Kind::HttpStatus;
    a.detail = "HTTP " + std::to_string(outcome.status);
    return a;
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(outcome.body, ec);
  if (ec || !v.is_object()) {
    a.kind = IntrospectionAnswer::Kind::Malformed;
    a.detail = ec ? "the answer is not JSON" : "the answer is not a JSON object";
    return a;
  }
  const auto* active = v.get_object().if_contains("active");
  if (active == nullptr || !active->is_bool()) {
    a.kind = IntrospectionAnswer::Kind::Malformed;
    a.detail = "the answer has no boolean 'active'";
    return a;
  }
  a.kind = IntrospectionAnswer::Kind::Answer;
  a.claims = std::move(v.get_object());
  return a;
}

void IntrospectionClient::introspect(std::string_view token,
                                     std::function<void(IntrospectionAnswer)> done) const {
  transport_->send(request_for(token), [done = std::move(done)](HttpOutcome outcome) {
    done(read(outcome));
  });
}

}  // namespace portcullis::auth::oauth2
