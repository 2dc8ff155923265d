// SNI selection: exact names, one-label wildcards, case, and the fallback to the first
// certificate.
#include "tls/server_names.h"

#include <gtest/gtest.h>

namespace portcullis::tls {
namespace {

ServerNames table() {
  ServerNames names;
  names.add("api.example.test", 0);
  names.add("partner.example.test", 1);
  names.add("*.partner.example.test", 2);
  names.add("*.example.test", 3);
  names.add("exact.wild.example.test", 4);
  return names;
}

TEST(ServerNames, ExactNamesWin) {
  const ServerNames names = table();
  EXPECT_EQ(names.find("partner.example.test"), 1u);
  EXPECT_EQ(names.find("api.example.test"), 0u);
  EXPECT_EQ(names.find("exact.wild.example.test"), 4u);
}

TEST(ServerNames, WildcardCoversExactlyOneLabel) {
  const ServerNames names = table();
  EXPECT_EQ(names.find("a.partner.example.test"), 2u);
  EXPECT_EQ(names.find("b.example.test"), 3u);
  // Two labels deep: *.example.test does not reach it, and *.partner... is one level only.
  EXPECT_EQ(names.find("a.b.partner.example.test"), 0u);
  EXPECT_EQ(names.find("x.wild.example.test"), 0u);
  // The wildcard's own base is not covered by it.
  EXPECT_EQ(names.find("example.test"), 0u);
  // An empty first label is no label.
  EXPECT_EQ(names.find(".partner.example.test"), 0u);
}

TEST(ServerNames, CaseAndTrailingDotDoNotMatter) {
  const ServerNames names = table();
  EXPECT_EQ(names.find("PARTNER.Example.Test"), 1u);
  EXPECT_EQ(names.find("A.Partner.Example.Test"), 2u);
  EXPECT_EQ(names.find("partner.example.test."), 1u);
}

TEST(ServerNames, UnknownOrOddNamesGetTheFirstCertificate) {
  const ServerNames names = table();
  EXPECT_EQ(names.find("other.test"), 0u);
  EXPECT_EQ(names.find(""), 0u);
  EXPECT_EQ(names.find("."), 0u);
  EXPECT_EQ(names.find("partner"), 0u);
  EXPECT_EQ(names.find(std::string(300, 'a') + ".example.test"), 0u);
  EXPECT_EQ(names.find("*.example.test"), 3u);  // a literal '*' label is just a label
}

TEST(ServerNames, TheFirstCertificateToNameAHostKeepsIt) {
  ServerNames names;
  EXPECT_TRUE(names.empty());
  names.add("dup.test", 1);
  names.add("dup.test", 2);
  names.add("*.dup.test", 2);
  names.add("*.dup.test", 1);
  EXPECT_FALSE(names.empty());
  EXPECT_EQ(names.find("dup.test"), 1u);
  EXPECT_EQ(names.find("a.dup.test"), 2u);
}

}  // namespace
TEST(SniHostName, ReadsTheFirstHostNameOfTheExtension) {
  // list length 14; host_name (0), length 11, "api.example"
  const unsigned char one[] = {0,   14,  0,   0,   11,  'a', 'p', 'i',
                               '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
  EXPECT_EQ(sni_host_name(one, sizeof one), "api.example");
  // An entry of another type first (1, length 1, "x"), then the host name.
  const unsigned char two[] = {0, 8, 1, 0, 1, 'x', 0, 0, 1, 'b'};
  EXPECT_EQ(sni_host_name(two, sizeof two), "b");
}

TEST(SniHostName, MalformedBytesGiveNoName) {
  EXPECT_EQ(sni_host_name(nullptr, 0), "");
  const unsigned char shorter[] = {0, 5, 0, 0, 9, 'a', 'b'};  // list length says 5, name says 9
  EXPECT_EQ(sni_host_name(shorter, sizeof shorter), "");
  const unsigned char longer[] = {0, 9, 0, 0, 1, 'a'};  // list length beyond the bytes
  EXPECT_EQ(sni_host_name(longer, sizeof longer), "");
  const unsigned char none[] = {0, 3, 1, 0, 0};  // one entry, not a host name
  EXPECT_EQ(sni_host_name(none, sizeof none), "");
  const unsigned char truncated[] = {0, 2, 0, 0};
  EXPECT_EQ(sni_host_name(truncated, sizeof truncated), "");
}

TEST(SniHostName, CanonicalNameIsLowerCaseWithoutTheTrailingDot) {
  EXPECT_EQ(canonical_server_name("API.Example.Test."), "api.example.test");
  EXPECT_EQ(canonical_server_name("api.example.test"), "api.example.test");
  EXPECT_EQ(canonical_server_name(""), "");
}

}  // namespace portcullis::tls
