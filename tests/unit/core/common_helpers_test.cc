// The small shared helpers of src/common: enum name tables, join, concat, sum_over_shards.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/concat.h"
#include "common/enum_names.h"
#include "common/join.h"
#include "common/sharded.h"

namespace portcullis {
namespace {

enum class Colour { Red, Green, Blue };
constexpr EnumName<Colour> kColours[] = {{Colour::Red, "red"}, {Colour::Green, "green"}};

TEST(EnumNamesTest, ReadBothWaysWithAFallbackForAMissingValue) {
  static_assert(name_of(kColours, Colour::Green, "?") == "green");
  EXPECT_EQ(name_of(kColours, Colour::Red, "?"), "red");
  EXPECT_EQ(name_of(kColours, Colour::Blue, "unknown"), "unknown");
  EXPECT_EQ(value_of(kColours, "green"), Colour::Green);
  EXPECT_EQ(value_of(kColours, "Green"), std::nullopt);  // exact names only
  EXPECT_EQ(value_of(kColours, ""), std::nullopt);
}

TEST(JoinTest, SeparatorsOnlyBetweenItems) {
  EXPECT_EQ(join(std::vector<std::string>{}, ", "), "");
  EXPECT_EQ(join(std::vector<std::string>{"a"}, ", "), "a");
  EXPECT_EQ(join(std::vector<std::string>{"a", "b", "c"}, " "), "a b c");
  const std::vector<int> numbers = {1, 2};
  EXPECT_EQ(join(numbers, "+", [](std::string& out, int n) { out += std::to_string(n * 10); }),
            "10+20");
}

TEST(ConcatTest, JoinsEveryPiece) {
  EXPECT_EQ(concat({}), "");
  EXPECT_EQ(concat({"'", "x", "'", ": rest"}), "'x': rest");
}

TEST(SumOverShardsTest, AddsEachShardsCount) {
  struct Shard {
    std::mutex mu;
    std::vector<int> items;
  };
  std::vector<std::unique_ptr<Shard>> shards;
  for (int n : {0, 2, 3}) {
    shards.push_back(std::make_unique<Shard>());
    shards.back()->items.resize(static_cast<std::size_t>(n));
  }
  EXPECT_EQ(sum_over_shards(shards, [](const Shard& s) { return s.items.size(); }), 5u);
}

}  // namespace
}  // namespace portcullis
