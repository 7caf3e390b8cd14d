#include "sched/retry_policy.h"

namespace porch {

bool RetryPolicy::ShouldRetry(int attempt, FailureReason reason, int task_retries) const {
  if (!IsRetryable(reason)) return false;
  int max_retries = task_retries >= 0 ? task_retries : options_.max_retries;
  return attempt <= max_retries;
}

}  // namespace porch
