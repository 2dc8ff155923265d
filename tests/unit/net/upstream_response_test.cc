// UpstreamResponse (server/upstream_response.h): the upstream's head kept as lines, with
// hop-by-hop fields, the ones Connection names and the gateway's request-id header left out.
#include "server/upstream_response.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace portcullis::server {
namespace {

namespace http = boost::beast::http;

// Parses `text` whole into `p`, the body into `out`.
void parse(UpstreamResponse& p, std::string_view text, std::string& out) {
  out.assign(1024, '\0');
  p.body().data = out.data();
  p.body().size = out.size();
  p.eager(true);
  boost::beast::error_code ec;
  const std::size_t n = p.put(boost::asio::buffer(text.data(), text.size()), ec);
  ASSERT_FALSE(ec && ec != http::error::need_more) << ec.message();
  ASSERT_EQ(n, text.size());
  out.resize(out.size() - p.body().size);
}

TEST(UpstreamResponse, KeepsEndToEndFieldsInOrder) {
  UpstreamResponse p("X-Request-Id");
  std::string body;
  parse(p,
        "HTTP/1.1 201 Made\r\nServer: up\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
        "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok",
        body);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.status(), 201u);
  EXPECT_EQ(p.reason(), "Made");
  EXPECT_EQ(p.lines(), "Server: up\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n");
  EXPECT_TRUE(p.has_content_length());
  EXPECT_TRUE(p.keep_alive());
  EXPECT_EQ(body, "ok");
}

TEST(UpstreamResponse, TheGatewaysRequestIdCannotBeSetByTheUpstream) {
  UpstreamResponse p("X-Request-Id");
  std::string body;
  parse(p, "HTTP/1.1 200 OK\r\nx-request-id: forged\r\nContent-Length: 0\r\n\r\n", body);
  EXPECT_EQ(p.lines(), "Content-Length: 0\r\n");
}

TEST(UpstreamResponse, FieldsNamedInConnectionGoButNeverTheLength) {
  UpstreamResponse p("X-Request-Id");
  std::string body;
  parse(p,
        "HTTP/1.1 200 OK\r\nX-Secret: 1\r\nContent-Length: 3\r\nX-Kept: 2\r\n"
        "Connection: x-secret, Content-Length\r\n\r\nabc",
        body);
  EXPECT_EQ(p.lines(), "Content-Length: 3\r\nX-Kept: 2\r\n");
  EXPECT_EQ(body, "abc");
}

TEST(UpstreamResponse, ChunkedBodyIsDecodedIntoTheBuffer) {
  UpstreamResponse p("X-Request-Id");
  std::string body;
  parse(p,
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        body);
  EXPECT_TRUE(p.chunked());
  EXPECT_EQ(p.lines(), "");
  EXPECT_FALSE(p.has_content_length());
  EXPECT_EQ(body, "abcde");
}

TEST(UpstreamResponse, AFullBufferStopsTheParserUntilThereIsRoom) {
  UpstreamResponse p("X-Request-Id");
  char small[2];
  p.body().data = small;
  p.body().size = sizeof small;
  const std::string_view text = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd";
  boost::beast::error_code ec;
  p.eager(true);
  std::size_t used = p.put(boost::asio::buffer(text.data(), text.size()), ec);
  EXPECT_EQ(ec, http::error::need_buffer);
  EXPECT_EQ(std::string_view(small, 2), "ab");
  EXPECT_FALSE(p.is_done());
  p.body().data = small;
  p.body().size = sizeof small;
  used += p.put(boost::asio::buffer(text.data() + used, text.size() - used), ec);
  EXPECT_EQ(std::string_view(small, 2), "cd");
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(used, text.size());
}

}  // namespace
}  // namespace portcullis::server
