#include "core/strings.h"

#include <gtest/gtest.h>

#include "core/crc32.h"

namespace porch {
namespace {

TEST(StringsTest, ParseDuration) {
  EXPECT_EQ(ParseDuration("90"), 90);
  EXPECT_EQ(ParseDuration("1.5"), 1.5);
  EXPECT_EQ(ParseDuration("30s"), 30);
  EXPECT_EQ(ParseDuration("5m"), 300);
  EXPECT_EQ(ParseDuration("2h"), 7200);
  EXPECT_EQ(ParseDuration("1d"), 86400);
  EXPECT_EQ(ParseDuration("01:00:00"), 3600);
  EXPECT_EQ(ParseDuration("10:30"), 630);
  EXPECT_EQ(ParseDuration("2-00:00:01"), 2 * 86400 + 1);
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("soon"));
  EXPECT_FALSE(ParseDuration("-3"));
  EXPECT_FALSE(ParseDuration("1:2:3:4"));
}

TEST(StringsTest, ParseMemory) {
  EXPECT_EQ(ParseMemory("512"), 512ull << 20);
  EXPECT_EQ(ParseMemory("512M"), 512ull << 20);
  EXPECT_EQ(ParseMemory("4G"), 4ull << 30);
  EXPECT_EQ(ParseMemory("4GiB"), 4ull << 30);
  EXPECT_EQ(ParseMemory("4gb"), 4ull << 30);
  EXPECT_EQ(ParseMemory("1T"), 1ull << 40);
  EXPECT_EQ(ParseMemory("100K"), 100ull << 10);
  EXPECT_FALSE(ParseMemory("lots"));
  EXPECT_FALSE(ParseMemory("-1G"));
}

TEST(StringsTest, Formatting) {
  EXPECT_EQ(FormatDuration(2.5), "2.50s");
  EXPECT_EQ(FormatDuration(3725), "1h02m05s");
  EXPECT_EQ(FormatDuration(65), "1m05s");
  EXPECT_EQ(FormatSlurmTime(3661), "01:01:01");
  EXPECT_EQ(FormatSlurmTime(90061), "1-01:01:01");
  EXPECT_EQ(FormatMemory(4ull << 30), "4G");
  EXPECT_EQ(FormatMemory((1ull << 20) + 1), "2M");
  EXPECT_EQ(HtmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

TEST(Crc32Test, KnownVector) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

}  // namespace
}  // namespace porch
