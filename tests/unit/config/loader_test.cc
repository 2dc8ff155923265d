// Tests for the config loader: what a valid file produces, and that every mistake a user
// can make is reported at the right file:line:col, all at once.
#include "config/loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "url/http_url.h"

namespace portcullis::config {
namespace {

// The smallest valid config; tests append or replace pieces of it.
constexpr const char* kUpstream =
    "upstreams:\n"
    "  reports: { url: http://127.0.0.1:9001 }\n";

LoadResult load(const std::string& yaml) {
  return load_config_string(yaml, "test.yaml", "/etc/pc");
}

// All diagnostics as "FILE:LINE:COL: message" lines, for readable failure output.
std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

// Asserts exactly one error, at line:col, whose message contains `text`.
void expect_one_error(const std::string& yaml, int line, int col, const std::string& text) {
  LoadResult r = load(yaml);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(r.errors[0].line, line) << all(r.errors);
  EXPECT_EQ(r.errors[0].col, col) << all(r.errors);
  EXPECT_NE(r.errors[0].message.find(text), std::string::npos) << all(r.errors);
}

TEST(LoaderTest, FullConfigLoadsWithEveryValue) {
  LoadResult r = load(R"(
server:   { listen: 0.0.0.0:8081, workers: 4, max_header_bytes: 8192, max_body_bytes: 0, header_timeout_s: 5, idle_timeout_s: 30, body_timeout_s: 20, drain_delay_s: 2, drain_timeout_s: 0, max_connections: 100 }
admin:    { listen: "[::1]:9902" }
upstreams:
  reports: { url: http://Reports.internal:9001/api/, timeout_s: 2.5, connect_timeout_s: 0.5, max_idle_connections: 8, idle_timeout_s: 15 }
identity:
  headers: { user_id: X-Sub, client_id: X-Client, scopes: X-Scp, roles: X-Rol, auth_method: X-Am, request_id: X-Rid }
  strip_inbound: [X-Scopes, X-Subject]
routes:
  - { name: health,  match: { path: /healthz }, upstream: reports, auth: none }
  - { name: reports, match: { path_prefix: /v1/reports/, methods: [get, Post], host: API.Example.com:443 }, upstream: reports, auth: none, forward_authorization: true, strip_prefix: /v1 }
log: { level: debug, access: logs/access.log, redact_query_params: [token, api_key] }
)");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  const Config& c = *r.config;
  EXPECT_EQ(c.source_path, "test.yaml");
  EXPECT_EQ(c.server.listen.str(), "0.0.0.0:8081");
  EXPECT_EQ(c.server.workers, 4u);
  EXPECT_EQ(c.server.max_header_bytes, 8192u);
  EXPECT_EQ(c.server.max_body_bytes, 0u);
  EXPECT_EQ(c.server.header_timeout_s, 5u);
  EXPECT_EQ(c.server.idle_timeout_s, 30u);
  EXPECT_EQ(c.server.body_timeout_s, 20u);
  EXPECT_EQ(c.server.drain_delay_s, 2u);
  EXPECT_EQ(c.server.drain_timeout_s, 0u);
  EXPECT_EQ(c.server.max_connections, 100u);
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen.host, "::1");
  EXPECT_EQ(c.admin.listen.str(), "[::1]:9902");

  ASSERT_EQ(c.upstreams.count("reports"), 1u);
  const UpstreamConfig& u = c.upstreams.at("reports");
  EXPECT_EQ(u.name, "reports");
  EXPECT_EQ(u.scheme, "http");
  EXPECT_EQ(u.host, "Reports.internal");
  EXPECT_EQ(u.port, 9001);
  EXPECT_EQ(u.base_path, "/api");
  EXPECT_EQ(u.host_header, "Reports.internal:9001");
  EXPECT_DOUBLE_EQ(u.timeout_s, 2.5);
  EXPECT_DOUBLE_EQ(u.connect_timeout_s, 0.5);
  EXPECT_EQ(u.max_idle_connections, 8u);
  EXPECT_EQ(u.idle_timeout_s, 15u);
  EXPECT_EQ(u.mark.line, 5);

  EXPECT_EQ(c.identity.headers.user_id, "X-Sub");
  EXPECT_EQ(c.identity.headers.request_id, "X-Rid");
  EXPECT_EQ(c.identity.strip_inbound, (std::vector<std::string>{"X-Scopes", "X-Subject"}));

  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_EQ(c.routes[0].name, "health");
  EXPECT_EQ(c.routes[0].match.path, "/healthz");
  EXPECT_FALSE(c.routes[0].match.path_prefix);
  EXPECT_TRUE(c.routes[0].auth_none);
  EXPECT_EQ(c.routes[0].mark.line, 10);
  const RouteConfig& rep = c.routes[1];
  EXPECT_EQ(rep.match.path_prefix, "/v1/reports");  // trailing '/' dropped
  EXPECT_EQ(rep.match.methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_EQ(rep.match.host, "api.example.com");  // lower case, port removed
  EXPECT_EQ(rep.upstream, "reports");
  EXPECT_TRUE(rep.forward_authorization);
  EXPECT_EQ(rep.strip_prefix, "/v1");

  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.access, "/etc/pc/logs/access.log");  // relative to the config's directory
  EXPECT_EQ(c.log.redact_query_params, (std::vector<std::string>{"token", "api_key"}));
}

TEST(LoaderTest, OmittedKeysKeepTheirDefaults) {
  LoadResult r = load(std::string(kUpstream) +
                      "routes: [{ name: a, match: { path: / }, upstream: reports, auth: none }]\n"
                      "server: { listen: ':9000' }\n"
                      "admin: { enabled: false }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const Config& c = *r.config;
  EXPECT_EQ(c.server.listen.str(), "127.0.0.1:9000");  // ":PORT" keeps the default host
  EXPECT_EQ(c.server.workers, 1u);
  EXPECT_EQ(c.server.max_connections, 20000u);
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.upstreams.at("reports").port, 9001);
  EXPECT_EQ(c.upstreams.at("reports").base_path, "");
  EXPECT_DOUBLE_EQ(c.upstreams.at("reports").timeout_s, 30);
  EXPECT_EQ(c.identity.headers.user_id, "X-User-Id");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.access, "stdout");
  EXPECT_FALSE(c.routes[0].forward_authorization);
}

TEST(LoaderTest, UpstreamPortDefaultsTo80) {
  LoadResult r = load(
      "upstreams: { u: { url: 'http://backend/' } }\n"
      "routes: [{ name: a, match: { path: / }, upstream: u, auth: none }]\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->upstreams.at("u").port, 80);
  EXPECT_EQ(r.config->upstreams.at("u").host_header, "backend");
  EXPECT_EQ(r.config->upstreams.at("u").base_path, "");
}

TEST(LoaderTest, ShippedQuickstartExampleLoads) {
  // The example in examples/ must always pass `portcullis check` (its API-key pepper comes
  // from the environment, as scripts/quickstart.sh provides it).
  ::setenv("PORTCULLIS_KEY_PEPPER", "quickstart-test-pepper-0123456789", 1);
  std::filesystem::path example =
      std::filesystem::path(PORTCULLIS_SOURCE_DIR) / "examples/quickstart.yaml";
  LoadResult r = load_config_file(example.lexically_normal().string());
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  EXPECT_EQ(r.config->server.listen.str(), "127.0.0.1:8080");
  EXPECT_EQ(r.config->admin.listen.str(), "127.0.0.1:9901");
  EXPECT_FALSE(r.config->routes.empty());
}

TEST(LoaderTest, UnknownKeyIsReportedWithASuggestion) {
  expect_one_error(std::string(kUpstream) + "server:\n  lisen: 127.0.0.1:80\n", 4, 3,
                   "unknown key 'lisen' in server (did you mean 'listen'?)");
}

TEST(LoaderTest, UnknownKeysAreCaughtInEverySection) {
  LoadResult r = load(
      "srever: {}\n"                                          // 1
      "upstreams: { u: { url: 'http://h', timout_s: 1 } }\n"  // 2
      "identity: { headers: { user: X-U } }\n"                // 3
      "routes:\n"                                             // 4
      "  - { name: a, match: { path: /, method: [GET] }, upstream: u, auth: none, extra: 1 }\n"
      "log: { levl: info }\n");
  ASSERT_EQ(r.errors.size(), 6u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml:1:1: unknown key 'srever' in the top level (did you mean "
            "'server'?)");
  EXPECT_EQ(r.errors[1].line, 2);
  EXPECT_NE(r.errors[1].message.find("'timout_s' in upstream 'u'"), std::string::npos);
  EXPECT_NE(r.errors[2].message.find("'user' in identity.headers"), std::string::npos);
  EXPECT_NE(r.errors[3].message.find("'method' in route 'a' match"), std::string::npos);
  EXPECT_NE(r.errors[4].message.find("'extra' in route 'a'"), std::string::npos);
  EXPECT_EQ(r.errors[5].line, 6);
}

TEST(LoaderTest, AllErrorsAreReportedInFileOrder) {
  LoadResult r = load(
      "routes:\n"
      "  - { name: a, match: { path: /a }, upstream: nowhere, auth: none }\n"  // line 2
      "server:\n"
      "  workers: 999\n"             // line 4
      "  listen: 127.0.0.1:99999\n"  // line 5
      "log: { level: loud }\n");     // line 6
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 4u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(), "test.yaml:2:47: upstream 'nowhere' is not defined in upstreams");
  EXPECT_EQ(r.errors[1].str(), "test.yaml:4:12: 'workers' must be between 0 and 256");
  EXPECT_EQ(r.errors[2].line, 5);
  EXPECT_EQ(r.errors[2].col, 11);
  EXPECT_NE(r.errors[2].message.find("port must be 0..65535"), std::string::npos);
  EXPECT_EQ(r.errors[3].line, 6);
  EXPECT_EQ(r.errors[3].col, 15);
}

TEST(LoaderTest, YamlSyntaxErrorIsOneDiagnostic) {
  LoadResult r = load("server:\n  listen: [127.0.0.1:80\n");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(r.errors[0].file, "test.yaml");
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_GT(r.errors[0].col, 0);
}

TEST(LoaderTest, MissingFileSaysWhy) {
  LoadResult r = load_config_file("/nonexistent/portcullis.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(),
            "/nonexistent/portcullis.yaml: cannot read: No such file or directory");
}

TEST(LoaderTest, ConfigMustBeAMap) {
  expect_one_error("- a\n- b\n", 1, 1, "must be a map");
}

TEST(LoaderTest, DuplicateKeyIsAnError) {
  expect_one_error(std::string(kUpstream) + "log:\n  level: info\n  level: debug\n", 5, 3,
                   "duplicate key 'level' in log");
}

TEST(LoaderTest, SecondYamlDocumentIsAnError) {
  expect_one_error(std::string(kUpstream) + "---\nlog: {}\n", 4, 1, "more than one YAML document");
}

TEST(LoaderTest, ListenAddressForms) {
  auto listen = [](const std::string& value) {
    return load("server: { listen: '" + value + "' }\n");
  };
  LoadResult r = listen("[::]:443");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->server.listen.host, "::");
  EXPECT_EQ(r.config->server.listen.port, 443);
  r = listen("localhost:0");  // port 0: the OS picks one
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->server.listen.str(), "localhost:0");

