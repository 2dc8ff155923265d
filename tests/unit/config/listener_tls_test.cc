// Tests for server.tls, the client_cert section, the client_cert auth method and
// require_cert_binding: what a valid file produces, and each mistake at its file:line:col.
// The files are only read here (their PEM is judged by tls/listener_check.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.h"
#include "config/sections.h"

namespace portcullis::config {
namespace {

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

class ListenerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pc-tls-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    for (const char* name : {"api.pem", "api.key", "partner.pem", "partner.key", "ca.pem"}) {
      std::ofstream(dir_ / name) << "contents of " << name << "\n";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  LoadResult load(const std::string& yaml) {
    return load_config_string(yaml, "test.yaml", dir_.string());
  }
  void expect_one_error(const std::string& yaml, int line, int col, const std::string& text) {
    LoadResult r = load(yaml);
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
    EXPECT_EQ(r.errors[0].line, line) << all(r.errors);
    EXPECT_EQ(r.errors[0].col, col) << all(r.errors);
    EXPECT_NE(r.errors[0].message.find(text), std::string::npos) << all(r.errors);
  }

  std::filesystem::path dir_;
};

constexpr const char* kRest =
    "upstreams:\n"
    "  echo: { url: http://127.0.0.1:9001 }\n"
    "routes:\n"
    "  - { name: all, match: { path_prefix: / }, upstream: echo, auth: none }\n";

TEST_F(ListenerTlsTest, TheIssueShapeLoads) {
  LoadResult r = load(std::string(R"(server:
  listen: 127.0.0.1:8443
  tls:
    certificates:
      - { cert_file: api.pem, key_file: api.key }
      - { cert_file: partner.pem, key_file: partner.key, server_names: [Partner.Example.TEST, "*.partner.example.test"] }
    min_version: "1.3"
    client_ca_file: ca.pem
    client_cert: optional
    session_timeout_s: 600
)") + kRest);
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  ASSERT_TRUE(r.config->server.tls);
  const ListenerTlsConfig& tls = *r.config->server.tls;
  ASSERT_EQ(tls.certificates.size(), 2u);
  EXPECT_EQ(tls.certificates[0].cert_file, (dir_ / "api.pem").string());
  EXPECT_EQ(tls.certificates[0].cert_pem, "contents of api.pem\n");
  EXPECT_EQ(tls.certificates[0].key_pem.reveal(), "contents of api.key\n");
  EXPECT_TRUE(tls.certificates[0].server_names.empty());
  EXPECT_EQ(tls.certificates[1].server_names,
            (std::vector<std::string>{"partner.example.test", "*.partner.example.test"}));
  EXPECT_EQ(tls.certificates[1].key_mark, (Mark{6, 45}));
  EXPECT_EQ(tls.min_version, TlsVersion::Tls13);
  EXPECT_EQ(tls.client_ca_pem, "contents of ca.pem\n");
  EXPECT_EQ(tls.client_cert, ClientCertMode::Optional);
  EXPECT_EQ(tls.session_timeout_s, 600u);
}

TEST_F(ListenerTlsTest, DefaultsArePlainHttpAndThenSafeTls) {
  LoadResult plain = load(kRest);
  ASSERT_TRUE(plain.ok()) << all(plain.errors);
  EXPECT_FALSE(plain.config->server.tls);

  LoadResult r = load(std::string("server:\n  tls: { certificates: [{ cert_file: api.pem, "
                                  "key_file: api.key }] }\n") +
                      kRest);
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const ListenerTlsConfig& tls = *r.config->server.tls;
  EXPECT_EQ(tls.min_version, TlsVersion::Tls12);
  EXPECT_EQ(tls.client_cert, ClientCertMode::Off);
  EXPECT_EQ(tls.session_timeout_s, 300u);
  const auto& from = r.config->client_cert.client_id_from;
  EXPECT_EQ(from,
            (std::vector<CertIdentitySource>{CertIdentitySource::SanUri, CertIdentitySource::SanDns,
                                             CertIdentitySource::SubjectCn}));
}

TEST_F(ListenerTlsTest, UnreadableFileIsAnErrorAtItsValue) {
  expect_one_error(std::string("server:\n  tls:\n    certificates:\n"
                               "      - { cert_file: api.pem, key_file: missing.key }\n") +
                       kRest,
                   4, 41, "key_file " + (dir_ / "missing.key").string() + ": cannot read");
}

TEST_F(ListenerTlsTest, ShapeMistakes) {
  const std::string head = "server:\n  tls:\n";
  expect_one_error(head + "    certificates: []\n" + kRest, 3, 19,
                   "'certificates' must be a non-empty list");
  expect_one_error(head + "    certificates: [{ cert_file: api.pem }]\n" + kRest, 3, 20,
                   "missing required key 'key_file'");
  expect_one_error(head +
                       "    min_version: \"1.1\"\n    certificates: [{ cert_file: api.pem, "
                       "key_file: api.key }]\n" +
                       kRest,
                   3, 18, "'min_version' must be \"1.2\" or \"1.3\"");
  expect_one_error(head +
                       "    client_cert: sometimes\n    certificates: [{ cert_file: api.pem, "
                       "key_file: api.key }]\n" +
                       kRest,
                   3, 18, "'client_cert' must be off, optional or required");
  expect_one_error(head +
                       "    client_cert: required\n    certificates: [{ cert_file: api.pem, "
                       "key_file: api.key }]\n" +
                       kRest,
                   3, 18, "client_cert: required needs 'client_ca_file'");
  LoadResult typo = load(head + "    certificats: []\n" + kRest);
  ASSERT_EQ(typo.errors.size(), 2u) << all(typo.errors);
  EXPECT_NE(typo.errors[0].message.find("did you mean 'certificates'"), std::string::npos);
  EXPECT_NE(typo.errors[1].message.find("missing required key 'certificates'"), std::string::npos);
}

TEST_F(ListenerTlsTest, ServerNamesAreDnsNamesOrOneLabelWildcards) {
  const std::string head = "server:\n  tls:\n    certificates:\n";
  const std::string first = "      - { cert_file: api.pem, key_file: api.key }\n";
  expect_one_error(head + first +
                       "      - { cert_file: partner.pem, key_file: partner.key, server_names: "
                       "[ok.test, \"a.*.test\"] }\n" +
                       kRest,
                   5, 82, "server name 'a.*.test' must be a DNS name");
  expect_one_error(head + first +
                       "      - { cert_file: partner.pem, key_file: partner.key, server_names: "
                       "[Same.Test] }\n"
                       "      - { cert_file: api.pem, key_file: api.key, server_names: "
                       "[same.test] }\n" +
                       kRest,
                   6, 65, "server name 'same.test' is already served by another certificate");
  EXPECT_TRUE(is_server_name_pattern("*.example.test"));
  EXPECT_TRUE(is_server_name_pattern("xn--bcher-kva.example"));
  EXPECT_FALSE(is_server_name_pattern("*"));
  EXPECT_FALSE(is_server_name_pattern("*.*.test"));
  EXPECT_FALSE(is_server_name_pattern("a..test"));
  EXPECT_FALSE(is_server_name_pattern("-a.test"));
  EXPECT_FALSE(is_server_name_pattern("a.test."));
  EXPECT_FALSE(is_server_name_pattern("UPPER.test"));  // lower-cased before the check
}

TEST_F(ListenerTlsTest, ClientCaFileWithClientCertOffIsAWarning) {
  LoadResult r =
      load(std::string("server:\n  tls:\n    client_ca_file: ca.pem\n"
                       "    certificates: [{ cert_file: api.pem, key_file: api.key }]\n") +
           kRest);
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_EQ(r.warnings[0].line, 3);
  EXPECT_NE(r.warnings[0].message.find("client_ca_file is not used"), std::string::npos);
  // A misspelt mode is its error alone: no warning that assumes it meant off.
  LoadResult bad =
      load(std::string("server:\n  tls:\n    client_ca_file: ca.pem\n"
                       "    client_cert: sometimes\n"
                       "    certificates: [{ cert_file: api.pem, key_file: api.key }]\n") +
           kRest);
  ASSERT_EQ(bad.errors.size(), 1u) << all(bad.errors);
  EXPECT_NE(bad.errors[0].message.find("'client_cert' must be off, optional or required"),
            std::string::npos);
  EXPECT_TRUE(bad.warnings.empty()) << all(bad.warnings);
}

constexpr const char* kMtlsServer =
    "server:\n"
    "  tls:\n"
    "    certificates: [{ cert_file: api.pem, key_file: api.key }]\n"
    "    client_ca_file: ca.pem\n"
    "    client_cert: optional\n";

TEST_F(ListenerTlsTest, ClientCertMethodAndSection) {
  LoadResult r = load(std::string(kMtlsServer) +
                      "client_cert: { client_id_from: [subject_cn, san_uri], "
                      "thumbprint_header: X-Client-Cert-Sha256 }\n"
                      "upstreams:\n  echo: { url: http://127.0.0.1:9001 }\n"
                      "routes:\n"
                      "  - { name: m, match: { path_prefix: / }, upstream: echo, auth: "
                      "[client_cert], allow_clients: [svc] }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(
      c.client_cert.client_id_from,
      (std::vector<CertIdentitySource>{CertIdentitySource::SubjectCn, CertIdentitySource::SanUri}));
  EXPECT_EQ(c.identity.headers.cert_thumbprint, "X-Client-Cert-Sha256");
  ASSERT_EQ(c.routes[0].auth.size(), 1u);
  EXPECT_EQ(c.routes[0].auth[0].kind, AuthKind::ClientCert);
  EXPECT_EQ(c.routes[0].auth[0].str(), "client_cert");
}

TEST_F(ListenerTlsTest, ClientCertSectionMistakes) {
  const std::string rest = kRest;
  expect_one_error("client_cert: { client_id_from: [san_uri, email] }\n" + rest, 1, 42,
                   "'email' is not one of san_uri, san_dns, subject_cn");
  expect_one_error("client_cert: { client_id_from: [san_dns, san_dns] }\n" + rest, 1, 42,
                   "'san_dns' is listed twice");
  expect_one_error("client_cert: { thumbprint_header: x_client_id }\n" + rest, 1, 35,
                   "is already an identity header");
}

TEST_F(ListenerTlsTest, ClientCertMethodNeedsTlsAskingForCertificates) {
  const std::string route =
      "upstreams:\n  echo: { url: http://127.0.0.1:9001 }\n"
      "routes:\n"
      "  - { name: m, match: { path_prefix: / }, upstream: echo, auth: [client_cert] }\n";
  expect_one_error(route, 4, 66, "auth method 'client_cert' needs TLS on the listener");
  expect_one_error(
      "server:\n  tls: { certificates: [{ cert_file: api.pem, key_file: api.key }] }\n" + route, 6,
      66, "needs server.tls.client_cert: optional or required");
  expect_one_error(
      "server:\n  tls: { client_cert: optional, certificates: [{ cert_file: "
      "api.pem, key_file: api.key }] }\n" +
          route,
      6, 66, "needs server.tls.client_ca_file");
}

TEST_F(ListenerTlsTest, CertBindingNeedsClientCertificates) {
  const std::string providers =
      "jwt_providers:\n"
      "  main: { issuer: https://idp.test, audiences: [api], algorithms: [HS256], secret: "
      "\"${PC_TLS_TEST_SECRET}\", require_cert_binding: true }\n"
      "oauth2_providers:\n"
      "  corp: { introspection_endpoint: http://127.0.0.1:1/i, client_id: gw, client_secret: "
      "\"${PC_TLS_TEST_SECRET}\", require_cert_binding: true }\n";
  ::setenv("PC_TLS_TEST_SECRET", "0123456789abcdef0123456789abcdef", 1);
  LoadResult r = load(providers + kRest);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 2u) << all(r.errors);
  EXPECT_EQ(r.errors[0].line, 2) << all(r.errors);
  EXPECT_NE(r.errors[0].message.find("jwt provider 'main': require_cert_binding needs"),
            std::string::npos);
  EXPECT_EQ(r.errors[1].line, 4) << all(r.errors);
  EXPECT_NE(r.errors[1].message.find("oauth2 provider 'corp'"), std::string::npos);

  LoadResult ok = load(std::string(kMtlsServer) + providers + kRest);
  ASSERT_TRUE(ok.ok()) << all(ok.errors);
  EXPECT_TRUE(ok.config->jwt_providers.at("main").require_cert_binding);
  EXPECT_TRUE(ok.config->oauth2_providers.at("corp").require_cert_binding);
}

}  // namespace
}  // namespace portcullis::config
