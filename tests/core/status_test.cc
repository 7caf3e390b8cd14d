#include "core/status.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

TEST(StatusTest, AnnotateAddsContextAndKeepsCode) {
  Status st = Status::NotFound("no file 'x'").Annotate("loading plan");
  EXPECT_EQ(st.code(), Status::Code::kNotFound);
  EXPECT_EQ(st.message(), "loading plan: no file 'x'");
  EXPECT_TRUE(Status::Ok().Annotate("ctx").ok());
}

TEST(StatusTest, ResultHoldsValueOrError) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  Result<int> bad = Status::InvalidArgument("bad");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().ToString(), "invalid argument: bad");
}

}  // namespace
}  // namespace porch
