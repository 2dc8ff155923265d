#include <gtest/gtest.h>

#include "observe/access_log.h"
#include "observe/metrics.h"
#include "server/header_block.h"

namespace portcullis {
namespace {

TEST(AccessLog, RedactsConfiguredQueryParameters) {
  std::string error;
  auto log = observe::AccessLog::open("off", {"token", "api_key"}, error);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->redact_query("a=1&token=s3cret&b=2&api_key=k"),
            "a=1&token=REDACTED&b=2&api_key=REDACTED");
  EXPECT_EQ(log->redact_query("a=1"), "a=1");
}

TEST(Metrics, CountsAndRendersPrometheusText) {
  auto& m = observe::Metrics::global();
  m.reset();
  m.add("t_requests_total", {{"route", "r\"1"}, {"status", "200"}});
  m.add("t_requests_total", {{"route", "r\"1"}, {"status", "200"}});
  m.observe("t_duration_seconds", {{"route", "r"}}, 0.003);
  const std::string text = m.render();
  EXPECT_NE(text.find("# TYPE t_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("t_requests_total{route=\"r\\\"1\",status=\"200\"} 2"), std::string::npos);
  EXPECT_NE(text.find("t_duration_seconds_bucket{route=\"r\",le=\"0.0025\"} 0"),
            std::string::npos);
  EXPECT_NE(text.find("t_duration_seconds_bucket{route=\"r\",le=\"0.005\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("t_duration_seconds_count{route=\"r\"} 1"), std::string::npos);
  m.reset();
}

TEST(Metrics, RecordRequestFeedsTheRequestCounterAndHistogram) {
  auto& m = observe::Metrics::global();
  m.reset();
  m.record_request("orders", 200, 0.0007);
  m.record_request("orders", 200, 0.2);
  m.record_request("orders", 401, 0.0001);
  const std::string text = m.render();
  EXPECT_NE(text.find("portcullis_requests_total{route=\"orders\",status=\"200\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("portcullis_requests_total{route=\"orders\",status=\"401\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("portcullis_request_duration_seconds_bucket{route=\"orders\",le=\"0.001\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("portcullis_request_duration_seconds_count{route=\"orders\"} 3"),
            std::string::npos);
  m.reset();
}

TEST(HeaderBlock, FindsTheEndOfTheHead) {
  std::size_t skip = 0;
  EXPECT_EQ(server::find_head_end("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", skip), 27u);
  EXPECT_EQ(skip, 0u);
  EXPECT_EQ(server::find_head_end("\r\nGET / HTTP/1.1\r\n\r\n", skip), 18u);
  EXPECT_EQ(skip, 2u);
  EXPECT_EQ(server::find_head_end("GET / HTTP/1.1\r\nHost: a\r\n", skip), 0u);
}

TEST(HeaderBlock, RefusesAmbiguousBytes) {
  using server::HeadCheck;
  EXPECT_EQ(server::check_head("GET / HTTP/1.1\r\nA: b\r\n\r\n"), HeadCheck::Ok);
  EXPECT_EQ(server::check_head("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), HeadCheck::ObsFold);
  EXPECT_EQ(server::check_head("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"), HeadCheck::BareCR);
  EXPECT_EQ(server::check_head("GET / HTTP/1.1\nA: b\r\n\r\n"), HeadCheck::BareLF);
  EXPECT_EQ(server::check_head(std::string_view("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 27)),
            HeadCheck::ControlChar);
  EXPECT_EQ(server::check_head("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), HeadCheck::ControlChar);
  EXPECT_EQ(server::check_head("GET / HTTP/1.1\r\nA: b\tc\r\n\r\n"), HeadCheck::Ok);
}

TEST(HeaderBlock, FindsABadByteAtAnyPositionOfALongHead) {
  // The check skips printable text a word at a time: a bad byte must be found wherever it is.
  const std::string clean = "GET / HTTP/1.1\r\nAuthorization: Bearer " + std::string(300, 'x') +
                            "\xc3\xa9\r\n\r\n";
  ASSERT_EQ(server::check_head(clean), server::HeadCheck::Ok);
  for (std::size_t pos = 16; pos < clean.size() - 4; ++pos) {
    for (char bad : {'\0', '\x01', '\x1f', '\x7f'}) {
      std::string head = clean;
      head[pos] = bad;
      EXPECT_EQ(server::check_head(head), server::HeadCheck::ControlChar) << pos;
    }
  }
}

}  // namespace
}  // namespace portcullis
