#include "sched/retry_policy.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

RetryOptions Config(int max_retries, double delay, double mult, double cap, double jitter) {
  RetryOptions o;
  o.max_retries = max_retries;
  o.backoff = {delay, mult, cap, jitter};
  return o;
}

TEST(RetryPolicyTest, RetriesUpToTheLimit) {
  RetryPolicy p(Config(2, 1, 2, 100, 0));
  EXPECT_TRUE(p.ShouldRetry(1, FailureReason::kExitCode));
  EXPECT_TRUE(p.ShouldRetry(2, FailureReason::kExitCode));
  EXPECT_FALSE(p.ShouldRetry(3, FailureReason::kExitCode));
  EXPECT_TRUE(p.ShouldRetry(3, FailureReason::kExitCode, /*task_retries=*/5));
  EXPECT_FALSE(p.ShouldRetry(1, FailureReason::kExitCode, /*task_retries=*/0));
}

TEST(RetryPolicyTest, SomeFailuresAreNeverRetried) {
  RetryPolicy p(Config(5, 1, 2, 100, 0));
  EXPECT_FALSE(p.ShouldRetry(1, FailureReason::kCommandNotFound));
  EXPECT_FALSE(p.ShouldRetry(1, FailureReason::kNotExecutable));
  EXPECT_FALSE(p.ShouldRetry(1, FailureReason::kInvalidTask));
  EXPECT_FALSE(p.ShouldRetry(1, FailureReason::kCancelled));
  EXPECT_TRUE(p.ShouldRetry(1, FailureReason::kTimeout));
  EXPECT_TRUE(p.ShouldRetry(1, FailureReason::kOom));
  EXPECT_TRUE(p.ShouldRetry(1, FailureReason::kBackendError));
}

TEST(RetryPolicyTest, ExponentialBackoffWithCap) {
  RetryPolicy p(Config(10, 2, 3, 50, 0));
  EXPECT_DOUBLE_EQ(p.Delay(1, 0.5), 2);
  EXPECT_DOUBLE_EQ(p.Delay(2, 0.5), 6);
  EXPECT_DOUBLE_EQ(p.Delay(3, 0.5), 18);
  EXPECT_DOUBLE_EQ(p.Delay(4, 0.5), 50);  // capped
  EXPECT_DOUBLE_EQ(p.Delay(9, 0.5), 50);
}

TEST(RetryPolicyTest, ConstantDelayWithoutExponential) {
  RetryPolicy p(Config(10, 2, /*mult=*/1, 50, 0));
  EXPECT_DOUBLE_EQ(p.Delay(1, 0.5), 2);
  EXPECT_DOUBLE_EQ(p.Delay(5, 0.5), 2);
}

TEST(RetryPolicyTest, JitterSpreadsSymmetrically) {
  RetryPolicy p(Config(10, 10, 2, 1000, 0.2));
  EXPECT_DOUBLE_EQ(p.Delay(1, 0.0), 8);    // -20%
  EXPECT_DOUBLE_EQ(p.Delay(1, 0.5), 10);   // nominal
  EXPECT_NEAR(p.Delay(1, 0.9999), 12, 1e-2);  // +20%
}

TEST(RetryPolicyTest, ReasonNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(FailureReason::kLast); ++i) {
    auto r = static_cast<FailureReason>(i);
    EXPECT_EQ(FailureReasonFromName(FailureReasonName(r)), r);
    EXPECT_TRUE(IsFailureReasonName(FailureReasonName(r)));
  }
  EXPECT_FALSE(IsFailureReasonName("exploded"));
}

}  // namespace
}  // namespace porch
