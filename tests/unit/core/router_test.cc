#include "proxy/router.h"

#include <gtest/gtest.h>

#include "proxy/path.h"
#include "url/host_pattern.h"

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

TEST(Router, WildcardHostMatchesOneOrMoreLabelsInFront) {
  // In the order the loader requires: the more specific hosts first.
  Router r({route("api", std::nullopt, "/", {}, "api.example.com"),
            route("eu", std::nullopt, "/", {}, "*.eu.example.com"),
            route("any-sub", std::nullopt, "/", {}, "*.example.com"),
            route("rest", std::nullopt, "/")});
  EXPECT_EQ(r.match("GET", "api.example.com", "/x"), 0);
  EXPECT_EQ(r.match("GET", "shop.eu.example.com", "/x"), 1);
  EXPECT_EQ(r.match("GET", "a.b.eu.example.com:443", "/x"), 1);
  EXPECT_EQ(r.match("GET", "eu.example.com", "/x"), 2);
  EXPECT_EQ(r.match("GET", "WWW.Example.COM", "/x"), 2);
  EXPECT_EQ(r.match("GET", "x.api.example.com", "/x"), 2);
  // Never the domain itself, an empty label, a look-alike suffix or an address.
  for (const char* host : {"example.com", ".example.com", "a..example.com", "badexample.com",
                           "example.com.evil.test", "[::1]:8080", "a b.example.com"}) {
    EXPECT_EQ(r.match("GET", host, "/x"), 3) << host;
  }
}

TEST(HostPattern, ShapesMatchesAndCover) {
  EXPECT_TRUE(url::is_wildcard_host("*.example.com"));
  EXPECT_TRUE(url::is_wildcard_host("*.com"));
  for (const char* bad : {"*", "*.", "a*.b", "*.*.example.com", "**.example.com", "*example.com",
                          "*.example..com", "*.example.com.", "example.*", "*.-x_.com!"}) {
    EXPECT_FALSE(url::is_wildcard_host(bad)) << bad;
    EXPECT_FALSE(url::wildcard_host_problem(bad).empty()) << bad;
  }
  EXPECT_TRUE(url::host_matches("api.example.com", "api.example.com"));
  EXPECT_FALSE(url::host_matches("api.example.com", "x.api.example.com"));
  EXPECT_TRUE(url::host_covers("*.example.com", "api.example.com"));
  EXPECT_TRUE(url::host_covers("*.example.com", "*.eu.example.com"));
  EXPECT_TRUE(url::host_covers("*.example.com", "*.example.com"));
  EXPECT_FALSE(url::host_covers("*.eu.example.com", "*.example.com"));
  EXPECT_FALSE(url::host_covers("api.example.com", "*.example.com"));
  EXPECT_FALSE(url::host_covers("*.example.com", "example.com"));
  EXPECT_TRUE(url::hosts_overlap("*.eu.example.com", "*.example.com"));
  EXPECT_FALSE(url::hosts_overlap("*.example.com", "*.example.org"));
  EXPECT_FALSE(url::hosts_overlap("a.example.com", "b.example.com"));
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
