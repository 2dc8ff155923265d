// A small asynchronous HTTP/1.1 client for talking to identity providers (JWKS, discovery,
// token introspection). One per process, on its own thread with its own io_context,
// started on first use and shared by every provider. Callers never wait on it: requests
// are queued and their callbacks run on the client's thread.
//
// http:// and https://: an https URL is reached with the TLS context the caller passes (the
// provider's ca_file / tls_verify, tls/client_context.h); a failed handshake is a failed
// request ("TLS handshake with HOST:PORT failed: certificate verify failed: ..."), never a
// fallback to plain HTTP. Keep-alive: idle connections are kept per host:port (and TLS
// context) (up to 32, for 20 s) and reused; one that the provider closed meanwhile is
// replaced once. TLS sessions are resumed on new connections to the same destination. No
// redirects followed. Asio, Beast and OpenSSL stay inside http_client.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/jwt_config.h"

namespace portcullis::tls {
class ClientContext;
}  // namespace portcullis::tls

namespace portcullis::net {

// How to speak TLS to an https:// URL; null for http:// only.
using TlsContext = std::shared_ptr<const tls::ClientContext>;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  bool ok = false;    // a complete response arrived (whatever its status)
  std::string error;  // what went wrong when !ok: "timed out", "connection refused", ...
  unsigned status = 0;
  HeaderList headers;  // as received
  std::string body;

  // First value of a header (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
};

using HttpCallback = std::function<void(HttpResponse)>;

class HttpClient {
 public:
  // The process-wide client (its thread starts on first use, stops at exit).
  static HttpClient& shared();

  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET `url`. The whole exchange (resolve, connect, TLS handshake, request, response) must
  // end within `timeout`; a body over `max_body` bytes fails the request. An https:// URL
  // needs `tls` (without it the request fails).
  void get(const config::FetchUrl& url, HeaderList headers, std::chrono::milliseconds timeout,
           std::size_t max_body, HttpCallback done, TlsContext tls = nullptr);
  // POST application/x-www-form-urlencoded (fields are percent-encoded here).
  void post_form(const config::FetchUrl& url, HeaderList headers, HeaderList form,
                 std::chrono::milliseconds timeout, std::size_t max_body, HttpCallback done,
                 TlsContext tls = nullptr);
  // Runs `fn` on the client's thread after `delay` (never inline).
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

  // Ends the client's thread (pending exchanges and timers are dropped, their callbacks never
  // called); nothing runs after it. The gateway calls it on the way out, while OpenSSL is
  // still initialised: once static destructors run, OpenSSL's exit handler may already have
  // gone and a thread ending then leaves its OpenSSL state behind (LeakSanitizer saw it).
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::net
