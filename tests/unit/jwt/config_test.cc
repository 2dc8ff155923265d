// The jwt_providers section and the jwt route options: what loads, and every mistake
// reported at its file:line:col.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "../jose/test_keys.h"
#include "auth/jwt/config_check.h"
#include "config/loader.h"

namespace portcullis::config {
namespace {

namespace fs = std::filesystem;

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

class JwtConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("pc-jwt-config-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    auto rsa = jose::testing::rsa_key();
    auto ec = jose::testing::ec_key("P-256", "e1");
    write("rsa.pem", jose::testing::public_pem(rsa));
    write("keys.json", jose::testing::jwks_of({&rsa, &ec}));
    write("enc.json", R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]})");
    setenv("PC_TEST_JWT_SECRET", std::string(64, 's').c_str(), 1);
    setenv("PC_TEST_SHORT_SECRET", "short", 1);
  }
  void TearDown() override { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  }
  LoadResult load(const std::string& providers, const std::string& routes = kRoutes) {
    text = "upstreams:\n  up: { url: http://127.0.0.1:9001 }\njwt_providers:\n" + providers +
           "routes:\n" + routes;
    // The loader checks shapes; algorithm names and keys are the mechanism's to check.
    LoadResult r = load_config_string(text, "t.yaml", dir.string());
    check_loaded(r, "t.yaml", auth::jwt::check_provider_configs);
    return r;
  }
  // `at`: the text the error must point at, found on line `line` of the file.
  void expect_error(const std::string& providers, int line, const std::string& at,
                    const std::string& what, const std::string& routes = kRoutes) {
    LoadResult r = load(providers, routes);
    std::size_t begin = 0;
    for (int i = 1; i < line; ++i) begin = text.find('\n', begin) + 1;
    const int col = static_cast<int>(text.find(at, begin) - begin) + 1;
    ASSERT_FALSE(r.ok()) << text;
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
    EXPECT_EQ(r.errors[0].line, line) << all(r.errors);
    EXPECT_EQ(r.errors[0].col, col) << all(r.errors);
    EXPECT_NE(r.errors[0].message.find(what), std::string::npos) << all(r.errors);
  }

  static constexpr const char* kRoutes =
      "  - { name: r, match: { path_prefix: / }, upstream: up, auth: [jwt:main] }\n";
  fs::path dir;
  std::string text;
};

