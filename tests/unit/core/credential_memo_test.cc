#include "auth/credential_memo.h"

#include <gtest/gtest.h>

#include <string>

namespace portcullis::auth {
namespace {

TEST(CredentialMemo, MatchesOnlyTheSameOwnerAndBytes) {
  CredentialMemo memo;
  const std::uint64_t owner = next_memo_owner();
  EXPECT_NE(owner, 0u);
  EXPECT_NE(next_memo_owner(), owner);
  const std::string token(613, 'a');  // not a multiple of eight: the tail counts too
  EXPECT_FALSE(memo.matches(owner, token)) << "an empty memo matches nothing";
  memo.owner = owner;
  memo.credential = token;
  EXPECT_TRUE(memo.matches(owner, token));
  EXPECT_FALSE(memo.matches(owner + 1, token));
  for (std::size_t at :
       {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{16}, std::size_t{24},
        std::size_t{300}, std::size_t{599}, std::size_t{607}, std::size_t{608}, std::size_t{612}}) {
    std::string other = token;
    other[at] = 'b';
    EXPECT_FALSE(memo.matches(owner, other)) << "difference at " << at;
  }
  EXPECT_FALSE(memo.matches(owner, token.substr(1)));
  EXPECT_FALSE(memo.matches(owner, token + "a"));
  memo.clear();
  EXPECT_FALSE(memo.matches(owner, token));
}

// The identity's rendered header lines belong to the identity: a new identity, or a cleared
// memo, keeps none of the previous one's (a reused connection never forwards another
// caller's X-User-Id).
TEST(CredentialMemo, ANewIdentityForgetsTheRenderedLines) {
  CredentialMemo memo;
  identity::Identity alice;
  alice.subject = "alice";
  memo.set_identity(alice);
  memo.rendered = {.runtime_id = 3, .lines = "X-User-Id: alice\r\n"};
  identity::Identity bob;
  bob.subject = "bob";
  memo.set_identity(bob);
  EXPECT_EQ(memo.identity().subject, "bob");
  EXPECT_EQ(memo.rendered.runtime_id, 0u);
  EXPECT_EQ(memo.rendered.lines, "");
  memo.rendered = {.runtime_id = 3, .lines = "X-User-Id: bob\r\n"};
  memo.clear();
  EXPECT_EQ(memo.rendered.runtime_id, 0u);
  EXPECT_EQ(memo.rendered.lines, "");
}

// Every length from 0 to 100 (the 32-byte steps, the 8-byte words and the single bytes in each
// combination) and a one-bit difference at every position, in the high bit too.
TEST(CredentialMemo, EveryPositionOfEveryLengthCounts) {
  CredentialMemo memo;
  memo.owner = next_memo_owner();
  for (std::size_t n = 0; n <= 100; ++n) {
    std::string token;
    for (std::size_t i = 0; i < n; ++i) token.push_back(static_cast<char>('A' + i % 26));
    memo.credential = token;
    ASSERT_TRUE(memo.matches(memo.owner, token)) << n;
    for (std::size_t at = 0; at < n; ++at) {
      for (unsigned char bit : {0x01, 0x80}) {
        std::string other = token;
        other[at] = static_cast<char>(static_cast<unsigned char>(other[at]) ^ bit);
        ASSERT_FALSE(memo.matches(memo.owner, other)) << "length " << n << ", byte " << at;
      }
    }
  }
}

}  // namespace
}  // namespace portcullis::auth
