#include "aws/event_stream.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

TEST(EventStreamTest, RoundTripInAnyChunking) {
  std::string a = EncodeEventMessage({{":event-type", "chunk"}, {":message-type", "event"}}, "{\"bytes\":\"eA==\"}");
  std::string b = EncodeEventMessage({{":message-type", "event"}}, "second");
  std::string all = a + b;
  for (size_t chunk : {1u, 3u, 13u, 1000u}) {
    EventStreamDecoder d;
    std::vector<EventMessage> out;
    for (size_t i = 0; i < all.size(); i += chunk) ASSERT_TRUE(d.Feed(all.substr(i, chunk), &out).ok());
    ASSERT_EQ(out.size(), 2u) << chunk;
    EXPECT_EQ(out[0].headers[":event-type"], "chunk");
    EXPECT_EQ(out[0].payload, "{\"bytes\":\"eA==\"}");
    EXPECT_EQ(out[1].payload, "second");
    EXPECT_TRUE(d.idle());
  }
}

TEST(EventStreamTest, ChecksumsAreVerified) {
  std::string m = EncodeEventMessage({{":message-type", "event"}}, "payload");
  std::string bad_prelude = m;
  bad_prelude[9] ^= 1;
  std::vector<EventMessage> out;
  EventStreamDecoder d1;
  EXPECT_NE(d1.Feed(bad_prelude, &out).message().find("prelude checksum"), std::string::npos);
  std::string bad_body = m;
  bad_body[m.size() - 6] ^= 1;
  EventStreamDecoder d2;
  EXPECT_NE(d2.Feed(bad_body, &out).message().find("message checksum"), std::string::npos);
  EXPECT_FALSE(d2.Feed(m, &out).ok());  // unusable after an error
  EXPECT_TRUE(out.empty());
}

TEST(EventStreamTest, PartialMessageIsNotIdle) {
  std::string m = EncodeEventMessage({}, "x");
  EventStreamDecoder d;
  std::vector<EventMessage> out;
  ASSERT_TRUE(d.Feed(m.substr(0, m.size() - 1), &out).ok());
  EXPECT_FALSE(d.idle());
  EXPECT_TRUE(out.empty());
}

TEST(Base64Test, RoundTrip) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
    Result<std::string> back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(Base64Decode("a$b").ok());
}

}  // namespace
}  // namespace porch