  for (const char* bad : {"8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "example.com:80",
                          "1.2.3.4:65536", "user@1.2.3.4:80", "::1:80"}) {
    r = listen(bad);
    EXPECT_FALSE(r.ok()) << bad;
    ASSERT_EQ(r.errors.size(), 1u) << bad << "\n" << all(r.errors);
    EXPECT_EQ(r.errors[0].line, 1) << bad;
    EXPECT_EQ(r.errors[0].col, 19) << bad;  // the value, not the key
  }
}

TEST(LoaderTest, UnquotedIpv6ListenExplainsQuoting) {
  // Unquoted, [::1]:8080 is a YAML syntax error; [::1] alone is a list.
  expect_one_error("server:\n  listen: [::1]\n", 2, 11, "quote IPv6");
  // The syntax errors say it too, with the address as written, at the parser's position: in
  // a flow map, in block style, and in a flow map spread over lines.
  const std::string hint = R"((quote IPv6 addresses: listen: "[::1]:8080"))";
  expect_one_error("server: {listen: [::1]:8080}\n", 1, 23, "end of map flow not found " + hint);
  expect_one_error("server:\n  listen: [::1]:8080\n", 2, 16, "end of map not found " + hint);
  expect_one_error("admin: {\n  enabled: true,\n  listen: [fe80::1]:9901\n}\n", 3, 20,
                   R"((quote IPv6 addresses: listen: "[fe80::1]:9901"))");
  // Other syntax errors get no such hint.
  LoadResult r = load("server: {listen: \"127.0.0.1:8080\"\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(r.errors[0].message.find("IPv6"), std::string::npos) << all(r.errors);
}

TEST(LoaderTest, AdminAndServerOnTheSameAddressIsAnError) {
  expect_one_error("server: { listen: 127.0.0.1:8080 }\nadmin: { listen: 127.0.0.1:8080 }\n", 2, 18,
                   "clashes with server.listen");
  // The wildcard address covers loopback too.
  expect_one_error("server: { listen: 0.0.0.0:9901 }\n", 1, 19,
                   "admin listen address 127.0.0.1:9901 clashes with server.listen 0.0.0.0:9901");
  EXPECT_TRUE(load("server: { listen: 127.0.0.1:9901 }\nadmin: { enabled: false }\n").ok());
  EXPECT_TRUE(load("server: { listen: '[::1]:9901' }\n").ok());  // different address family
}

TEST(LoaderTest, NumbersAreChecked) {
  expect_one_error("server: { max_body_bytes: -1 }\n", 1, 27, "whole number");
  expect_one_error("server: { workers: 2.5 }\n", 1, 20, "whole number");
  expect_one_error("server: { header_timeout_s: 0 }\n", 1, 29, "between 1 and");
  expect_one_error("server: { max_connections: 99999999999999999999999 }\n", 1, 28,
                   "between 1 and");
  expect_one_error("upstreams: { u: { url: 'http://h', timeout_s: 0 } }\n", 1, 47,
                   "greater than 0");
  expect_one_error("upstreams: { u: { url: 'http://h', connect_timeout_s: .nan } }\n", 1, 55,
                   "greater than 0");
  expect_one_error("upstreams: { u: { url: 'http://h', idle_timeout_s: 1.5 } }\n", 1, 52,
                   "whole number");
  expect_one_error("server:\n  workers:\n", 2, 3, "'workers' must be a whole number");
  expect_one_error("server: { drain_delay_s: 3601 }\n", 1, 26,
                   "'drain_delay_s' must be between 0 and 3600");
  expect_one_error("server: { drain_delay_s: -1 }\n", 1, 26, "'drain_delay_s' must be");
}

TEST(LoaderTest, BooleansAreOnlyTrueOrFalse) {
  expect_one_error("admin: { enabled: yes }\n", 1, 19, "true or false");
}

TEST(LoaderTest, UpstreamUrlIsValidated) {
  auto url_error = [](const std::string& url, const std::string& text) {
    SCOPED_TRACE(url);
    expect_one_error("upstreams:\n  u: { url: '" + url + "' }\n", 2, 13, text);
  };
  url_error("ftp://h", "the scheme must be http or https");
  url_error("127.0.0.1:9001", "invalid upstream url");
  url_error("localhost:9001", "expected http://HOST");
  url_error("http://user:pw@h", "credentials");
  url_error("http://h/?a=1", "query or fragment");
  url_error("http://h/#x", "query or fragment");
  url_error("http://:80", "a host is required");
  url_error("http://h:0", "port must be 1..65535");
  url_error("http://h:70000", "port must be 1..65535");
  expect_one_error("upstreams:\n  u: { timeout_s: 1 }\n", 2, 6,
                   "missing required key 'url' in upstream 'u'");
}

// Found by an acceptance check: the refusal of a URL with credentials printed them, in
// `check` and in the gateway log on a reload.
TEST(LoaderTest, RefusedUrlsAreQuotedWithoutTheirSecrets) {
  const std::string pw = "UPSTREAMPASS";
  LoadResult r = load("upstreams:\n  u: { url: 'http://admin:" + pw + "@127.0.0.1:9' }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(
      r.errors[0].message,
      "invalid upstream url 'http://***@127.0.0.1:9': credentials in the url are not allowed");
  r = load("upstreams:\n  u: { url: 'http://h/?token=" + pw + "' }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(all(r.errors).find(pw), std::string::npos) << all(r.errors);
  r = load(std::string(kUpstream) +
           "jwt_providers:\n  m: { issuer: https://i.test, audiences: [a], algorithms: [RS256],\n"
           "       jwks_uri: 'https://u:" +
           pw + "@i.test/jwks' }\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(all(r.errors).find(pw), std::string::npos) << all(r.errors);
  EXPECT_NE(all(r.errors).find("invalid jwks_uri 'https://***@i.test/jwks'"), std::string::npos)
      << all(r.errors);
}

TEST(UrlRedact, UserinfoAndQueryValuesAreMasked) {
  EXPECT_EQ(url::redact("https://idp.example/jwks"), "https://idp.example/jwks");
  EXPECT_EQ(url::redact("https://u:p@idp.example/jwks"), "https://***@idp.example/jwks");
  EXPECT_EQ(url::redact("https://idp.example/jwks?token=s3cret&v=2&flag&e="),
            "https://idp.example/jwks?token=***&v=***&flag&e=");
  EXPECT_EQ(url::redact("https://idp.example/x?a=1#frag"), "https://idp.example/x?a=***#frag");
  // Not a URL a parser takes: everything up to the last '@' still goes.
  EXPECT_EQ(url::redact("http://user:pa/ss@word@h:1/p"), "http://***@h:1/p");
  EXPECT_EQ(url::redact("user:pw@h"), "***@h");
}

TEST(LoaderTest, UpstreamIpv6Host) {
  LoadResult r = load("upstreams: { u: { url: 'http://[::1]:9001/x' } }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->upstreams.at("u").host, "::1");
  EXPECT_EQ(r.config->upstreams.at("u").host_header, "[::1]:9001");
}

TEST(LoaderTest, IdentityHeadersMustBeValidAndDistinct) {
  expect_one_error("identity: { headers: { user_id: 'X User' } }\n", 1, 33,
                   "not a valid HTTP header name");
  // Case-insensitive clash with another header's default name.
  expect_one_error("identity:\n  headers:\n    client_id: x-user-id\n", 3, 16,
                   "'x-user-id' is used for both user_id and client_id");
  expect_one_error("identity: { strip_inbound: [X-Ok, 'Bad:Name'] }\n", 1, 35,
                   "not a valid HTTP header name");
}

// A header the gateway writes identity to, or strips, is never one the proxy itself needs:
// found by an acceptance check (a signed context in Transfer-Encoding went upstream beside
// the request's Content-Length).
TEST(LoaderTest, IdentityHeadersCannotBeFramingCredentialOrForwardingHeaders) {
  expect_one_error("identity: { headers: { user_id: Content-Length } }\n", 1, 33,
                   "identity.headers.user_id 'Content-Length' is part of the HTTP framing");
  expect_one_error("identity: { headers: { scopes: host } }\n", 1, 32,
                   "is part of the HTTP framing");
  expect_one_error("identity: { headers: { roles: transfer_encoding } }\n", 1, 31,
                   "is part of the HTTP framing");
  expect_one_error("identity: { headers: { client_id: Authorization } }\n", 1, 35,
                   "carries the client's credentials");
  expect_one_error("identity: { headers: { auth_method: X-Forwarded-For } }\n", 1, 37,
                   "is a forwarding header");
  expect_one_error("identity: { strip_inbound: [Cookie, Transfer-Encoding] }\n", 1, 37,
                   "'Transfer-Encoding' cannot be stripped: it frames the request");
  expect_one_error("identity: { strip_inbound: [authorization] }\n", 1, 29,
                   "'authorization' cannot be stripped");
  // Stripping a cookie, a forwarding header, another credential header or a hop-by-hop
  // header the proxy drops anyway stays possible (files that loaded before still load).
  LoadResult r = load(std::string(kUpstream) +
                      "identity: { strip_inbound: [Cookie, X-Forwarded-For, Proxy-Authorization, "
                      "Upgrade, Expect, TE, Proxy-Connection] }\n");
  EXPECT_TRUE(r.ok()) << all(r.errors);
}

TEST(LoaderTest, ApiKeyHeaderIsCheckedAsItIsInForceDefaultIncluded) {
  const std::string store = "  store: sqlite:/tmp/keys.db\n  pepper: ${PC_TEST_PEPPER}\n";
  ::setenv("PC_TEST_PEPPER", "0123456789abcdef0123456789abcdef", 1);
  expect_one_error(std::string(kUpstream) + "api_keys:\n  header: Cookie\n" + store, 4, 11,
                   "api_keys.header 'Cookie' carries the client's credentials");
  expect_one_error(std::string(kUpstream) + "api_keys:\n  header: Content_Length\n" + store, 4, 11,
                   "api_keys.header 'Content_Length' is part of the HTTP framing");
  // The default header, stripped as an identity header: no key would ever be seen.
  expect_one_error(std::string(kUpstream) + "identity: { headers: { roles: x_api_key } }\n" +
                       "api_keys:\n" + store,
                   4, 1,
                   "api_keys reads keys from 'X-API-Key' (the default api_keys.header), which is "
                   "an identity header");
  expect_one_error(
      std::string(kUpstream) + "identity: { strip_inbound: [X-Api-Key] }\n" + "api_keys:\n" + store,
      4, 1, "which is listed in identity.strip_inbound");
  // Written out: the message points at it, '_' and '-' the same.
  expect_one_error(std::string(kUpstream) + "identity: { strip_inbound: [X_Key] }\n" +
                       "api_keys:\n  header: X-Key\n" + store,
                   5, 11, "api_keys.header 'X-Key' is listed in identity.strip_inbound");
}

// A valid route with `extra` spliced into its map.
std::string route(const std::string& extra, const std::string& match = "{ path_prefix: /r }") {
  return std::string(kUpstream) + "routes:\n  - { name: r, match: " + match +
         ", upstream: reports, " + extra + " }\n";
}

TEST(LoaderTest, RouteRequiredKeys) {
  LoadResult r = load(std::string(kUpstream) + "routes:\n  - { match: { path: / } }\n");
  ASSERT_EQ(r.errors.size(), 3u) << all(r.errors);
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.line, 4);
    EXPECT_EQ(e.col, 5);
  }
  EXPECT_NE(r.errors[0].message.find("missing required key 'name' in routes[0]"),
            std::string::npos);
  EXPECT_NE(r.errors[1].message.find("'upstream'"), std::string::npos);
  EXPECT_NE(r.errors[2].message.find("'auth'"), std::string::npos);
}

TEST(LoaderTest, RouteNamesAreUnique) {
  LoadResult r = load(std::string(kUpstream) +
                      "routes:\n"
                      "  - { name: r, match: { path: /a }, upstream: reports, auth: none }\n"
                      "  - { name: r, match: { path: /b }, upstream: reports, auth: none }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(), "test.yaml:5:13: duplicate route name 'r' (first used at line 4)");
}

TEST(LoaderTest, RouteMatchNeedsExactlyOnePath) {
  expect_one_error(route("auth: none", "{ methods: [GET] }"), 4, 23,
                   "needs exactly one of 'path' or 'path_prefix'");
  expect_one_error(route("auth: none", "{ path: /a, path_prefix: /b }"), 4, 23, "exactly one");
  expect_one_error(route("auth: none", "{ path: a }"), 4, 31, "must start with '/'");
  expect_one_error(route("auth: none", "{ path: '/a?x=1' }"), 4, 31, "no '?'");
  expect_one_error(route("auth: none", "{ path: '/a b' }"), 4, 31, "plain URL path");
  expect_one_error(route("auth: none", "{ path: '/a%zz' }"), 4, 31, "plain URL path");
  expect_one_error(route("auth: none", "{ path: '/a%2fb' }"), 4, 31, "could never match");
  expect_one_error(route("auth: none", "{ path: /a, methods: ['GE T'] }"), 4, 45,
                   "not a valid HTTP method");
  expect_one_error(route("auth: none", "{ path: /a, host: 'u@h' }"), 4, 41, "invalid host");
}

TEST(LoaderTest, WildcardHostsAreStarDotDomain) {
  LoadResult r = load(route("auth: none", "{ path: /a, host: '*.Example.com:8443' }"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].match.host, "*.example.com");
  // Every other shape is refused at the value (col 41), not accepted and never matched.
  for (const char* bad :
       {"'a*.b'", "'*'", "'*.'", "'*.*.example.com'", "'*example.com'", "'api.*.com'"}) {
    expect_one_error(route("auth: none", std::string("{ path: /a, host: ") + bad + " }"), 4, 41,
                     "a wildcard host is '*.' followed by a domain name");
  }
}

TEST(LoaderTest, UnquotedWildcardHostExplainsQuoting) {
  // Unquoted, '*' starts a YAML alias.
  expect_one_error(
      route("auth: none", "{ path: /a, host: *.example.com }"), 4, 41,
      R"(the referenced anchor is not defined (quote wildcard hosts: host: "*.example.com"))");
}

TEST(LoaderTest, AWildcardHostMustComeAfterTheMoreSpecificHostsItCovers) {
  const std::string wild =
      "  - { name: wild, match: { path_prefix: /v1, host: '*.example.com' }, upstream: reports, "
      "auth: none }\n";
  const std::string api =
      "  - { name: api, match: { path_prefix: /v1/orders, host: api.example.com }, upstream: "
      "reports, auth: none }\n";
  const std::string eu =
      "  - { name: eu, match: { path_prefix: /, host: '*.eu.example.com' }, upstream: reports, "
      "auth: none }\n";
  LoadResult r = load(std::string(kUpstream) + "routes:\n" + wild + api + eu);
  ASSERT_EQ(r.errors.size(), 2u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml:4:5: route 'wild' (host *.example.com) would take requests such as any "
            "method api.example.com/v1/orders from route 'api' (line 5, host api.example.com): "
            "put the route with the more specific host first");
  EXPECT_NE(r.errors[1].message.find("from route 'eu' (line 6, host *.eu.example.com)"),
            std::string::npos)
      << all(r.errors);
  // The other order loads, and so do hosts the wildcard does not cover or paths it never meets.
  r = load(std::string(kUpstream) + "routes:\n" + api + eu + wild);
  EXPECT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  r = load(std::string(kUpstream) + "routes:\n" + wild +
           "  - { name: bare, match: { path_prefix: /, host: example.com }, upstream: reports, "
           "auth: none }\n"
           "  - { name: other, match: { path_prefix: /v2, host: api.example.com }, upstream: "
           "reports, auth: none }\n");
  EXPECT_TRUE(r.ok()) << all(r.errors);
  // A route the same wildcard already covers is never reached.
  r = load(std::string(kUpstream) + "routes:\n" + wild +
           "  - { name: same, match: { path: /v1/x, host: '*.example.com' }, upstream: reports, "
           "auth: none }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_NE(r.warnings[0].message.find("route 'same' is never reached"), std::string::npos);
}

TEST(LoaderTest, RoutePathsAreNormalised) {
  LoadResult r = load(route("auth: none", "{ path_prefix: '//v1/./x/../reports//' }"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].match.path_prefix, "/v1/reports");
  r = load(route("auth: none", "{ path_prefix: / }"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].match.path_prefix, "/");  // the root keeps its '/'
  r = load(route("auth: none", "{ path: '/%7Euser' }"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].match.path, "/~user");
  r = load(route("auth: none", "{ path: '/a//b/' }"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].match.path, "/a/b/");  // exact paths keep a trailing '/'
}

TEST(LoaderTest, AuthMustBeNoneOrAList) {
  expect_one_error(route("auth: api_key"), 4, 69, "must be none or a list");
  expect_one_error(route("auth: []"), 4, 69, "must be none or a list");
  expect_one_error(route("auth: [basic]"), 4, 70, "unknown auth method 'basic'");
  expect_one_error(route("auth: ['jwt:']"), 4, 70, "unknown auth method 'jwt:'");
}

TEST(LoaderTest, AuthMethodsWithoutTheirSectionAreRefused) {
  LoadResult r = load(route("auth: [api_key, 'jwt:corp', 'oauth2:google']"));
  ASSERT_EQ(r.errors.size(), 3u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml:4:70: auth method 'api_key' is not available (no api_keys configured)");
  EXPECT_EQ(r.errors[1].message,
            "auth method 'jwt:corp' is not available (no jwt_providers configured)");
  EXPECT_EQ(r.errors[2].message,
            "auth method 'oauth2:google' is not available (no oauth2_providers configured)");
}

TEST(LoaderTest, AuthNoneCannotHaveRequirements) {
  expect_one_error(route("auth: none, require_scopes: [read]"), 4, 91,
                   "need an authenticated caller");
  expect_one_error(route("auth: none, allow_clients: [c1]"), 4, 90, "auth: none");
  // Empty lists ask for nothing, so they are harmless.
  EXPECT_TRUE(load(route("auth: none, require_scopes: [], require_roles: []")).ok());
}

TEST(LoaderTest, StripPrefixMustPrefixTheRoutePath) {
  expect_one_error(route("auth: none, strip_prefix: v1"), 4, 89, "must start with '/'");
  expect_one_error(route("auth: none, strip_prefix: /x"), 4, 89,
                   "'strip_prefix' /x is not a prefix of the route's path_prefix /r");
  LoadResult r = load(route("auth: none, strip_prefix: /r/", "{ path_prefix: /r/s }"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].strip_prefix, "/r");
}

TEST(LoaderTest, ShadowedRoutesAreWarnedAbout) {
  LoadResult r =
      load(std::string(kUpstream) +
           "routes:\n"
           "  - { name: api, match: { path_prefix: /v1 }, upstream: reports, auth: none }\n"
           "  - { name: rep, match: { path: /v1/reports, methods: [GET] }, upstream: "
           "reports, auth: none }\n"
           "  - { name: other, match: { path_prefix: /v10 }, upstream: reports, auth: "
           "none }\n"
           "  - { name: get, match: { path: /x, methods: [GET] }, upstream: reports, "
           "auth: none }\n"
           "  - { name: getpost, match: { path: /x, methods: [GET, POST] }, upstream: "
           "reports, auth: none }\n"
           "  - { name: hosted, match: { path: /y, host: a.example }, upstream: "
           "reports, auth: none }\n"
           "  - { name: anyhost, match: { path: /y }, upstream: reports, auth: none }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  // /v10 is not under /v1 (segments), a GET-only route does not cover POST, and a
  // host-specific route does not cover other hosts.
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_EQ(r.warnings[0].str(),
            "test.yaml:5:5: route 'rep' is never reached: route 'api' (line 4) matches first");
}

TEST(LoaderTest, RootPrefixShadowsEverythingAfterIt) {
  LoadResult r =
      load(std::string(kUpstream) +
           "routes:\n"
           "  - { name: all, match: { path_prefix: / }, upstream: reports, auth: none }\n"
           "  - { name: b, match: { path: /b, host: h }, upstream: reports, auth: none }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_NE(r.warnings[0].message.find("route 'b' is never reached"), std::string::npos);
}

// A public route that takes part of a protected route's requests (issue 10, item 15). The
// file starts with upstreams and api_keys (3 lines), so routes[0] is on line 5.
class WeakerShadowingTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("PC_TEST_ROUTE_PEPPER", "route-test-pepper", 1); }
  void TearDown() override { unsetenv("PC_TEST_ROUTE_PEPPER"); }
  static LoadResult with_routes(const std::string& routes) {
    return load(std::string(kUpstream) +
                "api_keys: { store: 'sqlite:k.db', pepper: '${PC_TEST_ROUTE_PEPPER}' }\n"
                "routes:\n" +
                routes);
  }
  static std::string partner(const std::string& extra = "") {
    return "  - { name: partner, match: { path_prefix: /v1/partner/reports, methods: [GET, POST] "
           "}, "
           "upstream: reports, auth: [api_key]" +
           extra + " }\n";
  }
};

TEST_F(WeakerShadowingTest, PublicRouteBeforeAPartlyCoveredProtectedRouteIsAnError) {
  // The issue's example: every GET to the partner route would be unauthenticated.
  LoadResult r = with_routes(
      "  - { name: public, match: { path_prefix: /v1, methods: [GET] }, upstream: reports, "
      "auth: none }\n" +
      partner());
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors) << all(r.warnings);
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml:5:5: route 'public' takes requests such as GET /v1/partner/reports from "
            "route 'partner' (line 6) with weaker authentication (auth: none): put 'partner' "
            "first, narrow the match, or add 'partner' to this route's 'shadows' if that is "
            "intended");
  // The same with the public route on an exact path inside the protected prefix, and with
  // no methods (any method covers GET).
  r = with_routes(
      "  - { name: docs, match: { path: /v1/partner/reports/docs }, upstream: reports, auth: "
      "none }\n" +
      partner());
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_NE(r.errors[0].message.find("GET /v1/partner/reports/docs from route 'partner'"),
            std::string::npos)
      << all(r.errors);
}

TEST_F(WeakerShadowingTest, RoutesThatCannotMeetDoNotOverlap) {
  LoadResult r = with_routes(
      // Disjoint methods, other segment, other host, and a later route that is public too.
      "  - { name: del, match: { path_prefix: /v1, methods: [DELETE] }, upstream: reports, "
      "auth: none }\n"
      "  - { name: sibling, match: { path_prefix: /v1/partner/report }, upstream: reports, "
      "auth: none }\n"
      "  - { name: hosted, match: { path_prefix: /h, host: a.example }, upstream: reports, "
      "auth: none }\n"
      "  - { name: hosted-b, match: { path_prefix: /h, host: b.example }, upstream: "
      "reports, auth: [api_key] }\n" +
      partner() +
      "  - { name: open, match: { path_prefix: /v1/partner/reports/open }, upstream: reports, "
      "auth: none }\n");
  EXPECT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
}

TEST_F(WeakerShadowingTest, WeakerPolicyCountsAsWeakerAuthentication) {
  LoadResult r = with_routes(
      "  - { name: any-key, match: { path_prefix: /v1 }, upstream: reports, auth: [api_key] }\n" +
      partner(", require_scopes: [reports:read]"));
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_NE(r.errors[0].message.find("(it does not require scope 'reports:read')"),
            std::string::npos)
      << all(r.errors);
  // An earlier route that asks at least as much is fine.
  r = with_routes(
      "  - { name: admin, match: { path_prefix: /v1 }, upstream: reports, auth: [api_key], "
      "require_scopes: [reports:read, admin] }\n" +
      partner(", require_scopes: [reports:read]"));
  EXPECT_TRUE(r.ok()) << all(r.errors);
}

TEST_F(WeakerShadowingTest, ShadowsMakesItPassWithAWarning) {
  LoadResult r = with_routes(
      "  - { name: public, match: { path_prefix: /v1, methods: [GET] }, upstream: reports, "
      "auth: none, shadows: [partner] }\n" +
      partner());
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_EQ(r.warnings[0].line, 5);
  EXPECT_EQ(r.warnings[0].col, 107);  // the name in `shadows`
  EXPECT_NE(r.warnings[0].message.find("route 'public' takes requests such as GET "
                                       "/v1/partner/reports from route 'partner' (line 6)"),
            std::string::npos)
      << all(r.warnings);
  EXPECT_NE(r.warnings[0].message.find("as its 'shadows' allows"), std::string::npos);
  EXPECT_EQ(r.config->routes[0].shadows, (std::vector<std::string>{"partner"}));
}

TEST_F(WeakerShadowingTest, ShadowsNamesMustBeRoutes) {
  LoadResult r = with_routes(
      "  - { name: public, match: { path_prefix: /v1, methods: [GET] }, upstream: reports, "
      "auth: none, shadows: [partnr] }\n" +
      partner());
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 2u) << all(r.errors);  // the overlap, and the unknown name
  EXPECT_EQ(r.errors[1].str(),
            "test.yaml:5:107: 'shadows' names no route 'partnr' (did you mean 'partner'?)");
  // A name that is a route but not one this route shadows: a stale entry, warned about.
  r = with_routes(
      "  - { name: health, match: { path: /healthz }, upstream: reports, auth: none, shadows: "
      "[partner] }\n" +
      partner());
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_NE(r.warnings[0].message.find("lists 'partner' in 'shadows' but takes none"),
            std::string::npos);
}

TEST(LoaderTest, NoRoutesIsAWarning) {
  LoadResult r = load("");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].message.find("no routes"), std::string::npos);
}

