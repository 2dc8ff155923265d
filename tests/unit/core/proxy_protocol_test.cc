// The PROXY protocol header parser (server/proxy_protocol.h): v1 and v2 headers as balancers
// send them, and every way one can be cut short, too long or wrong.
#include "server/proxy_protocol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace portcullis::server {
namespace {

using S = ProxyHeaderStatus;

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: signature, version/command, family, 16-bit length, then `body`.
std::string v2(std::uint8_t version_command, std::uint8_t family, const std::string& body) {
  std::string h = kSignature;
  h.push_back(static_cast<char>(version_command));
  h.push_back(static_cast<char>(family));
  h.push_back(static_cast<char>(body.size() >> 8));
  h.push_back(static_cast<char>(body.size() & 0xff));
  return h + body;
}

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

// 192.0.2.10:51000 → 198.51.100.1:443
const std::string kInet = bytes({192, 0, 2, 10, 198, 51, 100, 1, 0xc7, 0x38, 0x01, 0xbb});

std::string inet6() {
  std::string a = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07});
  std::string b = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01});
  return a + b + bytes({0xc7, 0x38, 0x01, 0xbb});
}

S status_of(const std::string& s) {
  return parse_proxy_header(s).status;
}

TEST(ProxyProtocolTest, V1Tcp4) {
  const std::string h = "PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\r\n";
  const auto r = parse_proxy_header(h + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(r.status, S::Done);
  EXPECT_EQ(r.length, h.size()) << "the request's bytes are not part of the header";
  EXPECT_EQ(r.source, "192.0.2.10");
}

TEST(ProxyProtocolTest, V1Tcp6) {
  const std::string h = "PROXY TCP6 2001:DB8::7 2001:db8::1 51000 443\r\n";
  const auto r = parse_proxy_header(h);
  ASSERT_EQ(r.status, S::Done);
  EXPECT_EQ(r.length, h.size());
  EXPECT_EQ(r.source, "2001:db8::7") << "printed the usual way";
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n";
  ASSERT_EQ(longest.size(), 104u);
  EXPECT_EQ(status_of(longest), S::Done);
}

TEST(ProxyProtocolTest, V1UnknownKeepsTheConnectionsAddress) {
  for (std::string h : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    const auto r = parse_proxy_header(h);
    EXPECT_EQ(r.status, S::Done) << h;
    EXPECT_EQ(r.length, h.size()) << h;
    EXPECT_EQ(r.source, "") << h;
  }
}

TEST(ProxyProtocolTest, V1PrefixesAreIncomplete) {
  const std::string h = "PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\r\n";
  for (std::size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(status_of(h.substr(0, n)), S::Incomplete) << n;
  }
}

TEST(ProxyProtocolTest, V1Malformed) {
  for (std::string h : {
           "PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\n",      // bare LF
           "PROXY TCP4 192.0.2.10  198.51.100.1 51000 443\r\n",   // two spaces
           "PROXY TCP4 192.0.2.10 198.51.100.1 51000\r\n",        // a port missing
           "PROXY TCP4 192.0.2.10 198.51.100.1 51000 443 1\r\n",  // a field too many
           "PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n",    // port out of range
           "PROXY TCP4 192.0.2.10 198.51.100.1 051000 443\r\n",   // leading zero
           "PROXY TCP4 192.0.2.10 198.51.100.1 -1 443\r\n",       // sign
           "PROXY TCP4 192.0.2.10 198.51.100.1 51000 +443\r\n",   // sign
           "PROXY TCP4 192.0.2.256 198.51.100.1 51000 443\r\n",   // octet out of range
           "PROXY TCP4 192.0.2 198.51.100.1 51000 443\r\n",       // three octets
           "PROXY TCP4 192.0.02.10 198.51.100.1 51000 443\r\n",   // leading zero (octal?)
           "PROXY TCP4 2001:db8::7 2001:db8::1 51000 443\r\n",    // IPv6 said to be TCP4
           "PROXY TCP6 192.0.2.10 198.51.100.1 51000 443\r\n",    // IPv4 said to be TCP6
           "PROXY TCP6 fe80::1%eth0 2001:db8::1 51000 443\r\n",   // a zone
           "PROXY TCP6 2001:db8:::7 2001:db8::1 51000 443\r\n",   // not an address
           "PROXY TCP4 192.0.2.10 not-an-address 51000 443\r\n",  // destination too
           "PROXY UDP4 192.0.2.10 198.51.100.1 51000 443\r\n",    // not a v1 protocol
           "PROXY tcp4 192.0.2.10 198.51.100.1 51000 443\r\n",    // case matters
           "PROXY \r\n",
           "PROXY TCP4\r\n",
       }) {
    EXPECT_EQ(status_of(h), S::Malformed) << h;
  }
}

TEST(ProxyProtocolTest, V1WithoutCrlfWithin107BytesIsTooLong) {
  // 107 bytes with the CRLF is the longest v1 header.
  const std::string longest = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  ASSERT_EQ(longest.size(), 107u);
  EXPECT_EQ(status_of(longest), S::Done);
  const std::string h = "PROXY UNKNOWN " + std::string(93, 'x');
  ASSERT_EQ(h.size(), 107u);
  EXPECT_EQ(status_of(h.substr(0, 106)), S::Incomplete);
  EXPECT_EQ(status_of(h), S::TooLong);
  EXPECT_EQ(status_of(h + "\r\n"), S::TooLong);
}

TEST(ProxyProtocolTest, AnythingElseIsNotProxyAtOnce) {
  // A request without a header fails at its first or second byte: "P" could start PROXY.
  for (const std::string& h :
       std::vector<std::string>{"GET / HTTP/1.1\r\n", "POST / HTTP/1.1\r\n", "\r\nGET /",
                                "proxy tcp4", "PROXI ", std::string("\0", 1), "\x16\x03\x01"}) {
    EXPECT_EQ(status_of(h), S::NotProxy) << h;
  }
  EXPECT_EQ(status_of("P"), S::Incomplete);
  EXPECT_EQ(status_of("\r\n\r\n"), S::Incomplete) << "could be the v2 signature";
  // The signature with one byte changed.
  std::string sig = v2(0x21, 0x11, kInet);
  sig[10] = 'X';
  EXPECT_EQ(status_of(sig), S::NotProxy);
}

TEST(ProxyProtocolTest, V2Inet) {
  const std::string h = v2(0x21, 0x11, kInet);
  const auto r = parse_proxy_header(h + "GET / HTTP/1.1\r\n");
  ASSERT_EQ(r.status, S::Done);
  EXPECT_EQ(r.length, 28u);
  EXPECT_EQ(r.source, "192.0.2.10");
}

TEST(ProxyProtocolTest, V2Inet6) {
  const auto r = parse_proxy_header(v2(0x21, 0x21, inet6()));
  ASSERT_EQ(r.status, S::Done);
  EXPECT_EQ(r.length, 52u);
  EXPECT_EQ(r.source, "2001:db8::7");
}

TEST(ProxyProtocolTest, V2LocalKeepsTheConnectionsAddress) {
  // A balancer's own health check: no address, whatever the family byte says.
  for (std::uint8_t family : {0x00, 0x11, 0xff}) {
    const std::string body = family == 0x00 ? "" : kInet;
    const auto r = parse_proxy_header(v2(0x20, family, body));
    EXPECT_EQ(r.status, S::Done) << int(family);
    EXPECT_EQ(r.length, 16 + body.size());
    EXPECT_EQ(r.source, "");
  }
}

TEST(ProxyProtocolTest, V2WithoutATcpAddressKeepsTheConnectionsAddress) {
  // UNSPEC, UDP and UNIX name no client of this listener.
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x00, "")).source, "");
  EXPECT_EQ(parse_proxy_header(v2(0x21, 0x00, "")).status, S::Done);
  const auto udp = parse_proxy_header(v2(0x21, 0x12, kInet));
  EXPECT_EQ(udp.status, S::Done);
  EXPECT_EQ(udp.source, "");
  const auto unix_stream = parse_proxy_header(v2(0x21, 0x31, std::string(216, 'u')));
  EXPECT_EQ(unix_stream.status, S::Done);
  EXPECT_EQ(unix_stream.source, "");
}

