// When to try a failed task again, and after how long. Pure: the random
// source for jitter is passed in, so tests are exact.
#pragma once

#include "core/backoff.h"
#include "core/failure.h"

namespace porch {

struct RetryOptions {
  int max_retries = 2;  // attempts after the first, unless a task says otherwise
  Backoff backoff;
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryOptions options) : options_(options) {}

  // Whether a task whose attempt number `attempt` (1-based) just failed for
  // `reason` should run again. `task_retries` (>= 0) overrides
  // options.max_retries when set (-1: not set).
  bool ShouldRetry(int attempt, FailureReason reason, int task_retries = -1) const;

  // Delay before attempt `attempt + 1`, in seconds. `unit_random` in [0, 1)
  // spreads it by +/- jitter; 0.5 gives the exact nominal delay.
  double Delay(int attempt, double unit_random) const {
    return options_.backoff.Delay(attempt, unit_random);
  }

  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
};

}  // namespace porch
