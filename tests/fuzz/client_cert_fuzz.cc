// Fuzzes what the gateway reads from a TLS client and from the tokens bound to it: the input
// as a DER certificate (OpenSSL parses it; tls/peer_certificate.h reads its thumbprint,
// subjectAltNames and CN, and the client_cert mechanism picks a client id from them), as an
// SNI server name and as the bytes of a ClientHello's server_name extension
// (tls/server_names.h), and as a JSON claims object whose cnf binds it (auth/cert_binding.h).
#include <openssl/x509.h>

#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/cert_binding.h"
#include "auth/client_cert/client_cert_authenticator.h"
#include "tls/peer_certificate.h"
#include "tls/server_names.h"

using namespace portcullis;

namespace {

const tls::ServerNames& names() {
  static const tls::ServerNames n = [] {
    tls::ServerNames t;
    t.add("api.example.test", 0);
    t.add("partner.example.test", 1);
    t.add("*.partner.example.test", 2);
    return t;
  }();
  return n;
}

void certificate(const std::uint8_t* data, std::size_t size) {
  const unsigned char* p = data;
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(size));
  if (cert == nullptr) return;
  auth::ClientCertificate c = tls::describe_certificate(cert);
  c.verified = true;
  for (auto order :
       {std::vector<config::CertIdentitySource>{config::CertIdentitySource::SanUri,
                                                config::CertIdentitySource::SanDns,
                                                config::CertIdentitySource::SubjectCn},
        std::vector<config::CertIdentitySource>{config::CertIdentitySource::SubjectCn}}) {
    auth::client_cert::ClientCertAuthenticator a(order, true);
    boost::beast::http::fields h;
    config::RouteConfig route;
    auth::AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route, nullptr, &c};
    a.authenticate(req, [](auth::AuthResult&& r) {
      if (r.status == auth::Status::Ok && !r.identity.header_safe()) __builtin_trap();
    });
  }
  X509_free(cert);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  certificate(data, size);
  const std::size_t index = names().find(text);
  if (index > 2) __builtin_trap();
  // The name read from the extension lies within it, and picks a certificate like any name.
  const std::string_view sni = tls::sni_host_name(data, size);
  if (!sni.empty() && (sni.data() < text.data() || sni.data() + sni.size() > text.data() + size)) {
    __builtin_trap();
  }
  if (names().find(tls::canonical_server_name(sni)) > 2) __builtin_trap();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (!ec && v.is_object()) {
    auto bound = auth::cnf_thumbprint(v.get_object());
    auth::ClientCertificate c;
    c.sha256 = "Tp7VZ4Dw3bfwisetOQHtjhIDh5JjdfJD56IPY1sBjS8";
    (void)auth::check_cert_binding(bound.value_or(""), &c);
  }
  return 0;
}
