// The TLS client keys of upstreams and identity providers: what they load into, where each
// mistake is reported, and the warnings for tls_verify: false. The files' PEM contents are
// not judged here (tests/unit/tls/config_check_test.cc does): any text loads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"

namespace portcullis::config {
namespace {

namespace fs = std::filesystem;

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

class TlsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("pc-tls-config-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
           "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir / "certs");
    write("certs/ca.pem", "CA TEXT");
    write("certs/gw.pem", "CERT TEXT");
    write("certs/gw.key", "KEY TEXT");
  }
  void TearDown() override { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  }
  LoadResult load(const std::string& yaml) {
    return load_config_string(yaml, "gw.yaml", dir.string());
  }
  // Exactly one error, at `line` and the column where `at` starts on it, containing `text`.
  void expect_error(const std::string& yaml, int line, const std::string& at,
                    const std::string& text) {
    std::size_t begin = 0;
    for (int i = 1; i < line; ++i) begin = yaml.find('\n', begin) + 1;
    const int col = static_cast<int>(yaml.find(at, begin) - begin) + 1;
    LoadResult r = load(yaml);
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors) << yaml;
    EXPECT_EQ(r.errors[0].line, line) << all(r.errors);
    EXPECT_EQ(r.errors[0].col, col) << all(r.errors);
    EXPECT_NE(r.errors[0].message.find(text), std::string::npos) << all(r.errors);
  }
  fs::path dir;
};

