#include "auth/oauth2/http_transport.h"

#include "net/http_client.h"
#include "tls/client_context.h"

namespace portcullis::auth::oauth2 {
namespace {

// Introspection answers and discovery documents are small; anything bigger is not one.
constexpr std::size_t kMaxBody = 256 * 1024;

HttpOutcome outcome_of(net::HttpResponse r) {
  HttpOutcome o;
  if (r.ok) {
    o.kind = HttpOutcome::Kind::Response;
    o.status = r.status;
    o.body = std::move(r.body);
    return o;
  }
  o.kind = r.error.find("timed out") != std::string::npos ? HttpOutcome::Kind::Timeout
                                                          : HttpOutcome::Kind::Unreachable;
  o.detail = std::move(r.error);
  return o;
}

}  // namespace

void HttpClientTransport::send(HttpExchange x, std::function<void(HttpOutcome)> done) {
  auto callback = [done = std::move(done)](net::HttpResponse r) { done(outcome_of(std::move(r))); };
  net::HeaderList headers(x.headers.begin(), x.headers.end());
  if (x.method == "GET") {
    client_.get(x.url, std::move(headers), x.timeout, kMaxBody, std::move(callback), tls_);
  } else {
    // The client encodes the form itself (the same application/x-www-form-urlencoded).
    net::HeaderList form(x.form.begin(), x.form.end());
    client_.post_form(x.url, std::move(headers), std::move(form), x.timeout, kMaxBody,
                      std::move(callback), tls_);
  }
}

std::shared_ptr<IntrospectionTransport> make_http_transport(
    const config::OAuth2ProviderConfig& provider, std::string& error) {
  std::shared_ptr<const tls::ClientContext> tls;
  if (provider.introspection_endpoint.https || !provider.discovery.empty()) {
    tls = tls::ClientContext::create(provider.tls, error);
    if (!tls) return nullptr;
  }
  return std::make_shared<HttpClientTransport>(net::HttpClient::shared(), std::move(tls));
}

}  // namespace portcullis::auth::oauth2