TEST_F(JwtConfigTest, FullProviderLoads) {
  LoadResult r = load(R"(  main:
    issuer: https://issuer.test
    audiences: [api://orders, api://other]
    algorithms: [RS256, ES256]
    jwks_uri: http://127.0.0.1:8999/jwks.json
    clock_skew_s: 30
    max_token_bytes: 4096
    required_claims: [exp, sub]
    max_lifetime_s: 3600
    typ: at+jwt
    scopes_claim: scp
    roles_claim: realm_access.roles
    rate_limit_claim: plan
    claims_to_headers: { email: X-User-Email, tenant: X-Tenant }
    header: X-Access-Token
    cookie: session
    jwks_refresh_s: 120
    jwks_min_refresh_s: 10
    jwks_max_refresh_s: 600
    jwks_refetch_cooldown_s: 5
    jwks_max_stale_s: 3600
    jwks_timeout_ms: 1500
    token_cache_entries: 0
    cache_max_s: 60
    gates_readiness: false
)",
                      "  - { name: r, match: { path_prefix: / }, upstream: up, auth: [jwt:main], "
                      "jwt_query_param: access_token }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const auto& p = r.config->jwt_providers.at("main");
  EXPECT_EQ(p.issuer, "https://issuer.test");
  EXPECT_EQ(p.audiences.size(), 2u);
  EXPECT_EQ(p.key_source, JwtProviderConfig::KeySource::JwksUri);
  EXPECT_EQ(p.jwks_uri.host, "127.0.0.1");
  EXPECT_EQ(p.jwks_uri.port, 8999);
  EXPECT_EQ(p.jwks_uri.target, "/jwks.json");
  EXPECT_EQ(p.required_claims, (std::vector<std::string>{"exp", "sub"}));
  EXPECT_EQ(*p.max_lifetime_s, 3600u);
  EXPECT_EQ(*p.typ, "at+jwt");
  EXPECT_EQ(p.rate_limit_claim, "plan");
  EXPECT_EQ(p.claims_to_headers.size(), 2u);
  EXPECT_EQ(*p.header, "X-Access-Token");
  EXPECT_EQ(p.token_cache_entries, 0u);
  EXPECT_EQ(p.jwks_timeout_ms, 1500u);
  EXPECT_FALSE(p.gates_readiness);
  EXPECT_EQ(*r.config->routes[0].jwt_query_param, "access_token");
}

TEST_F(JwtConfigTest, DefaultsAndStaticKeySources) {
  LoadResult r = load(R"(  main: { issuer: i, audiences: [a], algorithms: [RS256], public_key_file: rsa.pem }
  set: { issuer: j, audiences: [a], algorithms: [RS256, ES256], jwks_file: keys.json }
  hs: { issuer: k, audiences: [a], algorithms: [HS256, HS512], secret: "${PC_TEST_JWT_SECRET}" }
  oidc: { audiences: [a], algorithms: [RS256], discovery: "http://127.0.0.1:1/realms/x/.well-known/openid-configuration" }
)");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const auto& p = r.config->jwt_providers.at("main");
  EXPECT_EQ(p.clock_skew_s, 60u);
  EXPECT_EQ(p.max_token_bytes, 8192u);
  EXPECT_EQ(p.required_claims, std::vector<std::string>{"exp"});
  EXPECT_EQ(p.jwks_refresh_s, 300u);
  EXPECT_EQ(p.jwks_min_refresh_s, 30u);
  EXPECT_EQ(p.jwks_max_refresh_s, 86400u);
  EXPECT_EQ(p.jwks_refetch_cooldown_s, 10u);
  EXPECT_EQ(p.jwks_max_stale_s, 86400u);
  EXPECT_EQ(p.jwks_timeout_ms, 3000u);
  EXPECT_EQ(p.token_cache_entries, 100000u);
  EXPECT_EQ(p.cache_max_s, 300u);
  EXPECT_TRUE(p.gates_readiness);
  EXPECT_FALSE(p.public_key_pem.empty());
  EXPECT_EQ(r.config->jwt_providers.at("hs").secret.reveal().size(), 64u);
  // The issuer of a discovery provider comes from its URL.
  EXPECT_EQ(r.config->jwt_providers.at("oidc").issuer, "http://127.0.0.1:1/realms/x");
}

TEST_F(JwtConfigTest, AlgorithmMistakes) {
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256, none], jwks_uri: http://h/j }\n", 4, "none]", "'none' is never accepted");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [NONE], jwks_uri: http://h/j }\n", 4, "NONE", "never accepted");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS257], jwks_uri: http://h/j }\n", 4, "RS257", "unknown algorithm 'RS257'");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [HS256], jwks_uri: http://h/j }\n", 4, "HS256", "HS256 needs a shared secret");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [HS256], public_key_file: rsa.pem }\n", 4, "HS256", "HMAC is never used with a JWKS or public key");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], secret: \"${PC_TEST_JWT_SECRET}\" }\n", 4, "RS256", "RS256 needs a public key");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [ES256], public_key_file: rsa.pem }\n", 4, "ES256", "cannot be used with the RSA 2048 key");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [], jwks_uri: http://h/j }\n", 4, "[]",
               "at least one algorithm");
  expect_error("  main: { issuer: i, audiences: [a], jwks_uri: http://h/j }\n", 4, "{",
               "missing required key 'algorithms'");
}

