#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json/parse.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "observe/access_log.h"
#include "observe/gateway_log.h"
#include "observe/metrics.h"
#include "server/header_block.h"
#include "spdlog/details/log_msg.h"
#include "spdlog/formatter.h"

namespace portcullis {
namespace {

// Issue 11: `check` judges the access-log target as `run` will open it, creating nothing;
// `open` gives the OS's reason too.
TEST(AccessLog, CheckTargetNamesTheOsReason) {
  char tmpl[] = "/tmp/portcullis-log-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::string why;
  for (const char* special : {"stdout", "stderr", "off"}) {
    EXPECT_TRUE(observe::AccessLog::check_target(special, why)) << special;
  }
  EXPECT_TRUE(observe::AccessLog::check_target(dir + "/access.log", why)) << why;
  EXPECT_NE(access((dir + "/access.log").c_str(), F_OK), 0);  // not created
  EXPECT_FALSE(observe::AccessLog::check_target(dir + "/no/access.log", why));
  EXPECT_EQ(why, "cannot open access log " + dir + "/no/access.log: folder " + dir +
                     "/no: No such file or directory");
  EXPECT_FALSE(observe::AccessLog::check_target(dir, why));
  EXPECT_EQ(why, "cannot open access log " + dir + ": Is a directory");
  EXPECT_FALSE(observe::AccessLog::open(dir + "/no/access.log", std::vector<std::string>{}, why));
  EXPECT_EQ(why, "cannot open access log " + dir + "/no/access.log: No such file or directory");
  rmdir(dir.c_str());
}

TEST(AccessLog, RedactsConfiguredQueryParameters) {
  std::string error;
  auto log = observe::AccessLog::open("off", {"token", "api_key"}, error);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->redact_query("a=1&token=s3cret&b=2&api_key=k"),
            "a=1&token=REDACTED&b=2&api_key=REDACTED");
  EXPECT_EQ(log->redact_query("a=1"), "a=1");
}

// Fakes for the shapes the runtime takes from the mechanisms: a "key" is "ptk_" + 6
// characters ending in "ok"; a "JWS" is any run with two dots whose header part is "eyJh".
bool fake_key(std::string_view s) {
  return s.ends_with("ok");
}
bool fake_jws(std::string_view s) {
  return s.starts_with("eyJh.");
}
const auth::CredentialShapes kShapes{"ptk_", 10, &fake_key, &fake_jws};

// Issue 10, item 5: credentials in query strings reached the access log in clear.
TEST(Redactor, BuiltInParametersAreAlwaysRedactedAndTheConfigExtendsThem) {
  observe::Redactor none;
  EXPECT_EQ(none.query("access_token=t1&code=c&page=2&Sig=s&api%5Fkey=k&password"),
            "access_token=REDACTED&code=REDACTED&page=2&Sig=REDACTED&api%5Fkey=REDACTED&"
            "password");
  for (auto name : observe::Redactor::default_params()) {
    EXPECT_EQ(none.query(std::string(name) + "=v"), std::string(name) + "=REDACTED");
  }
  observe::Redactor extended({"session", "token"}, {});
  EXPECT_EQ(extended.query("session=s&token=t&refresh_token=r&x=1"),
            "session=REDACTED&token=REDACTED&refresh_token=REDACTED&x=1");
  EXPECT_EQ(extended.params().size(), observe::Redactor::default_params().size() + 1);
}

TEST(Redactor, CredentialShapesAreMaskedWhereverTheyAppear) {
  observe::Redactor r({}, kShapes);
  // In any parameter, under any name, and inside a longer value.
  EXPECT_EQ(r.query("q=ptk_1234ok&n=ptk_1234no&v=Bearer%20eyJh.b.c&w=1.2.3"),
            "q=REDACTED&n=ptk_1234no&v=Bearer%20REDACTED&w=1.2.3");
  std::string out;
  ASSERT_TRUE(r.mask("/keys/ptk_1234ok/revoke", out));
  EXPECT_EQ(out, "/keys/REDACTED/revoke");
  ASSERT_TRUE(r.mask("/t/eyJh.payload.sig", out));
  EXPECT_EQ(out, "/t/REDACTED");
  // Nothing shaped like a credential: no copy, the caller logs the field as it is.
  out = "untouched";
  EXPECT_FALSE(r.mask("/v1/orders/7.json", out));
  EXPECT_FALSE(r.mask("/a.b.c/ptk_short", out));
  EXPECT_EQ(out, "untouched");
}

TEST(AccessLog, WritesPathAndQueryRedacted) {
  char path[] = "/tmp/pc-access-log-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string error;
  auto log = observe::AccessLog::open(path, observe::Redactor({"session"}, kShapes), error);
  ASSERT_TRUE(log) << error;
  observe::AccessEntry e;
  e.path = "/keys/ptk_1234ok";
  e.query = "access_token=eyJh.p.s&session=x&page=ptk_9876ok&keep=1";
  log->write(e);
  log->flush();
  std::ifstream in(path);
  std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::unlink(path);
  EXPECT_NE(line.find(R"("path":"/keys/REDACTED")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("query":"access_token=REDACTED&session=REDACTED&page=REDACTED&keep=1")"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("ptk_"), std::string::npos) << line;
}

TEST(AccessLog, UserAgentIsMaskedAndUpstreamFieldsAreNullWhenNotForwarded) {
  char path[] = "/tmp/pc-access-log-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string error;
  auto log = observe::AccessLog::open(path, observe::Redactor({}, kShapes), error);
  ASSERT_TRUE(log) << error;
  observe::AccessEntry e;
  e.host = "api.example.test";
  e.user_agent = "curl/8 ptk_1234ok";
  log->write(e);
  e.user_agent = "probe/1.0";
  e.upstream = "orders";
  e.upstream_status = 204;
  e.upstream_ms = 12.3456;
  log->write(e);
  log->flush();
  std::ifstream in(path);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  ::unlink(path);
  EXPECT_NE(first.find(R"("host":"api.example.test")"), std::string::npos) << first;
  EXPECT_NE(first.find(R"("user_agent":"curl/8 REDACTED")"), std::string::npos) << first;
  EXPECT_NE(first.find(R"("upstream_status":null,"upstream_ms":null,"upstream_us":null)"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find(R"("upstream":null)"), std::string::npos) << first;
  EXPECT_NE(second.find(R"("upstream":"orders")"), std::string::npos) << second;
  EXPECT_NE(second.find(R"("user_agent":"probe/1.0")"), std::string::npos) << second;
  EXPECT_NE(second.find(R"("upstream_status":204,"upstream_ms":12,"upstream_us":12346)"),
            std::string::npos)
      << second;
}

// Found by an acceptance check: a User-Agent holding the byte 0xff was written as it was, and
// the line was no longer JSON to strict readers (a client could hide its own lines so).
TEST(AccessLog, BytesThatAreNotUtf8AreWrittenAsTheReplacementCharacter) {
  char path[] = "/tmp/pc-access-log-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string error;
  auto log = observe::AccessLog::open(path, observe::Redactor({}, kShapes), error);
  ASSERT_TRUE(log) << error;
  observe::AccessEntry e;
  e.user_agent = "probe\xff/1.0 \xe2\x82";      // a stray byte; a sequence cut short
  e.host = "caf\xc3\xa9.example \xed\xa0\x80";  // valid é; an encoded surrogate
  e.path = "/\xc0\xaf";                         // an overlong '/'
  log->write(e);
  log->flush();
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  ::unlink(path);
  boost::json::value v;
  ASSERT_NO_THROW(v = boost::json::parse(line)) << line;  // Boost.JSON checks UTF-8
  EXPECT_EQ(v.at("user_agent").as_string(), "probe\xef\xbf\xbd/1.0 \xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(v.at("host").as_string(), "caf\xc3\xa9.example \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(v.at("path").as_string(), "/\xef\xbf\xbd\xef\xbf\xbd");
}

// Shadow mode: a forwarded request a shadow route would have refused says so, with the
// would-be status and reason; any other line has none of the three fields.
TEST(AccessLog, ShadowPassIsRecordedWithTheWouldBeStatusAndReason) {
  char path[] = "/tmp/pc-access-log-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::string error;
  auto log = observe::AccessLog::open(path, observe::Redactor({}, kShapes), error);
  ASSERT_TRUE(log) << error;
  observe::AccessEntry e;
  e.status = 200;
  e.upstream = "orders";
  log->write(e);
  e.would_status = 401;
  e.would_reason = "expired_credential";
  log->write(e);
  log->flush();
  std::ifstream in(path);
  std::string plain, shadow;
  std::getline(in, plain);
  std::getline(in, shadow);
  ::unlink(path);
  const auto p = boost::json::parse(plain).as_object();
  EXPECT_FALSE(p.contains("shadow")) << plain;
  EXPECT_FALSE(p.contains("would_status")) << plain;
  EXPECT_FALSE(p.contains("would_reason")) << plain;
  const auto s = boost::json::parse(shadow).as_object();
  EXPECT_EQ(s.at("shadow"), true) << shadow;
  EXPECT_EQ(s.at("would_status"), 401) << shadow;
  EXPECT_EQ(s.at("would_reason"), "expired_credential") << shadow;
  EXPECT_EQ(s.at("status"), 200) << shadow;
  EXPECT_EQ(s.at("reason"), "") << shadow;
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
  EXPECT_NE(text.find("t_duration_seconds_bucket{route=\"r\",le=\"0.0025\"} 0"), std::string::npos);
  EXPECT_NE(text.find("t_duration_seconds_bucket{route=\"r\",le=\"0.005\"} 1"), std::string::npos);
  EXPECT_NE(text.find("t_duration_seconds_count{route=\"r\"} 1"), std::string::npos);
  m.reset();
}

TEST(Metrics, EveryFamilyHasHelpThenType) {
  auto& m = observe::Metrics::global();
  m.reset();
  m.record_request("orders", 200, 0.01);
  m.add(observe::series::kReloads, {{"result", "applied"}}, 0);
  m.set_gauge("t_unknown_gauge", {}, 3);
  const std::string text = m.render();
  EXPECT_NE(text.find("# HELP portcullis_requests_total Requests handled, by route and status.\n"
                      "# TYPE portcullis_requests_total counter\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# HELP portcullis_request_duration_seconds "), std::string::npos);
  EXPECT_NE(text.find("# TYPE portcullis_request_duration_seconds histogram\n"), std::string::npos);
  // A counter added with 0 is rendered at 0 (present before anything happened).
  EXPECT_NE(text.find("portcullis_config_reloads_total{result=\"applied\"} 0\n"),
            std::string::npos);
  // A family missing from the table still gets a HELP line, marked as such.
  EXPECT_NE(text.find("# HELP t_unknown_gauge Undocumented metric.\n# TYPE t_unknown_gauge gauge\n"
                      "t_unknown_gauge 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(observe::Metrics::help_of(observe::series::kConnectionsRefused),
            observe::Metrics::kUndocumented);
  m.reset();
}

// add_series remembers the last few series it found (a key compared instead of hashed): with
// more series than it remembers, interleaved, from two threads and across reset(), every
// count must land on its own series.
TEST(Metrics, AddSeriesCountsEverySeriesApartWhateverItRemembers) {
  auto& m = observe::Metrics::global();
  m.reset();
  std::vector<std::string> keys;
  for (int i = 0; i < 7; ++i) {
    keys.push_back(observe::Metrics::series_key("t_series_total", {{"n", std::to_string(i)}}));
  }
  keys.push_back(observe::Metrics::series_key("t_series_total", {{"n", "10"}}));  // same length
  auto count = [&] {
    for (int round = 0; round < 3; ++round) {
      for (std::size_t i = 0; i < keys.size(); ++i) {
        for (std::size_t k = 0; k <= i; ++k) m.add_series(keys[i]);
      }
    }
  };
  count();
  std::thread other(count);
  other.join();
  std::string text = m.render();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_NE(text.find(keys[i] + " " + std::to_string(6 * (i + 1)) + "\n"), std::string::npos)
        << text;
  }
  m.reset();  // forgets the counters and what add_series remembered of them
  m.add_series(keys[0]);
  m.add_series(std::string(keys[0]));  // the same series through another string
  text = m.render();
  EXPECT_NE(text.find(keys[0] + " 2\n"), std::string::npos) << text;
  EXPECT_EQ(text.find(keys[1]), std::string::npos) << text;
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
  EXPECT_NE(
      text.find("portcullis_request_duration_seconds_bucket{route=\"orders\",le=\"0.001\"} 2"),
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
  const std::string clean =
      "GET / HTTP/1.1\r\nAuthorization: Bearer " + std::string(300, 'x') + "\xc3\xa9\r\n\r\n";
  ASSERT_EQ(server::check_head(clean), server::HeadCheck::Ok);
  for (std::size_t pos = 16; pos < clean.size() - 4; ++pos) {
    for (char bad : {'\0', '\x01', '\x1f', '\x7f'}) {
      std::string head = clean;
      head[pos] = bad;
      EXPECT_EQ(server::check_head(head), server::HeadCheck::ControlChar) << pos;
    }
  }
}

// What the gateway checks before Beast: line ends and obs-fold only (Beast accepts obs-fold
// and would read a bare LF as a value's end); the bytes inside a line are left to Beast.
TEST(HeaderBlock, LineChecksLeaveTheBytesToBeast) {
  using server::HeadCheck;
  EXPECT_EQ(server::check_head_lines("GET / HTTP/1.1\r\nA: b\r\n\r\n"), HeadCheck::Ok);
  EXPECT_EQ(server::check_head_lines("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), HeadCheck::ObsFold);
  EXPECT_EQ(server::check_head_lines("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n"), HeadCheck::ObsFold);
  EXPECT_EQ(server::check_head_lines("GET / HTTP/1.1\nA: b\r\n\r\n"), HeadCheck::BareLF);
  EXPECT_EQ(server::check_head_lines("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"), HeadCheck::Ok);
  EXPECT_EQ(server::check_head_lines("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), HeadCheck::Ok);
}

// The gateway relies on Beast refusing every control character (other than HTAB) and every
// bare CR, wherever it stands in the head: the request line, a field name, a field value.
// Should a Beast upgrade accept one, this fails (and check_head must run on every head again).
TEST(HeaderBlock, BeastRefusesEveryByteTheLineChecksLeaveToIt) {
  const std::string clean =
      "GET /a HTTP/1.1\r\nHost: h\r\nX-Name: value " + std::string(40, 'x') + "\xc3\xa9\r\n\r\n";
  auto parses = [](const std::string& head) {
    boost::beast::http::request_parser<boost::beast::http::empty_body> p;
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(head), ec);
    return !ec && p.is_header_done();
  };
  ASSERT_TRUE(parses(clean));
  ASSERT_EQ(server::check_head_lines(clean), server::HeadCheck::Ok);
  std::size_t checked = 0;
  for (std::size_t pos = 0; pos + 4 < clean.size(); ++pos) {
    if (clean[pos] == '\r' || clean[pos] == '\n') continue;
    for (int b = 0; b < 0x20; ++b) {
      if (b == '\t' || b == '\n') continue;  // HTAB is allowed; LF is the line checks' own
      for (int bad : {b, 0x7f}) {
        std::string head = clean;
        head[pos] = static_cast<char>(bad);
        if (server::check_head_lines(head) != server::HeadCheck::Ok) continue;
        EXPECT_FALSE(parses(head)) << "byte " << bad << " at " << pos;
        EXPECT_NE(server::check_head(head), server::HeadCheck::Ok)
            << "byte " << bad << " at " << pos;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 1000u);
}

// Issue 11: with log.format json every gateway message is one JSON object on one line,
// whatever the message holds.
TEST(GatewayLog, JsonFormatterWritesOneObjectPerMessage) {
  auto f = observe::make_json_log_formatter();
  const std::string text = "quote \" newline \n tab \t nul " + std::string(1, '\0') + " end";
  spdlog::details::log_msg msg(spdlog::source_loc{}, "portcullis", spdlog::level::warn, text);
  spdlog::memory_buf_t out;
  f->format(msg, out);
  const std::string line(out.data(), out.size());
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto v = boost::json::parse(line.substr(0, line.size() - 1));
  const auto& o = v.as_object();
  EXPECT_EQ(o.size(), 4u);
  EXPECT_EQ(o.at("msg").as_string(), text);
  EXPECT_EQ(o.at("level").as_string(), "warning");
  EXPECT_EQ(o.at("logger").as_string(), "portcullis");
  const std::string time(o.at("time").as_string());
  EXPECT_EQ(time.size(), 24u) << time;  // 2024-05-01T12:00:00.123Z
  EXPECT_EQ(time.back(), 'Z');
  EXPECT_TRUE(f->clone());
}

}  // namespace
}  // namespace portcullis
