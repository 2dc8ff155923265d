// The client's address behind trusted proxies (proxy/client_address.h) and what the upstream
// is told about it (proxy/headers.h rewrite_request_head).
#include "proxy/client_address.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "proxy/headers.h"

namespace portcullis::proxy {
namespace {

namespace http = boost::beast::http;

std::vector<ip::Cidr> blocks(std::initializer_list<const char*> list) {
  std::vector<ip::Cidr> out;
  for (const char* text : list) {
    ip::Cidr c;
    std::string why;
    EXPECT_TRUE(ip::parse_cidr(text, c, why)) << why;
    out.push_back(c);
  }
  return out;
}

const std::vector<ip::Cidr> kBalancers = blocks({"10.0.0.0/8", "2001:db8:1::/48"});

ClientAddress resolve(std::string_view peer, std::string_view xff) {
  return resolve_client_address(peer, xff, kBalancers);
}

TEST(ClientAddressTest, AnUntrustedPeerIsTheClientWhateverItSays) {
  const auto c = resolve("203.0.113.5", "10.1.2.3");
  EXPECT_EQ(c.ip, "203.0.113.5");
  EXPECT_FALSE(c.peer_trusted);
  // Nothing trusted: X-Forwarded-For is never read.
  const auto none = resolve_client_address("10.0.0.1", "198.51.100.7", {});
  EXPECT_EQ(none.ip, "10.0.0.1");
  EXPECT_FALSE(none.peer_trusted);
}

TEST(ClientAddressTest, ATrustedPeerWithoutForwardedForIsTheClient) {
  const auto c = resolve("10.0.0.1", "");
  EXPECT_EQ(c.ip, "10.0.0.1");
  EXPECT_TRUE(c.peer_trusted);
}

TEST(ClientAddressTest, TheRightmostUntrustedHopIsTheClient) {
  EXPECT_EQ(resolve("10.0.0.1", "198.51.100.7").ip, "198.51.100.7");
  // The client forged the leftmost hop; the balancer appended the address it saw.
  EXPECT_EQ(resolve("10.0.0.1", "1.1.1.1, 198.51.100.7").ip, "198.51.100.7");
  // Two balancers in a row: both are skipped.
  EXPECT_EQ(resolve("10.0.0.1", "1.1.1.1,198.51.100.7 ,\t10.9.9.9").ip, "198.51.100.7");
  EXPECT_EQ(resolve("2001:db8:1::5", "2001:DB8:2::7, 2001:db8:1::9").ip, "2001:db8:2::7");
  // A dual-stack listener reports an IPv4 peer as mapped; it is trusted all the same.
  EXPECT_EQ(resolve("::ffff:10.0.0.1", "198.51.100.7").ip, "198.51.100.7");
}

TEST(ClientAddressTest, EveryHopTrustedMeansTheLeftmost) {
  EXPECT_EQ(resolve("10.0.0.1", "10.3.3.3, 10.2.2.2").ip, "10.3.3.3");
}

TEST(ClientAddressTest, AMalformedHopStopsAtTheTrustedHopThatWroteIt) {
  for (std::string_view xff : {"garbage", "198.51.100.7:4711", "unknown", "", " ", "1.2.3.4 5",
                               "[2001:db8::7]", "fe80::1%eth0", "198.51.100.7,"}) {
    EXPECT_EQ(resolve("10.0.0.1", xff).ip, "10.0.0.1") << xff;
  }
  // Behind a second balancer: that one wrote the malformed hop.
  EXPECT_EQ(resolve("10.0.0.1", "198.51.100.7, not-an-ip, 10.2.2.2").ip, "10.2.2.2");
  // Left of the client, nothing is read.
  EXPECT_EQ(resolve("10.0.0.1", "not-an-ip, 198.51.100.7").ip, "198.51.100.7");
}

TEST(ClientAddressTest, TheAnswerIsPrintedTheUsualWay) {
  EXPECT_EQ(resolve("10.0.0.1", "::ffff:198.51.100.7").ip, "198.51.100.7");
  EXPECT_EQ(resolve("10.0.0.1", "2001:0DB8:0:0::7").ip, "2001:db8::7");
}

// rewrite_request_head: the forwarding headers as the upstream receives them.
struct Rewritten {
  http::fields fields;
  std::string lines;
};

Rewritten rewrite(bool trusted, std::initializer_list<std::pair<const char*, const char*>> in) {
  Rewritten r;
  for (const auto& [k, v] : in) r.fields.insert(k, v);
  std::string host;
  rewrite_request_head(r.fields, {"10.0.0.1", trusted, "http", "upstream:80", false, {}}, host,
                       r.lines);
  return r;
}

const std::initializer_list<std::pair<const char*, const char*>> kForwarded = {
    {"Host", "api.example"},
    {"X-Forwarded-For", "198.51.100.7"},
    {"X-Forwarded-For", "192.0.2.1"},
    {"X-Forwarded-Proto", "https"},
    {"X-Forwarded-Host", "public.example"},
    {"Forwarded", "for=198.51.100.7;proto=https"}};

// The walk also drops Authorization and the inbound request id when asked (the forwarder
// then writes the gateway's own request id and does not look for either again).
TEST(ForwardingHeadersTest, AuthorizationAndTheRequestIdAreDroppedWhenAsked) {
  auto fields = [] {
    http::fields f;
    f.insert("Authorization", "Bearer secret");
    f.insert("x-request-id", "client-chosen");
    f.insert("X-Other", "kept");
    return f;
  };
  std::string host, lines;
  http::fields dropped = fields();
  rewrite_request_head(dropped,
                       {"10.0.0.1", false, "http", "upstream:80", false, {}, true, "X-Request-Id"},
                       host, lines);
  EXPECT_EQ(dropped.count(http::field::authorization), 0u);
  EXPECT_EQ(dropped.count("X-Request-Id"), 0u);
  EXPECT_EQ(dropped["X-Other"], "kept");

  http::fields kept = fields();
  rewrite_request_head(kept, {"10.0.0.1", false, "http", "upstream:80", false, {}}, host, lines);
  EXPECT_EQ(kept[http::field::authorization], "Bearer secret");
  EXPECT_EQ(kept["X-Request-Id"], "client-chosen");
}

TEST(ForwardingHeadersTest, FromATrustedPeerTheyArePassedOnAndExtended) {
  const auto r = rewrite(true, kForwarded);
  EXPECT_NE(r.lines.find("X-Forwarded-For: 198.51.100.7, 192.0.2.1, 10.0.0.1\r\n"),
            std::string::npos)
      << r.lines;
  EXPECT_EQ(r.lines.find("X-Forwarded-Proto"), std::string::npos) << "the peer's is kept";
  EXPECT_EQ(r.lines.find("X-Forwarded-Host"), std::string::npos) << "the peer's is kept";
  EXPECT_EQ(r.fields["X-Forwarded-Proto"], "https");
  EXPECT_EQ(r.fields["X-Forwarded-Host"], "public.example");
  EXPECT_EQ(r.fields[http::field::forwarded], "for=198.51.100.7;proto=https");
  EXPECT_EQ(r.fields.count("X-Forwarded-For"), 0u) << "one line, written by the gateway";
}

TEST(ForwardingHeadersTest, FromAnyOtherPeerTheyAreReplaced) {
  const auto r = rewrite(false, kForwarded);
  EXPECT_NE(r.lines.find("X-Forwarded-For: 10.0.0.1\r\n"), std::string::npos) << r.lines;
  EXPECT_NE(r.lines.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << r.lines;
  EXPECT_NE(r.lines.find("X-Forwarded-Host: api.example\r\n"), std::string::npos) << r.lines;
  EXPECT_EQ(r.fields.count("X-Forwarded-For"), 0u);
  EXPECT_EQ(r.fields.count("X-Forwarded-Proto"), 0u);
  EXPECT_EQ(r.fields.count("X-Forwarded-Host"), 0u);
  EXPECT_EQ(r.fields.count(http::field::forwarded), 0u);
}

// CGI, WSGI and Rack read X_Forwarded_For as X-Forwarded-For: found by an acceptance check,
// a client chose the address such an upstream saw. Never the gateway's, from any peer.
TEST(ForwardingHeadersTest, SpellingsWithUnderscoresAreAlwaysDropped) {
  for (bool trusted : {false, true}) {
    SCOPED_TRACE(trusted);
    const auto r = rewrite(trusted, {{"X_Forwarded_For", "203.0.113.5"},
                                     {"x_forwarded_proto", "https"},
                                     {"X-Forwarded_Host", "evil.example"},
                                     {"X_Forwarded_Port", "443"}});
    EXPECT_EQ(r.fields.count("X_Forwarded_For"), 0u);
    EXPECT_EQ(r.fields.count("x_forwarded_proto"), 0u);
    EXPECT_EQ(r.fields.count("X-Forwarded_Host"), 0u);
    EXPECT_EQ(r.fields["X_Forwarded_Port"], "443") << "not one of the gateway's headers";
    EXPECT_NE(r.lines.find("X-Forwarded-For: 10.0.0.1\r\n"), std::string::npos) << r.lines;
    EXPECT_NE(r.lines.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << r.lines;
  }
}

TEST(ForwardingHeadersTest, ATrustedPeerThatSentNoneGetsTheGatewaysOwn) {
  const auto r = rewrite(true, {{"Host", "api.example"}});
  EXPECT_NE(r.lines.find("X-Forwarded-For: 10.0.0.1\r\n"), std::string::npos) << r.lines;
  EXPECT_NE(r.lines.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << r.lines;
  EXPECT_NE(r.lines.find("X-Forwarded-Host: api.example\r\n"), std::string::npos) << r.lines;
}

TEST(ForwardingHeadersTest, ForwardedForLinesAreJoinedInOrder) {
  http::fields f;
  f.insert("x-forwarded-for", "1.1.1.1, 2.2.2.2");
  f.insert(http::field::host, "a");
  f.insert("X-Forwarded-For", "3.3.3.3");
  EXPECT_EQ(joined_forwarded_for(f), "1.1.1.1, 2.2.2.2, 3.3.3.3");
  EXPECT_EQ(joined_forwarded_for(http::fields{}), "");
}

}  // namespace
}  // namespace portcullis::proxy
