#include "platform/retry.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

namespace porch {
namespace {

using Try = TryResult<int>;

TEST(RetryWithBackoffTest, RetriesUntilSuccessWithTheBackoff) {
  FakeClock clock(0);
  RetryBudget budget;
  budget.max_attempts = 5;
  budget.backoff = {1, 2, 100, 0};
  std::vector<double> tries;
  RetryStats stats;
  Result<int> r = RetryWithBackoff<int>(clock, nullptr, budget, "op", [&](int attempt) {
    tries.push_back(clock.Now());
    return attempt < 3 ? Try::Again(Status::Unavailable("busy")) : Try::Done(42);
  }, &stats);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(tries, (std::vector<double>{0, 1, 3}));  // 1 s, then 2 s
  EXPECT_EQ(stats.attempts, 3);
  EXPECT_EQ(stats.retries, 2);
}

TEST(RetryWithBackoffTest, GivesUpSayingWhatAndWhy) {
  FakeClock clock(0);
  RetryBudget budget;
  budget.max_attempts = 3;
  budget.backoff = {1, 2, 100, 0};
  Result<int> r = RetryWithBackoff<int>(clock, nullptr, budget, "GET s3://b/k", [&](int) {
    return Try::Again(Status::Unavailable("HTTP 503"), "HTTP 503 SlowDown");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "GET s3://b/k: gave up after 3 attempts in 3.0s; last error: HTTP 503 SlowDown");
}

TEST(RetryWithBackoffTest, AFinalFailureIsReturnedAsItIs) {
  FakeClock clock(0);
  int n = 0;
  Result<int> r = RetryWithBackoff<int>(clock, nullptr, RetryBudget{}, "op", [&](int) {
    ++n;
    return Try::Fail(Status::InvalidArgument("bad request"));
  });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(r.status().message(), "bad request");
  EXPECT_EQ(clock.Now(), 0);
}

TEST(RetryWithBackoffTest, RetryAfterAndTotalTimeBoundTheWaits) {
  FakeClock clock(0);
  RetryBudget budget;
  budget.max_attempts = 100;
  budget.backoff = {1, 1, 1, 0};
  budget.max_total_s = 25;
  std::vector<double> tries;
  Result<int> r = RetryWithBackoff<int>(clock, nullptr, budget, "op", [&](int) {
    tries.push_back(clock.Now());
    return Try::Again(Status::Unavailable("429"), "", /*retry_after_s=*/10);
  });
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(tries, (std::vector<double>{0, 10, 20}));  // the server's 10 s beat the 1 s backoff
}

TEST(BackoffTest, ExponentialCappedAndJittered) {
  Backoff b{2, 3, 50, 0.2};
  EXPECT_DOUBLE_EQ(b.Delay(1), 2);
  EXPECT_DOUBLE_EQ(b.Delay(2), 6);
  EXPECT_DOUBLE_EQ(b.Delay(4), 50);
  EXPECT_DOUBLE_EQ(b.Delay(1, 0.0), 1.6);
  EXPECT_NEAR(b.Delay(1, 0.99999), 2.4, 1e-3);
}

}  // namespace
}  // namespace porch
