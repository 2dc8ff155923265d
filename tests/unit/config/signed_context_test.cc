// Tests for identity.signed_context in the loader: the issue's shape with its defaults, and
// each mistake at its file:line:col. Key contents are judged elsewhere
// (identity::check_signed_context); here the files only have to be readable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "config/loader.h"

namespace portcullis::config {
namespace {

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

constexpr const char* kRest =
    "upstreams:\n"
    "  echo: { url: http://127.0.0.1:9001 }\n"
    "routes:\n"
    "  - { name: all, match: { path_prefix: / }, upstream: echo, auth: none }\n";

class SignedContextConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pc-ctx-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "keys");
    for (const char* name : {"keys/ctx-2026-12.pem", "keys/ctx-2026-09.pem"}) {
      std::ofstream(dir_ / name) << "PEM of " << name << "\n";
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  LoadResult load(const std::string& identity) {
    return load_config_string("identity:\n" + identity + kRest, "test.yaml", dir_.string());
  }
  void expect_one_error(const std::string& identity, int line, int col, const std::string& text) {
    LoadResult r = load(identity);
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
    EXPECT_EQ(r.errors[0].line, line) << all(r.errors);
    EXPECT_EQ(r.errors[0].col, col) << all(r.errors);
    EXPECT_NE(r.errors[0].message.find(text), std::string::npos) << all(r.errors);
  }

  std::filesystem::path dir_;
};

TEST_F(SignedContextConfigTest, TheIssueShapeLoads) {
  LoadResult r = load(R"(  signed_context:
    header: X-Identity-Token
    issuer: https://gateway.example.test
    algorithm: EdDSA                      # EdDSA (Ed25519) | ES256
    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: ctx-2026-12 }, { key_file: file:keys/ctx-2026-09.pem, kid: ctx-2026-09 } ]
    ttl_s: 60
)");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const auto& sc = r.config->identity.signed_context;
  ASSERT_TRUE(sc.has_value());
  EXPECT_EQ(sc->header, "X-Identity-Token");
  EXPECT_EQ(sc->issuer, "https://gateway.example.test");
  EXPECT_EQ(sc->algorithm, ContextAlg::EdDSA);
  ASSERT_EQ(sc->keys.size(), 2u);
  EXPECT_EQ(sc->keys[0].kid, "ctx-2026-12");
  EXPECT_EQ(sc->keys[0].pem.reveal(), "PEM of keys/ctx-2026-12.pem");
  EXPECT_EQ(sc->keys[1].kid, "ctx-2026-09");
  EXPECT_EQ(sc->ttl_s, 60u);
  EXPECT_FALSE(sc->per_request);
  EXPECT_FALSE(sc->anonymous);
  EXPECT_FALSE(sc->jwks_route.has_value());
}

TEST_F(SignedContextConfigTest, OptionsLoad) {
  LoadResult r = load(R"(  signed_context:
    issuer: https://gw.test
    algorithm: ES256
    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]
    per_request: true
    anonymous: true
    jwks_route: /.well-known//portcullis-jwks.json
    cache_entries: 500
)");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const auto& sc = *r.config->identity.signed_context;
  EXPECT_EQ(sc.algorithm, ContextAlg::ES256);
  EXPECT_TRUE(sc.per_request);
  EXPECT_TRUE(sc.anonymous);
  EXPECT_EQ(sc.jwks_route, "/.well-known/portcullis-jwks.json");
  EXPECT_EQ(sc.cache_entries, 500u);
  EXPECT_EQ(sc.header, "X-Identity-Token");
}

// The JWKS is answered before routing: a jwks_route that is a route's own path takes its GETs
// (an acceptance check found `jwks_route: /v1/orders` accepted without a word).
TEST_F(SignedContextConfigTest, AJwksRouteTakingARoutesPathIsAWarning) {
  const std::string head =
      "identity:\n  signed_context:\n    issuer: https://gw.test\n"
      "    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]\n    jwks_route: ";
  const std::string routes =
      "upstreams:\n  echo: { url: http://127.0.0.1:9001 }\nroutes:\n"
      "  - { name: orders, match: { path_prefix: /v1/orders }, upstream: echo, auth: none }\n"
      "  - { name: writes, match: { path: /v1/w, methods: [POST] }, upstream: echo, auth: none }\n"
      "  - { name: all, match: { path_prefix: / }, upstream: echo, auth: none }\n";
  for (const auto& [jwks, route] :
       std::vector<std::pair<std::string, std::string>>{{"/v1/orders", "orders"}, {"/", "all"}}) {
    SCOPED_TRACE(jwks);
    LoadResult r = load_config_string(head + jwks + "\n" + routes, "test.yaml", dir_.string());
    ASSERT_TRUE(r.ok()) << all(r.errors);
    ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
    EXPECT_EQ(r.warnings[0].str(), "test.yaml:5:17: identity.signed_context.jwks_route '" + jwks +
                                       "' is answered with the public keys before routing: a "
                                       "GET for it never reaches route '" +
                                       route + "'");
  }
  // Under a prefix (the usual catch-all), or a route that takes no GET: nothing to say.
  for (const char* jwks : {"/.well-known/jwks.json", "/v1/w"}) {
    LoadResult r = load_config_string(head + jwks + "\n" + routes, "test.yaml", dir_.string());
    ASSERT_TRUE(r.ok()) << all(r.errors);
    EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  }
}

