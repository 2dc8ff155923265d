// The framing check (server/framing.h): each way a head could be framed two ways is refused,
// and ordinary heads pass.
#include "server/framing.h"

#include <gtest/gtest.h>

namespace portcullis::server {
namespace {

namespace http = boost::beast::http;

http::fields with(std::initializer_list<std::pair<http::field, const char*>> list) {
  http::fields f;
  for (const auto& [name, value] : list) f.insert(name, value);
  return f;
}

TEST(FramingTest, OrdinaryHeadsPass) {
  EXPECT_EQ(check_framing(with({{http::field::host, "a"}}), 11), std::nullopt);
  EXPECT_EQ(check_framing(with({{http::field::host, "a"}, {http::field::content_length, "5"}}), 11),
            std::nullopt);
  EXPECT_EQ(check_framing(
                with({{http::field::host, "a"}, {http::field::transfer_encoding, "Chunked"}}), 11),
            std::nullopt);
  // Two identical Content-Length values say the same thing.
  EXPECT_EQ(check_framing(with({{http::field::host, "a"},
                                {http::field::content_length, "5"},
                                {http::field::content_length, "5"}}),
                          11),
            std::nullopt);
  // HTTP/1.0 needs no Host.
  EXPECT_EQ(check_framing(with({}), 10), std::nullopt);
}

TEST(FramingTest, LengthWithTransferEncodingIsRefused) {
  EXPECT_EQ(check_framing(with({{http::field::host, "a"},
                                {http::field::content_length, "5"},
                                {http::field::transfer_encoding, "chunked"}}),
                          11),
            GatewayError::LengthAndChunked);
}

TEST(FramingTest, TransferEncodingOtherThanOneChunkedIsRefused) {
  EXPECT_EQ(
      check_framing(
          with({{http::field::host, "a"}, {http::field::transfer_encoding, "gzip, chunked"}}), 11),
      GatewayError::UnsupportedEncoding);
  EXPECT_EQ(check_framing(with({{http::field::host, "a"},
                                {http::field::transfer_encoding, "chunked"},
                                {http::field::transfer_encoding, "chunked"}}),
                          11),
            GatewayError::UnsupportedEncoding);
}

TEST(FramingTest, ConflictingLengthsAreRefused) {
  EXPECT_EQ(check_framing(with({{http::field::host, "a"},
                                {http::field::content_length, "5"},
                                {http::field::content_length, "6"}}),
                          11),
            GatewayError::ConflictingLength);
}

TEST(FramingTest, TwoAuthorizationHeadersAreRefused) {
  EXPECT_EQ(check_framing(with({{http::field::host, "a"},
                                {http::field::authorization, "Bearer x"},
                                {http::field::authorization, "Bearer y"}}),
                          11),
            GatewayError::TwoAuthorization);
}

TEST(FramingTest, HostAndVersionRules) {
  EXPECT_EQ(check_framing(with({}), 11), GatewayError::BadHost);
  EXPECT_EQ(check_framing(with({{http::field::host, "a"}, {http::field::host, "b"}}), 11),
            GatewayError::BadHost);
  EXPECT_EQ(check_framing(with({{http::field::host, "a"}}), 20), GatewayError::BadVersion);
}

// An acceptance check found "Host: user:pw@x" accepted and written to the access log as sent.
TEST(FramingTest, AHostMustBeAHostAndPort) {
  for (const char* good : {"api.example.test", "api.example.test:8443", "[::1]:8080", "10.0.0.1",
                           "under_score.example.", "xn--bcher-kva.example"}) {
    EXPECT_EQ(check_framing(with({{http::field::host, good}}), 11), std::nullopt) << good;
  }
  for (const char* bad : {"user:pw@x", "a\"b", "a\\b", "a/b", "a?b", "a#b", "a b", "\xc3\xa9"}) {
    EXPECT_EQ(check_framing(with({{http::field::host, bad}}), 11), GatewayError::MalformedHost)
        << bad;
  }
}

TEST(FramingTest, LexicalDefectsMapToTheirOwnRefusal) {
  EXPECT_EQ(to_error(HeadCheck::BareCR), GatewayError::BareCR);
  EXPECT_EQ(to_error(HeadCheck::BareLF), GatewayError::BareLF);
  EXPECT_EQ(to_error(HeadCheck::ObsFold), GatewayError::ObsFold);
  EXPECT_EQ(to_error(HeadCheck::ControlChar), GatewayError::ControlChar);
}

}  // namespace
}  // namespace portcullis::server

namespace portcullis::server {
namespace {

TEST(FramingTest, Http10WithTransferEncodingIsRefused) {
  EXPECT_EQ(check_framing(with({{http::field::transfer_encoding, "chunked"}}), 10),
            GatewayError::ChunkedHttp10);
}

}  // namespace
}  // namespace portcullis::server
