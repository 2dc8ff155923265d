// The reply reader: hiredis's RESP reader building Reply values, with its bounds.
#include <gtest/gtest.h>

#include "redis/command.h"
#include "redis/reply.h"

namespace portcullis::redis {
namespace {

std::vector<Reply> read_all(ReplyReader& r, std::string_view bytes) {
  std::vector<Reply> out;
  EXPECT_TRUE(r.feed(bytes));
  while (auto reply = r.next()) out.push_back(std::move(*reply));
  return out;
}

TEST(ReplyReader, EveryType) {
  ReplyReader r;
  auto got =
      read_all(r, "+OK\r\n-NOSCRIPT No matching script\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n");
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].type, Reply::Type::Status);
  EXPECT_EQ(got[0].str, "OK");
  EXPECT_TRUE(got[1].is_error());
  EXPECT_EQ(got[1].str, "NOSCRIPT No matching script");
  EXPECT_EQ(got[2].type, Reply::Type::Integer);
  EXPECT_EQ(got[2].integer, 42);
  EXPECT_EQ(got[3].type, Reply::Type::String);
  EXPECT_EQ(got[3].str, "abc");
  EXPECT_EQ(got[4].type, Reply::Type::Nil);
  EXPECT_EQ(got[5].type, Reply::Type::Nil);
  EXPECT_FALSE(r.failed());
}

TEST(ReplyReader, NestedArraysAcrossFeeds) {
  ReplyReader r;
  const std::string bytes = "*2\r\n:62\r\n*2\r\n$1\r\nx\r\n:-5\r\n";
  std::vector<Reply> got;
  for (char c : bytes) {  // one byte at a time
    ASSERT_TRUE(r.feed(std::string_view(&c, 1)));
    while (auto reply = r.next()) got.push_back(std::move(*reply));
  }
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].type, Reply::Type::Array);
  ASSERT_EQ(got[0].elements.size(), 2u);
  EXPECT_EQ(got[0].elements[0].integer, 62);
  ASSERT_EQ(got[0].elements[1].elements.size(), 2u);
  EXPECT_EQ(got[0].elements[1].elements[0].str, "x");
  EXPECT_EQ(got[0].elements[1].elements[1].integer, -5);
}

TEST(ReplyReader, BinaryStrings) {
  ReplyReader r;
  auto got = read_all(r, std::string("$4\r\na\0\r\n\r\n", 10));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].str, std::string("a\0\r\n", 4));
}

TEST(ReplyReader, GarbageFailsAndStaysFailed) {
  ReplyReader r;
  EXPECT_TRUE(r.feed("?what\r\n"));
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.failed());
  EXPECT_FALSE(r.error().empty());
  EXPECT_FALSE(r.feed("+OK\r\n"));
  EXPECT_FALSE(r.next());
}

TEST(ReplyReader, HugeArraysAndStringsAreRefused) {
  ReplyReader a;
  EXPECT_TRUE(a.feed("*2000000000\r\n"));
  EXPECT_FALSE(a.next());
  EXPECT_TRUE(a.failed());
  EXPECT_NE(a.error().find("elements"), std::string::npos);

  ReplyReader s;
  // A string announced larger than any reply may be: refused once its bytes pile up.
  EXPECT_TRUE(s.feed("$99999999\r\n"));
  EXPECT_FALSE(s.next());
  std::string chunk(64 * 1024, 'x');
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {
    refused = !s.feed(chunk);
    if (!refused) s.next();
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(s.failed());
}

TEST(ReplyReader, DeepNestingIsRefused) {
  ReplyReader r;
  EXPECT_TRUE(r.feed("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"));
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.failed());
}

TEST(Command, FormatsBulkStringsSoAnyByteIsSafe) {
  std::string out;
  append_command(out, {"GET", std::string("a\r\nb\0", 5)});
  EXPECT_EQ(out, std::string("*2\r\n$3\r\nGET\r\n$5\r\na\r\nb\0\r\n", 24));
}

}  // namespace
}  // namespace portcullis::redis