TEST(LoaderTest, LogLevelAndAccess) {
  expect_one_error("log: { level: verbose }\n", 1, 15,
                   "must be one of trace, debug, info, warn, error");
  LoadResult r = load("log: { access: /var/log/pc.log }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->log.access, "/var/log/pc.log");
  r = load("log: { access: off }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->log.access, "off");
}

// Issue 11: log.format (text or json) for the gateway's messages; the positions of
// Every enum-valued setting is read from its table of names (YamlReader::read_enum): the
// section's own message, then a did-you-mean when a name is close.
TEST(LoaderTest, EnumValuesNameTheClosestChoice) {
  auto message = [](const std::string& yaml) {
    LoadResult r = load(yaml);
    return r.errors.size() == 1 ? r.errors[0].str() : all(r.errors);
  };
  EXPECT_EQ(message("log: { format: jsn }\n"),
            "test.yaml:1:16: log format 'jsn' must be text or json (did you mean 'json'?)");
  EXPECT_EQ(message("log: { format: logfmt }\n"),
            "test.yaml:1:16: log format 'logfmt' must be text or json");
  EXPECT_EQ(message("log: { format: [json] }\n"), "test.yaml:1:16: 'format' must be a string");
  EXPECT_EQ(message(std::string(kUpstream) +
                    "rate_limits:\n  a: { requests: 1, per: 1s, key: adress, count: request }\n"),
            "test.yaml:4:35: 'key' must be one of client_id, user_id, ip, route, not 'adress'\n"
            "test.yaml:4:50: 'count' must be one of requests, failed_auth, not 'request' (did you "
            "mean 'requests'?)\n");
}

// log.access and api_keys.store are kept for what `check` finds about them later.
TEST(LoaderTest, LogFormatAndThePositionsOfFilesToOpen) {
  LoadResult r = load("log: { level: warn }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->log.format, LogFormat::Text);
  r = load("log:\n  format: json\n  access: /var/log/pc.log\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->log.format, LogFormat::Json);
  EXPECT_EQ(r.config->log.access_at, (Mark{3, 11}));
  expect_one_error("log: { format: logfmt }\n", 1, 16, "log format 'logfmt' must be text or json");
  expect_one_error("log: { formt: json }\n", 1, 8, "did you mean 'format'");
  ::setenv("PC_TEST_FORMAT_PEPPER", "format-test-pepper-0123456789", 1);
  r = load("api_keys:\n  pepper: ${PC_TEST_FORMAT_PEPPER}\n  store: sqlite:keys.db\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->api_keys->store_at, (Mark{3, 10}));
}

TEST(LoaderTest, RelativePathsResolveAgainstTheConfigFilesDirectory) {
  std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / "pc_loader_test_relative";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "gw.yaml") << "log: { access: access.log }\n";
  LoadResult r = load_config_file((dir / "gw.yaml").string());
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->log.access, (dir / "access.log").lexically_normal().string());
  EXPECT_EQ(r.config->source_path, (dir / "gw.yaml").lexically_normal().string());
  std::filesystem::remove_all(dir);
}

TEST(LoaderTest, WrongShapesAreReportedNotCrashedOn) {
  // Each is wrong in a different structural way; all must come back as diagnostics.
  for (const char* yaml : {
           "server: 1\n",
           "server: [a]\n",
           "upstreams: [a]\n",
           "upstreams: { u: 1 }\n",
           "upstreams: { u: }\n",
           "upstreams: { 'bad name': { url: 'http://h' } }\n",
           "routes: { a: 1 }\n",
           "routes: [1]\n",
           "routes: [{}]\n",
           "routes: [{ name: [x] }]\n",
           "routes: [{ name: a, match: 1, upstream: u, auth: none }]\n",
           "routes: [{ name: a, match: { path: [/] }, upstream: u, auth: none }]\n",
           "routes: [{ name: a, match: { path: / }, upstream: u, auth: [[api_key]] }]\n",
           "routes: [{ name: a, match: { path: / }, upstream: u, auth: { api_key: 1 } }]\n",
           "identity: { headers: [X-A] }\n",
           "identity: { strip_inbound: X-A }\n",
           "log: { redact_query_params: [[a]] }\n",
           "? [a, b]\n: 1\n",
           "~: 1\n",
           "server: { listen: '' }\n",
           "a: &x [*x]\n",
       }) {
    LoadResult r = load(yaml);
    EXPECT_FALSE(r.ok()) << yaml;
    EXPECT_FALSE(r.errors.empty()) << yaml;
    for (const auto& e : r.errors) EXPECT_FALSE(e.message.empty()) << yaml;
  }
}

TEST(LoaderTest, DiagnosticFormat) {
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "bad"}).str(), "a.yaml:3:7: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 0, 0, "cannot read: x"}).str(), "a.yaml: cannot read: x");
}

TEST(LoaderTest, InputThatLoopsYamlCppLoadAllIsRefused) {
  // yaml-cpp 0.7's LoadAll never returns on this (tests/fuzz/config_fuzz found it).
  LoadResult r = load(",l,#?");
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace portcullis::config
