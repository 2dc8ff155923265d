// The IntrospectionTransport over the gateway's HTTP client (net/http_client.h): one
// process-wide client thread, so no worker ever waits on the identity provider.
#pragma once

#include <memory>

#include "auth/oauth2/transport.h"

namespace portcullis::net {
class HttpClient;
}

namespace portcullis::auth::oauth2 {

class HttpClientTransport : public IntrospectionTransport {
 public:
  explicit HttpClientTransport(net::HttpClient& client) : client_(client) {}
  void send(HttpExchange exchange, std::function<void(HttpOutcome)> done) override;

 private:
  net::HttpClient& client_;
};

// The transport on net::HttpClient::shared().
std::shared_ptr<IntrospectionTransport> make_http_transport();

}  // namespace portcullis::auth::oauth2
