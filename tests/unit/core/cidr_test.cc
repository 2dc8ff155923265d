#include "ip/cidr.h"

#include <gtest/gtest.h>

namespace portcullis::ip {
namespace {

IpBytes ip(std::string_view s) {
  IpBytes b{};
  EXPECT_TRUE(parse_ip(s, b)) << s;
  return b;
}

Cidr cidr(std::string_view s) {
  Cidr c;
  std::string why;
  EXPECT_TRUE(parse_cidr(s, c, why)) << s << ": " << why;
  return c;
}

TEST(Cidr, Ipv4) {
  Cidr c = cidr("10.0.0.0/8");
  EXPECT_TRUE(contains(c, ip("10.0.0.1")));
  EXPECT_TRUE(contains(c, ip("10.255.255.255")));
  EXPECT_FALSE(contains(c, ip("11.0.0.0")));
  EXPECT_FALSE(contains(c, ip("9.255.255.255")));
  EXPECT_EQ(to_string(c), "10.0.0.0/8");
  Cidr odd = cidr("192.168.4.0/22");
  EXPECT_TRUE(contains(odd, ip("192.168.7.200")));
  EXPECT_FALSE(contains(odd, ip("192.168.8.1")));
  EXPECT_FALSE(contains(odd, ip("192.168.3.255")));
  Cidr host = cidr("127.0.0.1");
  EXPECT_EQ(to_string(host), "127.0.0.1/32");
  EXPECT_TRUE(contains(host, ip("127.0.0.1")));
  EXPECT_FALSE(contains(host, ip("127.0.0.2")));
  Cidr all = cidr("0.0.0.0/0");
  EXPECT_TRUE(contains(all, ip("203.0.113.9")));
  EXPECT_FALSE(contains(all, ip("2001:db8::1"))) << "an IPv4 block holds no IPv6 address";
}

TEST(Cidr, Ipv6) {
  Cidr c = cidr("2001:db8::/32");
  EXPECT_TRUE(contains(c, ip("2001:db8::1")));
  EXPECT_TRUE(contains(c, ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(contains(c, ip("2001:db9::1")));
  EXPECT_FALSE(contains(c, ip("10.0.0.1")));
  EXPECT_EQ(to_string(c), "2001:db8::/32");
  Cidr lo = cidr("::1/128");
  EXPECT_TRUE(contains(lo, ip("::1")));
  EXPECT_FALSE(contains(lo, ip("::2")));
  EXPECT_FALSE(contains(lo, ip("127.0.0.1")));
  Cidr odd = cidr("fd00:1234:5600::/41");
  EXPECT_TRUE(contains(odd, ip("fd00:1234:567f:ffff::1")));
  EXPECT_FALSE(contains(odd, ip("fd00:1234:5680::1")));
}

TEST(Cidr, MappedAddressesMatchIpv4Blocks) {
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
  EXPECT_TRUE(contains(cidr("10.0.0.0/8"), ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(contains(cidr("10.0.0.0/8"), ip("::ffff:11.1.2.3")));
  // The zone of a link-local address is not part of it.
  EXPECT_TRUE(contains(cidr("fe80::/10"), ip("fe80::1%eth0")));
}

TEST(Cidr, BadInputIsRefused) {
  Cidr c;
  std::string why;
  for (std::string_view bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "abc",
                               "10.0.0.0/8x", "10.0.0.0/-1", "fe80::1%eth0/64", "1.2.3.4 "}) {
    EXPECT_FALSE(parse_cidr(bad, c, why)) << bad;
  }
  EXPECT_FALSE(parse_cidr("10.0.0.1/8", c, why));
  EXPECT_NE(why.find("did you mean 10.0.0.0/8"), std::string::npos) << why;
  EXPECT_FALSE(parse_cidr("2001:db8::1/32", c, why));
  EXPECT_NE(why.find("2001:db8::/32"), std::string::npos) << why;
  IpBytes b;
  EXPECT_FALSE(parse_ip("", b));
  EXPECT_FALSE(parse_ip("localhost", b));
  EXPECT_FALSE(parse_ip("1.2.3.4.5", b));
  // inet_pton stops at a NUL: the text after it must not be ignored (a PROXY header or a
  // config value "10.0.0.1\0junk" is not 10.0.0.1).
  EXPECT_FALSE(parse_ip(std::string_view("10.0.0.1\0junk", 13), b));
  EXPECT_FALSE(parse_ip(std::string_view("::1\0", 4), b));
  EXPECT_FALSE(parse_cidr(std::string_view("10.0.0.1\0/8", 11), c, why));
}

TEST(Cidr, AddressesPrintInTheirUsualForm) {
  EXPECT_EQ(to_string(ip("10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(to_string(ip("::ffff:10.1.2.3")), "10.1.2.3") << "mapped IPv4 prints as IPv4";
  EXPECT_EQ(to_string(ip("2001:DB8:0:0::1")), "2001:db8::1");
  EXPECT_EQ(to_string(ip("::1")), "::1");
}

}  // namespace
}  // namespace portcullis::ip
