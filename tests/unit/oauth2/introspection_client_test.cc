#include "auth/oauth2/introspection_client.h"

#include <gtest/gtest.h>

#include "fakes.h"

namespace portcullis::auth::oauth2 {
namespace {

using testing::FakeTransport;
using Kind = IntrospectionAnswer::Kind;

IntrospectionClient::Settings settings(config::ClientAuthMethod m, std::string id = "gateway",
                                       std::string secret = "s3cret") {
  IntrospectionClient::Settings s;
  std::string why;
  EXPECT_TRUE(config::parse_http_url("http://127.0.0.1:9100/token/introspection", s.endpoint, why));
  s.client_id = std::move(id);
  s.client_secret = config::Secret(std::move(secret));
  s.auth_method = m;
  s.timeout = std::chrono::milliseconds(1500);
  return s;
}

std::string header(const HttpExchange& x, std::string_view name) {
  for (const auto& [k, v] : x.headers) {
    if (k == name) return v;
  }
  return {};
}

TEST(IntrospectionClient, PostsTheTokenWithABasicAuthenticatedClient) {
  auto t = std::make_shared<FakeTransport>();
  IntrospectionClient c(settings(config::ClientAuthMethod::ClientSecretBasic), t);
  const HttpExchange x = c.request_for("ab+c/d=");
  EXPECT_EQ(x.method, "POST");
  EXPECT_EQ(x.url.host, "127.0.0.1");
  EXPECT_EQ(x.url.port, 9100);
  EXPECT_EQ(x.url.target, "/token/introspection");
  EXPECT_EQ(x.timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(x.body, "token=ab%2Bc%2Fd%3D&token_type_hint=access_token");
  EXPECT_EQ(header(x, "Authorization"), "Basic Z2F0ZXdheTpzM2NyZXQ=");
}

TEST(IntrospectionClient, BasicCredentialsAreFormEncodedBeforeBase64) {
  // RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded first.
  EXPECT_EQ(basic_authorization("my client", "p@ss:w rd"), "Basic bXkrY2xpZW50OnAlNDBzcyUzQXcrcmQ=");
}

TEST(IntrospectionClient, ClientSecretPostPutsTheClientInTheForm) {
  auto t = std::make_shared<FakeTransport>();
  IntrospectionClient c(settings(config::ClientAuthMethod::ClientSecretPost, "gw", "a&b=c"), t);
  const HttpExchange x = c.request_for("tok");
  EXPECT_EQ(x.body, "token=tok&token_type_hint=access_token&client_id=gw&client_secret=a%26b%3Dc");
  EXPECT_EQ(header(x, "Authorization"), "");
}

TEST(IntrospectionClient, ReadsAnActiveAndAnInactiveAnswer) {
  auto a = IntrospectionClient::read(FakeTransport::json(200, R"({"active":true,"sub":"42"})"));
  EXPECT_EQ(a.kind, Kind::Answer);
  EXPECT_TRUE(a.active());
  EXPECT_EQ(result_label(a), "active");
  auto b = IntrospectionClient::read(FakeTransport::json(200, R"({"active":false})"));
  EXPECT_EQ(b.kind, Kind::Answer);
  EXPECT_FALSE(b.active());
  EXPECT_EQ(result_label(b), "inactive");
}

TEST(IntrospectionClient, A400AboutTheTokenIsAnAnswerNotAFailure) {
  for (const char* body : {R"({"error":"invalid_request"})",
                           R"({"error":"unsupported_token_type","error_description":"JWT"})"}) {
    auto a = IntrospectionClient::read(FakeTransport::json(400, body));
    EXPECT_EQ(a.kind, Kind::Refused) << body;
    EXPECT_TRUE(a.ok());
    EXPECT_FALSE(a.active());
    EXPECT_EQ(result_label(a), "refused");
  }
  // Other 400s (the gateway's own client refused, or no OAuth error at all) are failures.
  for (const char* body : {R"({"error":"invalid_client"})", "bad request", "[]"}) {
    auto a = IntrospectionClient::read(FakeTransport::json(400, body));
    EXPECT_EQ(a.kind, Kind::HttpStatus) << body;
  }
}

TEST(IntrospectionClient, EverythingElseIsAProviderFailure) {
  struct Case {
    HttpOutcome outcome;
    Kind kind;
    std::string_view label;
  };
  const Case cases[] = {
      {FakeTransport::timeout(), Kind::Timeout, "timeout"},
      {FakeTransport::refused(), Kind::Unreachable, "unreachable"},
      {FakeTransport::json(500, R"({"active":true})"), Kind::HttpStatus, "http_error"},
      {FakeTransport::json(401, R"({"error":"invalid_client"})"), Kind::HttpStatus, "http_error"},
      {FakeTransport::json(200, "<html>"), Kind::Malformed, "malformed"},
      {FakeTransport::json(200, ""), Kind::Malformed, "malformed"},
      {FakeTransport::json(200, "[true]"), Kind::Malformed, "malformed"},
      {FakeTransport::json(200, R"({"sub":"42"})"), Kind::Malformed, "malformed"},
      {FakeTransport::json(200, R"({"active":"true"})"), Kind::Malformed, "malformed"},
      {FakeTransport::json(200, R"({"active":true)"), Kind::Malformed, "malformed"},
  };
  for (const auto& c : cases) {
    auto a = IntrospectionClient::read(c.outcome);
    EXPECT_EQ(a.kind, c.kind) << c.outcome.body;
    EXPECT_FALSE(a.ok());
    EXPECT_FALSE(a.active());
    EXPECT_EQ(result_label(a), c.label);
  }
}

TEST(IntrospectionClient, IntrospectGoesThroughTheTransport) {
  auto t = std::make_shared<FakeTransport>();
  IntrospectionClient c(settings(config::ClientAuthMethod::ClientSecretBasic), t);
  int calls = 0;
  c.introspect("tok", [&](IntrospectionAnswer a) {
    ++calls;
    EXPECT_TRUE(a.active());
  });
  ASSERT_EQ(t->pending(), 1u);
  t->answer(FakeTransport::json(200, R"({"active":true})"));
  EXPECT_EQ(calls, 1);
}

TEST(HttpUrl, HttpAndHttps) {
  config::HttpUrl u;
  std::string why;
  EXPECT_TRUE(config::parse_http_url("http://idp.test/oauth/introspect?x=1", u, why));
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/oauth/introspect?x=1");
  EXPECT_EQ(u.host_header, "idp.test");
  EXPECT_TRUE(config::parse_http_url("http://[::1]:9100", u, why));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.target, "/");
  EXPECT_FALSE(u.https);
  EXPECT_TRUE(config::parse_http_url("https://idp.test/introspect", u, why));
  EXPECT_TRUE(u.https);
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.host_header, "idp.test");
  EXPECT_TRUE(config::parse_http_url("https://idp.test:8443/i", u, why));
  EXPECT_EQ(u.port, 8443);
  EXPECT_FALSE(config::parse_http_url("HTTPS://", u, why));
  EXPECT_FALSE(config::parse_http_url("ftp://idp.test/", u, why));
  EXPECT_FALSE(config::parse_http_url("http://user:pw@idp.test/", u, why));
  EXPECT_FALSE(config::parse_http_url("http://idp.test:0/", u, why));
  EXPECT_FALSE(config::parse_http_url("/relative", u, why));
}

}  // namespace
}  // namespace portcullis::auth::oauth2