TEST_F(JwtConfigTest, KeySourceMistakes) {
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256] }\n", 4, "{",
               "needs one key source");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, jwks_file: keys.json }\n", 4, "jwks_file", "more than one key source");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, tls_verify: false }\n", 4, "tls_verify", "'tls_verify' applies to TLS only: jwt provider 'main' needs an https:// jwks_uri or discovery");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: https://h/j, client_cert_file: c.pem }\n", 4, "client_cert_file", "unknown key 'client_cert_file'");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: ftp://h/j }\n", 4, "ftp", "expected http://HOST");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_file: missing.json }\n", 4, "missing.json", "cannot read");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_file: enc.json }\n", 4, "enc.json", "no key usable");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [HS256], secret: literal-secret }\n", 4, "literal-secret", "must be a reference");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [HS256], secret: \"${PC_TEST_SHORT_SECRET}\" }\n", 4, "\"${PC_TEST_SHORT", "HS256 needs at least 32");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [HS256], secret: \"${PC_TEST_NOT_SET_X}\" }\n", 4, "\"${PC_TEST_NOT", "is not set");
  expect_error("  main: { audiences: [a], algorithms: [RS256], discovery: http://h/discovery.json }\n", 4, "discovery", "'issuer' is required");
}

// Key files are read at load: a device or a FIFO named by mistake must not hang `check` or
// a reload (issue 10, item 14), and a key file has a size cap.
TEST_F(JwtConfigTest, KeyFilesMustBeRegularFilesOfBoundedSize) {
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_file: /dev/zero }\n",
               4, "/dev/zero", "not a regular file");
  ASSERT_EQ(::mkfifo((dir / "key.fifo").c_str(), 0600), 0);
  expect_error(
      "  main: { issuer: i, audiences: [a], algorithms: [RS256], public_key_file: key.fifo }\n", 4,
      "key.fifo", "not a regular file");
  write("huge.json", std::string((1u << 20) + 1, ' '));
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_file: huge.json }\n",
               4, "huge.json", "larger than 1 MiB");
}

TEST_F(JwtConfigTest, OtherMistakes) {
  expect_error("  main: { issuer: i, audiences: [], algorithms: [RS256], jwks_uri: http://h/j }\n", 4, "[]",
               "at least one audience");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, jwks_refres_s: 5 }\n", 4, "jwks_refres_s", "did you mean 'jwks_refresh_s'");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, jwks_refresh_s: 5 }\n", 4, "jwks_refresh_s", "must be within jwks_min_refresh_s and jwks_max_refresh_s");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, claims_to_headers: { sub: X-User-Id } }\n", 4, "X-User-Id", "identity header");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, header: Authorization }\n", 4, "Authorization", "cannot be used here");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, required_claims: [\"a b\"] }\n", 4, "\"a b", "may not contain spaces");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, max_token_bytes: 10 }\n", 4, "10 }", "between 64 and");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, rate_limit_claim: \"my plan\" }\n", 4, "\"my plan", "'rate_limit_claim' must be a claim name");
  expect_error("  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j, rate_limit_claim: [a] }\n", 4, "[a] }", "rate_limit_claim");
  expect_error("  \"bad name\": { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j }\n", 4, "\"bad", "may only use letters",
               "  - { name: r, match: { path_prefix: / }, upstream: up, auth: none }\n");
}

TEST_F(JwtConfigTest, RoutesMustNameDefinedProviders) {
  const std::string p = "  main: { issuer: i, audiences: [a], algorithms: [RS256], jwks_uri: http://h/j }\n";
  expect_error(p, 6, "jwt:other", "no jwt provider 'other' is defined in jwt_providers",
               "  - { name: r, match: { path_prefix: / }, upstream: up, auth: [jwt:other] }\n");
  expect_error(p, 6, "t }", "'jwt_query_param' needs a jwt:NAME method",
               "  - { name: r, match: { path_prefix: / }, upstream: up, auth: none, jwt_query_param: t }\n");
  expect_error(p, 6, "\"a b", "may only use letters",
               "  - { name: r, match: { path_prefix: / }, upstream: up, auth: [jwt:main], jwt_query_param: \"a b\" }\n");
  LoadResult two = load(p + "  partners: { issuer: j, audiences: [a], algorithms: [RS256], jwks_uri: http://h/k }\n",
                        "  - { name: r, match: { path_prefix: / }, upstream: up, auth: [jwt:main, jwt:partners] }\n");
  EXPECT_TRUE(two.ok()) << all(two.errors);
}

}  // namespace
}  // namespace portcullis::config
