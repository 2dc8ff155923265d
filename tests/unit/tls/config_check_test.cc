// The TLS client settings judged with OpenSSL, reported at the positions the config kept.
#include "tls/config_check.h"

#include <gtest/gtest.h>

#include "test_pki.h"

namespace portcullis::tls {
namespace {

using testing::KeyPair;
using testing::make_ca;
using testing::make_cert;

std::string all(const std::vector<config::Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

class ConfigCheckTest : public ::testing::Test {
 protected:
  KeyPair ca = make_ca("test-ca");

  config::TlsClientConfig with_client(const KeyPair& cert, const KeyPair& key) {
    config::TlsClientConfig c;
    c.ca_file = "/etc/pc/ca.pem";
    c.ca_pem = ca.cert_pem();
    c.ca_mark = {3, 10};
    c.cert_file = "/etc/pc/gw.pem";
    c.cert_pem = cert.cert_pem();
    c.cert_mark = {4, 10};
    c.key_file = "/etc/pc/gw.key";
    c.key_pem = config::Secret(key.key_pem());
    c.key_mark = {5, 10};
    return c;
  }
  config::Diagnostics out{"gw.yaml"};
};

TEST_F(ConfigCheckTest, GoodSettingsSayNothing) {
  KeyPair gw = make_cert("gateway", &ca, nullptr);
  check_client_config(with_client(gw, gw), "upstream 'orders'", out);
  EXPECT_EQ(out.error_count(), 0u) << all(out.take_errors());
  EXPECT_TRUE(out.take_warnings().empty());
}

TEST_F(ConfigCheckTest, EachProblemAtItsPosition) {
  KeyPair gw = make_cert("gateway", &ca, nullptr);
  KeyPair other = make_cert("other", &ca, nullptr);
  auto c = with_client(gw, other);
  c.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  check_client_config(c, "upstream 'orders'", out);
  auto errors = out.take_errors();
  ASSERT_EQ(errors.size(), 2u) << all(errors);
  EXPECT_EQ(errors[0].str().rfind("gw.yaml:3:10: upstream 'orders': ca_file /etc/pc/ca.pem: ", 0),
            0u)
      << all(errors);
  EXPECT_EQ(errors[1].str(),
            "gw.yaml:5:10: upstream 'orders': client_key_file /etc/pc/gw.key is not the key of "
            "client_cert_file /etc/pc/gw.pem");
}

TEST_F(ConfigCheckTest, FilesWithoutWhatTheyShouldHold) {
  KeyPair gw = make_cert("gateway", &ca, nullptr);
  auto c = with_client(gw, gw);
  c.ca_pem = "hello\n";
  c.cert_pem = gw.key_pem();  // a key where the certificate should be
  const std::string key_text = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  c.key_pem = config::Secret(key_text);
  check_client_config(c, "upstream 'orders'", out);
  const std::string text = all(out.take_errors());
  EXPECT_NE(text.find("gw.yaml:3:10: upstream 'orders': ca_file /etc/pc/ca.pem: no PEM "
                      "certificate in it"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gw.yaml:4:10: upstream 'orders': client_cert_file /etc/pc/gw.pem: no "
                      "PEM certificate in it"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gw.yaml:5:10: upstream 'orders': client_key_file /etc/pc/gw.key: not a "
                      "PEM private key"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("AAAA"), std::string::npos) << "a key is never quoted";
}

TEST_F(ConfigCheckTest, AnEncryptedKeyIsRefused) {
  KeyPair gw = make_cert("gateway", &ca, nullptr);
  auto c = with_client(gw, gw);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PKCS8PrivateKey(b, gw.key, EVP_aes_128_cbc(), nullptr, 0, nullptr,
                                const_cast<char*>("passphrase"));
  c.key_pem = config::Secret(KeyPair::drain(b));
  check_client_config(c, "upstream 'orders'", out);
  const std::string text = all(out.take_errors());
  EXPECT_NE(text.find("gw.yaml:5:10: upstream 'orders': client_key_file /etc/pc/gw.key: the key "
                      "is encrypted"),
            std::string::npos)
      << text;
}

TEST_F(ConfigCheckTest, WarnsForAnExpiredOrExpiringClientCertificate) {
  KeyPair expired = make_cert("gateway", &ca, nullptr, false, -60, -1);
  check_client_config(with_client(expired, expired), "upstream 'orders'", out);
  KeyPair soon = make_cert("gateway", &ca, nullptr, false, -60, 5);
  check_client_config(with_client(soon, soon), "upstream 'billing'", out);
  EXPECT_EQ(out.error_count(), 0u);
  const std::string text = all(out.take_warnings());
  EXPECT_NE(text.find("gw.yaml:4:10: upstream 'orders': client_cert_file /etc/pc/gw.pem expired "
                      "on "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gw.yaml:4:10: upstream 'billing': client_cert_file /etc/pc/gw.pem "
                      "expires on "),
            std::string::npos)
      << text;
}

TEST_F(ConfigCheckTest, EveryHttpsUpstreamAndProviderIsChecked) {
  config::Config c;
  config::UpstreamConfig plain;
  plain.scheme = "http";
  plain.tls.ca_pem = "ignored: not https";
  c.upstreams["plain"] = plain;
  config::UpstreamConfig secure;
  secure.scheme = "https";
  secure.tls.ca_file = "/x.pem";
  secure.tls.ca_pem = "junk";
  c.upstreams["secure"] = secure;
  c.jwt_providers["idp"].tls.ca_file = "/y.pem";
  c.jwt_providers["idp"].tls.ca_pem = "junk";
  c.oauth2_providers["corp"].tls.ca_file = "/z.pem";
  c.oauth2_providers["corp"].tls.ca_pem = "junk";
  check_client_configs(c, out);
  const std::string text = all(out.take_errors());
  EXPECT_NE(text.find("upstream 'secure': ca_file /x.pem"), std::string::npos) << text;
  EXPECT_NE(text.find("jwt provider 'idp': ca_file /y.pem"), std::string::npos) << text;
  EXPECT_NE(text.find("oauth2 provider 'corp': ca_file /z.pem"), std::string::npos) << text;
  EXPECT_EQ(text.find("plain"), std::string::npos) << text;
}

}  // namespace
}  // namespace portcullis::tls
