// The IntrospectionTransport over the gateway's HTTP client (net/http_client.h): one
// process-wide client thread, so no worker ever waits on the identity provider. An https://
// URL is reached with the provider's TLS context (its ca_file and tls_verify).
#pragma once

#include <memory>

#include "auth/oauth2/transport.h"

namespace portcullis::net {
class HttpClient;
}
namespace portcullis::tls {
class ClientContext;
}

namespace portcullis::auth::oauth2 {

class HttpClientTransport : public IntrospectionTransport {
 public:
  HttpClientTransport(net::HttpClient& client, std::shared_ptr<const tls::ClientContext> tls)
      : client_(client), tls_(std::move(tls)) {}
  void send(HttpExchange exchange, std::function<void(HttpOutcome)> done) override;

 private:
  net::HttpClient& client_;
  std::shared_ptr<const tls::ClientContext> tls_;  // null: http:// only
};

// The transport on net::HttpClient::shared() for this provider: with a TLS context when its
// endpoint is https:// or it uses discovery (which may name an https endpoint). Null with
// `error` set when the TLS settings cannot be used (tls/config_check.h reports them first).
std::shared_ptr<IntrospectionTransport> make_http_transport(
    const config::OAuth2ProviderConfig& provider, std::string& error);

}  // namespace portcullis::auth::oauth2