TEST_F(TlsConfigTest, HttpsUpstreamWithEveryTlsKey) {
  LoadResult r = load(
      "upstreams:\n"
      "  orders:\n"
      "    url: https://Orders.internal:9443/api\n"
      "    ca_file: certs/ca.pem\n"
      "    server_name: Orders.Internal\n"
      "    client_cert_file: certs/gw.pem\n"
      "    client_key_file: certs/gw.key\n"
      "    tls_verify: true\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(all(r.warnings).find("tls"), std::string::npos) << all(r.warnings);
  const UpstreamConfig& u = r.config->upstreams.at("orders");
  EXPECT_TRUE(u.https());
  EXPECT_EQ(u.port, 9443);
  EXPECT_EQ(u.host_header, "Orders.internal:9443");
  EXPECT_EQ(u.base_path, "/api");
  EXPECT_TRUE(u.tls.verify);
  EXPECT_EQ(u.tls.ca_file, (dir / "certs/ca.pem").string());
  EXPECT_EQ(u.tls.ca_pem, "CA TEXT");
  EXPECT_EQ(u.tls.server_name, "orders.internal");
  EXPECT_EQ(u.tls.cert_pem, "CERT TEXT");
  EXPECT_EQ(u.tls.key_pem.reveal(), "KEY TEXT");
  EXPECT_EQ(u.tls.ca_mark, (Mark{4, 14}));
  EXPECT_EQ(u.tls.cert_mark, (Mark{6, 23}));
  EXPECT_EQ(u.tls.key_mark, (Mark{7, 22}));
}

TEST_F(TlsConfigTest, HttpsAloneUsesTheSystemStoreOnPort443) {
  LoadResult r = load("upstreams: { u: { url: 'https://orders.internal' } }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const UpstreamConfig& u = r.config->upstreams.at("u");
  EXPECT_EQ(u.port, 443);
  EXPECT_TRUE(u.tls.verify);
  EXPECT_TRUE(u.tls.ca_file.empty());
  EXPECT_TRUE(u.tls.cert_file.empty());
}

TEST_F(TlsConfigTest, VerificationOffIsWarnedAbout) {
  LoadResult r = load(
      "upstreams:\n"
      "  u:\n"
      "    url: https://orders.internal\n"
      "    tls_verify: false\n"
      "    ca_file: certs/ca.pem\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_FALSE(r.config->upstreams.at("u").tls.verify);
  const std::string text = all(r.warnings);
  EXPECT_NE(text.find("gw.yaml:4:5: tls_verify: false: the certificate of upstream 'u' is not "
                      "verified"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gw.yaml:5:5: ca_file is not used with tls_verify: false"), std::string::npos)
      << text;
}

TEST_F(TlsConfigTest, TlsKeysOnAPlainUpstream) {
  expect_error("upstreams:\n  u: { url: 'http://h', server_name: h }\n", 2, "server_name",
               "'server_name' applies to TLS only: upstream 'u' needs an https:// url");
}

TEST_F(TlsConfigTest, ACertificateNeedsItsKey) {
  expect_error("upstreams:\n  u: { url: 'https://h', client_cert_file: certs/gw.pem }\n", 2,
               "client_cert_file",
               "upstream 'u': 'client_cert_file' needs 'client_key_file' as well");
  expect_error("upstreams:\n  u: { url: 'https://h', client_key_file: certs/gw.key }\n", 2,
               "client_key_file",
               "upstream 'u': 'client_key_file' needs 'client_cert_file' as well");
}

TEST_F(TlsConfigTest, FilesThatCannotBeRead) {
  expect_error("upstreams:\n  u: { url: 'https://h', ca_file: certs/none.pem }\n", 2, "certs/",
               "ca_file " + (dir / "certs/none.pem").string() + ": cannot read");
  fs::create_directories(dir / "certs/dir.key");
  LoadResult r = load(
      "upstreams:\n  u: { url: 'https://h', client_cert_file: certs/gw.pem, client_key_file: "
      "certs/dir.key }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_NE(r.errors[0].message.find("client_key_file " + (dir / "certs/dir.key").string() +
                                     ": cannot read"),
            std::string::npos)
      << all(r.errors);
}

TEST_F(TlsConfigTest, ServerNameIsANameOrAnAddress) {
  expect_error("upstreams:\n  u: { url: 'https://h', server_name: 'a b' }\n", 2, "'a b'",
               "'server_name' must be a DNS name or an IP address");
  LoadResult r = load("upstreams: { u: { url: 'https://10.0.0.1', server_name: '::1' } }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
}

TEST_F(TlsConfigTest, BooleanOnly) {
  expect_error("upstreams:\n  u: { url: 'https://h', tls_verify: no }\n", 2, "no }",
               "'tls_verify' must be true or false");
}

TEST_F(TlsConfigTest, ProvidersTakeCaFileAndTlsVerify) {
  LoadResult r = load(
      "jwt_providers:\n"
      "  idp:\n"
      "    jwks_uri: https://idp.test/jwks\n"
      "    issuer: https://idp.test\n"
      "    audiences: [a]\n"
      "    algorithms: [RS256]\n"
      "    ca_file: certs/ca.pem\n"
      "oauth2_providers:\n"
      "  corp:\n"
      "    discovery: http://idp.test/.well-known/openid-configuration\n"
      "    client_id: gw\n"
      "    client_secret: file:certs/gw.key\n"
      "    tls_verify: false\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const auto& jwt = r.config->jwt_providers.at("idp");
  EXPECT_TRUE(jwt.jwks_uri.https);
  EXPECT_EQ(jwt.jwks_uri.port, 443);
  EXPECT_EQ(jwt.tls.ca_pem, "CA TEXT");
  EXPECT_EQ(jwt.tls.ca_mark, (Mark{7, 14}));
  const auto& corp = r.config->oauth2_providers.at("corp");
  EXPECT_FALSE(corp.tls.verify);
  EXPECT_NE(all(r.warnings)
                .find("gw.yaml:13:5: tls_verify: false: the certificate of oauth2 "
                      "provider 'corp' is not verified"),
            std::string::npos)
      << all(r.warnings);
}

TEST_F(TlsConfigTest, ProvidersRefuseUpstreamOnlyKeysAndPlainUrls) {
  const std::string jwt =
      "jwt_providers:\n"
      "  idp:\n"
      "    issuer: https://idp.test\n"
      "    audiences: [a]\n"
      "    algorithms: [RS256]\n";
  expect_error(jwt + "    jwks_uri: http://idp.test/jwks\n    ca_file: certs/ca.pem\n", 7,
               "ca_file",
               "'ca_file' applies to TLS only: jwt provider 'idp' needs an https:// jwks_uri or "
               "discovery");
  expect_error(jwt + "    jwks_uri: https://idp.test/jwks\n    server_name: idp.test\n", 7,
               "server_name", "unknown key 'server_name' in jwt provider 'idp'");
}

TEST_F(TlsConfigTest, SameSettingsIgnoresPositions) {
  TlsClientConfig a;
  a.ca_pem = "x";
  a.ca_mark = {1, 1};
  TlsClientConfig b = a;
  b.ca_mark = {9, 9};
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a.same_settings(b));
  b.verify = false;
  EXPECT_FALSE(a.same_settings(b));
}

}  // namespace
}  // namespace portcullis::config
