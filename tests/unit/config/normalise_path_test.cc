// Tests for normalise_config_path: config paths must normalise the way request paths do,
// or a route would never match the requests it was written for.
#include <gtest/gtest.h>

#include "config/loader.h"

namespace portcullis::config {
namespace {

TEST(NormaliseConfigPathTest, MergesSlashesAndRemovesDotSegments) {
  EXPECT_EQ(normalise_config_path("/a//b/./c/../d"), "/a/b/d");
  EXPECT_EQ(normalise_config_path("/a/b/c/./../../g"), "/a/g");  // RFC 3986 §5.2.4 example
  EXPECT_EQ(normalise_config_path("///a"), "/a");
}

TEST(NormaliseConfigPathTest, DotDotNeverClimbsAboveTheRoot) {
  EXPECT_EQ(normalise_config_path("/../a"), "/a");
  EXPECT_EQ(normalise_config_path("/a/../../.."), "/");
}

TEST(NormaliseConfigPathTest, KeepsATrailingSlash) {
  EXPECT_EQ(normalise_config_path("/a/"), "/a/");
  EXPECT_EQ(normalise_config_path("/a//"), "/a/");
  EXPECT_EQ(normalise_config_path("/a/b/.."), "/a/");
  EXPECT_EQ(normalise_config_path("/a/."), "/a/");
}

TEST(NormaliseConfigPathTest, RootAndEmpty) {
  EXPECT_EQ(normalise_config_path("/"), "/");
  EXPECT_EQ(normalise_config_path(""), "/");
}

TEST(NormaliseConfigPathTest, PercentEncodingNormalisedLikeRequests) {
  // Requests for "/~user" arrive as either form; the route must match both.
  EXPECT_EQ(normalise_config_path("/%7euser/%41"), "/~user/A");
  EXPECT_EQ(normalise_config_path("/caf%c3%a9"), "/caf%C3%A9");
  EXPECT_EQ(normalise_config_path("/a/%2e%2E/b"), "/b");  // an encoded ".." is still ".."
}

TEST(NormaliseConfigPathTest, LeavesOtherSegmentsAlone) {
  EXPECT_EQ(normalise_config_path("/a/...b/.c/d."), "/a/...b/.c/d.");
  EXPECT_EQ(normalise_config_path("/a:b/c@d/e!"), "/a:b/c@d/e!");
  // Never decoded into a separator; the loader refuses such paths.
  EXPECT_EQ(normalise_config_path("/a%2Fb"), "/a%2Fb");
}

}  // namespace
}  // namespace portcullis::config
