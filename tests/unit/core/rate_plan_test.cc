// identity/rate_plan.h: the "1000/1m" grammar shared by the keys CLI, the key stores and the
// token claims.
#include "identity/rate_plan.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace portcullis::identity {
namespace {

TEST(RatePlan, ParsesEachUnit) {
  EXPECT_EQ(parse_rate_plan("1000/1m"), (RatePlan{1000, 60}));
  EXPECT_EQ(parse_rate_plan("5/30s"), (RatePlan{5, 30}));
  EXPECT_EQ(parse_rate_plan("20/2h"), (RatePlan{20, 7200}));
  EXPECT_EQ(parse_rate_plan("100000/30d"), (RatePlan{100000, 30 * 86400}));
  EXPECT_EQ(parse_rate_plan("1/366d"), (RatePlan{1, 366 * 86400}));
  EXPECT_EQ(parse_rate_plan("1000000000000/1s"), (RatePlan{kMaxPlanRequests, 1}));
}

TEST(RatePlan, RefusesWhatIsNotAPlan) {
  for (const char* bad : {"",
                          "1000",
                          "1000/",
                          "/1m",
                          "1000/m",
                          "1000/1",
                          "1000/1w",
                          "0/1m",
                          "1000/0s",
                          "01/1m",
                          "1000/01m",
                          "-1/1m",
                          "+1/1m",
                          "1000 /1m",
                          "1000/1m ",
                          " 1000/1m",
                          "1000/1M",
                          "1e3/1m",
                          "1000/1m/1m",
                          "1000//1m",
                          "1000000000001/1s",
                          "1/367d",
                          "1/8785h",
                          "99999999999999/1s",
                          "1/99999999999999s",
                          "1/1.5m"}) {
    std::string why;
    EXPECT_FALSE(parse_rate_plan(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(RatePlan, SaysWhichHalfIsWrong) {
  std::string why;
  EXPECT_FALSE(parse_rate_plan("x/1m", &why));
  EXPECT_NE(why.find("number of requests"), std::string::npos) << why;
  EXPECT_FALSE(parse_rate_plan("10/1w", &why));
  EXPECT_NE(why.find("window"), std::string::npos) << why;
}

TEST(RatePlan, CanonicalTextRoundTrips) {
  EXPECT_EQ(to_string({1000, 60}), "1000/1m");
  EXPECT_EQ(to_string({5, 90}), "5/90s");
  EXPECT_EQ(to_string({1, 86400}), "1/1d");
  EXPECT_EQ(to_string({7, 7200}), "7/2h");
  EXPECT_EQ(to_string({3, 120}), "3/2m");
  // "60s" is read, and written back in its largest unit.
  EXPECT_EQ(to_string(*parse_rate_plan("10/60s")), "10/1m");
  for (const char* text : {"1/1s", "1000/1m", "12/36h", "100000/30d", "9/59s"}) {
    EXPECT_EQ(to_string(*parse_rate_plan(text)), text);
  }
}

TEST(RatePlan, FromJsonStringOrObject) {
  auto from = [](const char* json) { return rate_plan_from_json(boost::json::parse(json)); };
  EXPECT_EQ(from(R"("1000/1m")"), (RatePlan{1000, 60}));
  EXPECT_EQ(from(R"({"requests": 1000, "per": "1m"})"), (RatePlan{1000, 60}));
  EXPECT_EQ(from(R"({"per": "1h", "requests": 3})"), (RatePlan{3, 3600}));
  for (const char* bad :
       {R"("1000")", "1000", "null", "true", "[\"1000/1m\"]", R"({"requests": 0, "per": "1m"})",
        R"({"requests": -5, "per": "1m"})", R"({"requests": 1.5, "per": "1m"})",
        R"({"requests": "1000", "per": "1m"})", R"({"requests": 1000, "per": 60})",
        R"({"requests": 1000})", R"({"requests": 1000, "per": "1m", "extra": 1})",
        R"({"requests": 1000000000001, "per": "1m"})", R"({"requests": 10, "per": "1w"})"}) {
    EXPECT_FALSE(from(bad)) << bad;
  }
}

TEST(RatePlan, WindowAlone) {
  EXPECT_EQ(parse_plan_window("1m"), 60u);
  EXPECT_EQ(parse_plan_window("45s"), 45u);
  EXPECT_FALSE(parse_plan_window("m"));
  EXPECT_FALSE(parse_plan_window("0m"));
  EXPECT_FALSE(parse_plan_window("4294967296s"));
}

}  // namespace
}  // namespace portcullis::identity