TEST(ProxyProtocolTest, V2TlvsAreSkipped) {
  // PP2_TYPE_AUTHORITY "api.example", PP2_TYPE_NOOP with 3 bytes, an empty unknown TLV.
  const std::string tlvs = bytes({0x02, 0x00, 0x0b}) + "api.example" +
                           bytes({0x04, 0x00, 0x03, 0, 0, 0}) + bytes({0xe0, 0x00, 0x00});
  const auto r = parse_proxy_header(v2(0x21, 0x11, kInet + tlvs) + "GET");
  ASSERT_EQ(r.status, S::Done);
  EXPECT_EQ(r.length, 16 + kInet.size() + tlvs.size());
  EXPECT_EQ(r.source, "192.0.2.10");
}

TEST(ProxyProtocolTest, V2BrokenTlvsAreMalformed) {
  // A TLV longer than what is left, and a TLV cut inside its own type and length.
  EXPECT_EQ(status_of(v2(0x21, 0x11, kInet + bytes({0x02, 0x00, 0x05}) + "abc")), S::Malformed);
  EXPECT_EQ(status_of(v2(0x21, 0x11, kInet + bytes({0x02, 0x00}))), S::Malformed);
}

TEST(ProxyProtocolTest, V2PrefixesAreIncomplete) {
  const std::string h = v2(0x21, 0x21, inet6());
  for (std::size_t n = 0; n < h.size(); ++n) {
    EXPECT_EQ(status_of(h.substr(0, n)), S::Incomplete) << n;
  }
}

