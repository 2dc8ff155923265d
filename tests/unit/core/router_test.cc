#include "proxy/router.h"

#include <gtest/gtest.h>

#include "proxy/path.h"

namespace portcullis::proxy {
namespace {

config::RouteConfig route(std::string name, std::optional<std::string> path,
                          std::optional<std::string> prefix, std::vector<std::string> methods = {},
                          std::optional<std::string> host = std::nullopt) {
  config::RouteConfig r;
  r.name = std::move(name);
  r.match.path = std::move(path);
  r.match.path_prefix = std::move(prefix);
  r.match.methods = std::move(methods);
  r.match.host = std::move(host);
  return r;
}

TEST(Router, PrefixIsSegmentAware) {
  Router r({route("orders", std::nullopt, "/v1/orders")});
  EXPECT_EQ(r.match("GET", "h", "/v1/orders"), 0);
  EXPECT_EQ(r.match("GET", "h", "/v1/orders/7"), 0);
  EXPECT_EQ(r.match("GET", "h", "/v1/ordersX"), -1);
  EXPECT_EQ(r.match("GET", "h", "/v1"), -1);
}

TEST(Router, FirstMatchWinsInFileOrder) {
  Router r({route("exact", "/v1/orders/special", std::nullopt),
            route("prefix", std::nullopt, "/v1/orders"), route("all", std::nullopt, "/")});
  EXPECT_EQ(r.match("GET", "h", "/v1/orders/special"), 0);
  EXPECT_EQ(r.match("GET", "h", "/v1/orders/special/x"), 1);
  EXPECT_EQ(r.match("GET", "h", "/other"), 2);
}

TEST(Router, MethodsAndHostRestrictAMatch) {
  Router r({route("read", std::nullopt, "/r", {"GET", "HEAD"}, "api.example.com")});
  EXPECT_EQ(r.match("GET", "API.Example.com:8080", "/r/1"), 0);
  EXPECT_EQ(r.match("POST", "api.example.com", "/r/1"), -1);
  EXPECT_EQ(r.match("GET", "other.example.com", "/r/1"), -1);
}

TEST(Path, NormalisesDotSegmentsAndSlashes) {
  Target t;
  ASSERT_EQ(normalise_target("/v1/reports/../reports//7?x=1", t), TargetError::None);
  EXPECT_EQ(t.path, "/v1/reports/7");
  EXPECT_EQ(t.query, "x=1");
  ASSERT_EQ(normalise_target("/v1/./reports", t), TargetError::None);
  EXPECT_EQ(t.path, "/v1/reports");
  ASSERT_EQ(normalise_target("/v1/%6Frders", t), TargetError::None);
  EXPECT_EQ(t.path, "/v1/orders");
  ASSERT_EQ(normalise_target("/../../etc", t), TargetError::None);
  EXPECT_EQ(t.path, "/etc");
  ASSERT_EQ(normalise_target("/a/%2e%2E/b/.", t), TargetError::None);
  EXPECT_EQ(t.path, "/b/");
  ASSERT_EQ(normalise_target("/a//../b", t), TargetError::None);
  EXPECT_EQ(t.path, "/b");
}

TEST(Path, RefusesEncodedSeparatorsAndBadTargets) {
  Target t;
  EXPECT_EQ(normalise_target("/a%2Fb", t), TargetError::EncodedSeparator);
  EXPECT_EQ(normalise_target("/a%2fb", t), TargetError::EncodedSeparator);
  EXPECT_EQ(normalise_target("/a%5Cb", t), TargetError::EncodedSeparator);
  EXPECT_EQ(normalise_target("/a%00b", t), TargetError::EncodedSeparator);
  EXPECT_EQ(normalise_target("/a b", t), TargetError::Malformed);
  EXPECT_EQ(normalise_target("", t), TargetError::Malformed);
}

TEST(Path, AcceptsAbsoluteForm) {
  Target t;
  ASSERT_EQ(normalise_target("http://example.com/a//b?q=1", t), TargetError::None);
  EXPECT_EQ(t.path, "/a/b");
  EXPECT_EQ(t.query, "q=1");
}

}  // namespace
}  // namespace portcullis::proxy

namespace portcullis::proxy {
namespace {

TEST(NormaliseTarget, AbsoluteFormNeedsAnAuthorityAndKeepsOnlyPathAndQuery) {
  Target t;
  EXPECT_EQ(normalise_target("http:::::?", t), TargetError::Malformed);
  EXPECT_EQ(normalise_target("http:" + std::string(400, ':') + "?", t), TargetError::Malformed);
  EXPECT_EQ(normalise_target("http:/a", t), TargetError::Malformed);
  EXPECT_EQ(normalise_target("ftp://h/a", t), TargetError::Malformed);
  ASSERT_EQ(normalise_target("http://h:8080/a/../b?x=1", t), TargetError::None);
  EXPECT_EQ(t.path, "/b");
  EXPECT_EQ(t.query, "x=1");
  ASSERT_EQ(normalise_target("https://h", t), TargetError::None);
  EXPECT_EQ(t.path, "/");
  EXPECT_FALSE(t.has_query);
}

TEST(NormaliseTarget, DotSegmentsWithParametersAreRefused) {
  Target t;
  EXPECT_EQ(normalise_target("/public/..;/v1/orders", t), TargetError::DotSegmentParameter);
  EXPECT_EQ(normalise_target("/a/.;x/b", t), TargetError::DotSegmentParameter);
  EXPECT_EQ(normalise_target("/a/%2e%2e;x/b", t), TargetError::DotSegmentParameter);
}

TEST(NormaliseTarget, RoutingPathDropsSegmentParameters) {
  Target t;
  ASSERT_EQ(normalise_target("/v1;jsessionid=1/orders;x/7?q", t), TargetError::None);
  EXPECT_EQ(t.path, "/v1;jsessionid=1/orders;x/7");
  EXPECT_EQ(t.routing_path(), "/v1/orders/7");
  ASSERT_EQ(normalise_target("/plain/path", t), TargetError::None);
  EXPECT_EQ(t.routing_path(), "/plain/path");
}

}  // namespace
}  // namespace portcullis::proxy
