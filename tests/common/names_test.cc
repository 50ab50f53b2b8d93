// Guards the one name rule (tbms/common/names.h) that the house, the HTTP
// edge, the signature parser and the tools share: 1-128 characters of
// A-Z a-z 0-9 . _ -, ASCII only.
#include "tbms/common/names.h"

#include <gtest/gtest.h>

#include <string>

namespace tbms {
namespace {

static_assert(IsValidName("nianjianQA-ci_2.1"));
static_assert(!IsValidName(""));

TEST(NamesTest, AcceptsTheRuleAndNothingElse) {
  EXPECT_TRUE(IsValidName("a"));
  EXPECT_TRUE(IsValidName("A.z_0-9"));
  EXPECT_TRUE(IsValidName(std::string(kMaxNameLength, 'x')));
  EXPECT_FALSE(IsValidName(std::string(kMaxNameLength + 1, 'x')));
  const std::string bads[] = {"a b", "a/b", "a:b", "a%20", "caf\xc3\xa9", std::string("a\0b", 3)};
  for (const std::string& bad : bads) {
    EXPECT_FALSE(IsValidName(bad)) << bad;
  }
}

TEST(NamesTest, TheRuleAsMessagesStateIt) {
  EXPECT_EQ(kNameRule, "1-128 characters of A-Z a-z 0-9 . _ -");
}

}  // namespace
}  // namespace tbms