TEST(ProxyProtocolTest, V2Malformed) {
  EXPECT_EQ(status_of(v2(0x11, 0x11, kInet)), S::Malformed) << "version 1 in a v2 header";
  EXPECT_EQ(status_of(v2(0x31, 0x11, kInet)), S::Malformed) << "version 3";
  EXPECT_EQ(status_of(v2(0x22, 0x11, kInet)), S::Malformed) << "command 2";
  EXPECT_EQ(status_of(v2(0x21, 0x13, kInet)), S::Malformed) << "transport 3";
  EXPECT_EQ(status_of(v2(0x21, 0x41, kInet)), S::Malformed) << "family 4";
  EXPECT_EQ(status_of(v2(0x21, 0x11, kInet.substr(0, 11))), S::Malformed) << "short block";
  EXPECT_EQ(status_of(v2(0x21, 0x21, kInet)), S::Malformed) << "IPv4 block for IPv6";
  EXPECT_EQ(status_of(v2(0x21, 0x31, kInet)), S::Malformed) << "short UNIX block";
}

TEST(ProxyProtocolTest, V2LongerThanTheMaximumIsRefusedFromItsLengthField) {
  const std::size_t n = kMaxProxyHeaderBytes - 16 - kInet.size() - 3;
  const std::string tlv =
      bytes({0xe0, static_cast<int>(n >> 8), static_cast<int>(n & 0xff)}) + std::string(n, 'x');
  const std::string fits = v2(0x21, 0x11, kInet + tlv);
  ASSERT_EQ(fits.size(), kMaxProxyHeaderBytes);
  EXPECT_EQ(status_of(fits), S::Done);
  const std::string over = v2(0x21, 0x11, kInet + tlv + "x");
  // Refused from the first 16 bytes: nothing more is read.
  EXPECT_EQ(status_of(over.substr(0, 16)), S::TooLong);
  EXPECT_EQ(status_of(v2(0x20, 0x00, std::string(65535, 'x')).substr(0, 16)), S::TooLong);
}

TEST(ProxyProtocolTest, ReasonsAreSnakeCase) {
  EXPECT_EQ(reason(S::NotProxy), "not_proxy_protocol");
  EXPECT_EQ(reason(S::Malformed), "malformed");
  EXPECT_EQ(reason(S::TooLong), "too_long");
}

}  // namespace
}  // namespace portcullis::server