TEST_F(SignedContextConfigTest, EachMistakeAtItsPlace) {
  const std::string key = "    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]\n";
  expect_one_error("  signed_context:\n    issuer: https://gw.test\n    algorithm: RS256\n" + key,
                   4, 16, "algorithm 'RS256' cannot sign the identity context: EdDSA or ES256");
  expect_one_error("  signed_context:\n" + key, 3, 5, "missing required key 'issuer'");
  expect_one_error("  signed_context:\n    issuer: https://gw.test\n    keys: []\n", 4, 11,
                   "'keys' must be a non-empty list");
  expect_one_error(
      "  signed_context:\n    issuer: https://gw.test\n"
      "    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a },\n"
      "            { key_file: file:keys/ctx-2026-09.pem, kid: a } ]\n",
      5, 13, "kid 'a' is used by two keys");
  expect_one_error(
      "  signed_context:\n    issuer: https://gw.test\n"
      "    keys: [ { key_file: not-a-reference, kid: a } ]\n",
      4, 25, "key_file must be a reference, ${ENV_NAME} or file:/path, not the private key");
  expect_one_error(
      "  signed_context:\n    issuer: https://gw.test\n"
      "    keys: [ { key_file: file:keys/missing.pem, kid: a } ]\n",
      4, 25, "cannot read secret file");
  expect_one_error("  signed_context:\n    issuer: https://gw.test\n    header: X-User-Id\n" + key,
                   4, 13, "'X-User-Id' is already an identity header");
  expect_one_error("  signed_context:\n    issuer: https://gw.test\n    ttl_s: 0\n" + key, 4, 12,
                   "'ttl_s' must be between 2 and 86400");
  expect_one_error("  signed_context:\n    issuer: https://gw.test\n    jwks_route: jwks\n" + key,
                   4, 17, "'jwks_route' must start with '/'");
  expect_one_error("  signed_context:\n    issuer: https://gw.test\n    per_reqest: true\n" + key,
                   4, 5, "did you mean 'per_request'");
}

// Found by an acceptance check: `check` said ok to each of these, and at run time the token
// went upstream as a second Content-Length, a Transfer-Encoding beside the request's own
// length, a second Host, or replaced the client's credentials.
TEST_F(SignedContextConfigTest, HeaderCannotBeOneTheProxyOrAuthenticationUses) {
  const std::string key = "    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]\n";
  for (const char* name : {"Transfer-Encoding", "content-length", "Host", "Connection", "TE",
                           "Upgrade", "Expect", "Trailer", "Keep-Alive"}) {
    SCOPED_TRACE(name);
    expect_one_error("  signed_context:\n    issuer: https://gw.test\n    header: " +
                         std::string(name) + "\n" + key,
                     4, 13, "is part of the HTTP framing or hop-by-hop");
  }
  for (const char* name : {"Authorization", "Cookie", "Proxy_Authorization"}) {
    SCOPED_TRACE(name);
    expect_one_error("  signed_context:\n    issuer: https://gw.test\n    header: " +
                         std::string(name) + "\n" + key,
                     4, 13, "carries the client's credentials");
  }
  expect_one_error(
      "  signed_context:\n    issuer: https://gw.test\n    header: X-Forwarded-Host\n" + key, 4, 13,
      "is a forwarding header");
}

TEST_F(SignedContextConfigTest, TheDefaultApiKeyHeaderClashesToo) {
  std::ofstream(dir_ / "pepper") << "0123456789abcdef0123456789abcdef\n";
  for (const char* name : {"X-API-Key", "x_api_key"}) {
    SCOPED_TRACE(name);
    LoadResult r = load_config_string(
        std::string("identity:\n  signed_context:\n    issuer: https://gw.test\n    header: ") +
            name + "\n    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]\n" +
            "api_keys: { store: sqlite:keys.db, pepper: file:pepper }\n" + kRest,
        "test.yaml", dir_.string());
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
    EXPECT_EQ(r.errors[0].str(),
              "test.yaml:6:1: api_keys reads keys from 'X-API-Key' (the default api_keys.header), "
              "which is identity.signed_context.header");
  }
}

TEST_F(SignedContextConfigTest, HeaderClashIsFoundWhicheverComesFirst) {
  LoadResult r = load(
      "  signed_context:\n    issuer: https://gw.test\n    header: X-Ctx\n"
      "    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]\n"
      "  headers: { user_id: x_ctx }\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(all(r.errors).find("test.yaml:4:13: identity.signed_context.header 'X-Ctx'"),
            std::string::npos)
      << all(r.errors);
}

TEST_F(SignedContextConfigTest, OtherSectionsCannotWriteOrReadItsHeader) {
  std::ofstream(dir_ / "pepper") << "0123456789abcdef0123456789abcdef\n";
  const std::string identity =
      "identity:\n  signed_context:\n    issuer: https://gw.test\n"
      "    keys: [ { key_file: file:keys/ctx-2026-12.pem, kid: a } ]\n";
  LoadResult r = load_config_string(
      identity +
          "api_keys: { header: x-identity-token, store: sqlite:keys.db, pepper: file:pepper }\n"
          "jwt_providers:\n"
          "  main: { issuer: https://i.test, audiences: [a], algorithms: [RS256],\n"
          "          jwks_uri: http://127.0.0.1:9/jwks,\n"
          "          claims_to_headers: { email: X_Identity_Token } }\n" +
          kRest,
      "test.yaml", dir_.string());
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 2u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml:5:21: api_keys.header 'x-identity-token' is identity.signed_context.header");
  EXPECT_EQ(r.errors[1].line, 9) << all(r.errors);
  EXPECT_NE(r.errors[1].message.find("carries the signed identity context"), std::string::npos)
      << all(r.errors);
}

}  // namespace
}  // namespace portcullis::config
