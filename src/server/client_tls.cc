// The TLS steps of a client connection: the handshake that opens it on a TLS listener (with
// the client certificate read once, for the whole connection) and the close_notify that ends
// it. A failed handshake is counted by reason and closes the connection without a byte of
// HTTP: a plain-HTTP request on the TLS port never reaches a route.
#include <openssl/ssl.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/nothrow.h"
#include "observe/metrics.h"
#include "server/session_impl.h"
#include "spdlog/spdlog.h"
#include "tls/peer_certificate.h"
#include "tls/server_context.h"

namespace portcullis::server {

namespace {

// A short, stable label for why a handshake failed (portcullis_tls_handshake_failures_total).
std::string_view failure_reason(const beast::error_code& ec, bool timed_out) {
  if (timed_out) return "timeout";
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      ec == asio::error::connection_reset) {
    return "closed";
  }
  if (ec.category() != asio::error::get_ssl_category()) return "other";
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return "http_request";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
      return "protocol_version";
    case SSL_R_NO_SHARED_CIPHER:
      return "no_shared_cipher";
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return "no_application_protocol";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "no_client_certificate";
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return "client_certificate_unverified";
    default:
      return "other";
  }
}

}  // namespace

asio::awaitable<bool> HttpSession::Impl::handshake(const runtime::Runtime& rt) {
  if (!rt.tls) co_return true;
  // Held until the handshake ends: the SNI callback reads its table.
  const std::shared_ptr<const tls::ServerTls> contexts = rt.tls;
  SSL* ssl = contexts->new_connection();
  auto& metrics = observe::Metrics::global();
  if (ssl == nullptr) {
    metrics.add(observe::series::kTlsHandshakeFailures, {{"reason", "other"}});
    beast::error_code ignored;
    client.socket().close(ignored);
    co_return false;
  }
  // Bytes read with a PROXY header may already hold the start of the ClientHello.
  const std::string_view early(static_cast<const char*>(buffer.data().data()), buffer.size());
  client.start_tls(ssl, early);
  buffer.consume(buffer.size());
  // The handshake is the head of the connection: it gets the header timeout.
  arm(std::chrono::seconds(rt.config->server.header_timeout_s));
  auto [ec, unused] = co_await client.async_handshake(nothrow);
  disarm();
  if (ec) {
    const std::string_view reason = failure_reason(ec, timed_out);
    metrics.add(observe::series::kTlsHandshakeFailures, {{"reason", reason}});
    spdlog::debug("TLS handshake with {} failed ({}): {}", peer_ip, reason, ec.message());
    // No close_notify after a failed handshake: close() finds the socket closed.
    beast::error_code ignored;
    client.socket().close(ignored);
    co_return false;
  }
  client_cert = tls::peer_certificate(ssl);
  metrics.add(observe::series::kTlsHandshakes,
              {{"version", SSL_get_version(ssl)},
               {"resumed", SSL_session_reused(ssl) == 1 ? "true" : "false"}});
  co_return true;
}

asio::awaitable<void> HttpSession::Impl::close() {
  beast::error_code ec;
  if (client.tls() && !timed_out && !cut_at_drain && client.socket().is_open()) {
    // close_notify, so a client reading a body delimited by the close can tell the end from a
    // truncation; the peer's answer is awaited only briefly.
    arm(std::chrono::seconds(1));
    co_await client.async_shutdown(nothrow);
    disarm();
  }
  client.socket().shutdown(tcp::socket::shutdown_send, ec);
  client.socket().close(ec);
}

}  // namespace portcullis::server
