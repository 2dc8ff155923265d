// server.trusted_proxies and server.proxy_protocol: what loads, and each mistake at its
// file:line:col.
#include <gtest/gtest.h>

#include <string>

#include "config/loader.h"

namespace portcullis::config {
namespace {

// The server section goes first, so positions are as written; a route keeps the file free of
// the "no routes" warning.
LoadResult load(const std::string& server) {
  return load_config_string(
      server +
          "upstreams: { up: { url: http://127.0.0.1:9001 } }\n"
          "routes: [{ name: r, match: { path: /x }, upstream: up, auth: none }]\n",
      "test.yaml", "/etc/pc");
}

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

TEST(TrustedProxiesTest, DefaultsTrustNobodyAndExpectNoProxyHeader) {
  LoadResult r = load("server: { listen: 127.0.0.1:8080 }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.config->server.trusted_proxies.empty());
  EXPECT_FALSE(r.config->server.proxy_protocol);
}

TEST(TrustedProxiesTest, BlocksAndBareAddressesLoad) {
  LoadResult r = load(
      "server:\n"
      "  proxy_protocol: true\n"
      "  trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\", \"::1\"]\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  const auto& s = r.config->server;
  EXPECT_TRUE(s.proxy_protocol);
  ASSERT_EQ(s.trusted_proxies.size(), 4u);
  EXPECT_EQ(ip::to_string(s.trusted_proxies[0]), "10.0.0.0/8");
  EXPECT_EQ(ip::to_string(s.trusted_proxies[1]), "192.0.2.7/32");
  EXPECT_EQ(ip::to_string(s.trusted_proxies[2]), "2001:db8::/32");
  EXPECT_EQ(ip::to_string(s.trusted_proxies[3]), "::1/128");
}

TEST(TrustedProxiesTest, EachBadBlockIsReportedAtItsPosition) {
  LoadResult r = load(
      "server:\n"
      "  trusted_proxies:\n"
      "    - 10.0.0.0/8\n"
      "    - 10.0.0.1/8\n"
      "    - not-an-address\n"
      "    - 10.0.0.0/33\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 3u) << all(r.errors);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].col, 7);
  EXPECT_NE(r.errors[0].message.find("did you mean 10.0.0.0/8?"), std::string::npos)
      << all(r.errors);
  EXPECT_EQ(r.errors[1].line, 5);
  EXPECT_NE(r.errors[1].message.find("'not-an-address' is not an IPv4 or IPv6 address"),
            std::string::npos)
      << all(r.errors);
  EXPECT_EQ(r.errors[2].line, 6);
  EXPECT_NE(r.errors[2].message.find("prefix length must be 0..32"), std::string::npos)
      << all(r.errors);
}

TEST(TrustedProxiesTest, ShapesAreChecked) {
  LoadResult r = load("server: { trusted_proxies: 10.0.0.0/8, proxy_protocol: yes }\n");
  ASSERT_EQ(r.errors.size(), 2u) << all(r.errors);
  EXPECT_EQ(r.errors[0].col, 28);
  EXPECT_NE(r.errors[0].message.find("'trusted_proxies' must be a list"), std::string::npos)
      << all(r.errors);
  EXPECT_EQ(r.errors[1].col, 56);
}

TEST(TrustedProxiesTest, TrustingEveryAddressIsAWarning) {
  LoadResult r = load("server:\n  trusted_proxies: [10.0.0.0/8, 0.0.0.0/0, \"::/0\"]\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 2u) << all(r.warnings);
  EXPECT_EQ(r.warnings[0].line, 2);
  EXPECT_EQ(r.warnings[0].col, 33);
  EXPECT_NE(r.warnings[0].message.find("'0.0.0.0/0' trusts every peer"), std::string::npos)
      << all(r.warnings);
  EXPECT_EQ(r.warnings[1].col, 44);
}

// Every IPv4 peer is ::ffff:a.b.c.d to the gateway: blocks holding all of those trust every
// IPv4 client, however they are written.
TEST(TrustedProxiesTest, TrustingEveryIpv4AddressIsAWarningInAnySpelling) {
  LoadResult r = load(
      "server:\n  trusted_proxies: [\"::ffff:0:0/96\", \"::/64\", \"::ffff:10.0.0.0/104\", "
      "\"2001:db8::/32\"]\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 2u) << all(r.warnings);
  EXPECT_NE(r.warnings[0].message.find("'::ffff:0:0/96' trusts every peer"), std::string::npos)
      << all(r.warnings);
  EXPECT_NE(r.warnings[1].message.find("'::/64' trusts every peer"), std::string::npos)
      << all(r.warnings);
}

}  // namespace
}  // namespace portcullis::config
