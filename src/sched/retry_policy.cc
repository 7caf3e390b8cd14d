#include "sched/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace porch {

const char* FailureReasonName(FailureReason r) {
  switch (r) {
    case FailureReason::kNone: return "none";
    case FailureReason::kExitCode: return "exit_code";
    case FailureReason::kSignal: return "signal";
    case FailureReason::kTimeout: return "timeout";
    case FailureReason::kCommandNotFound: return "command_not_found";
    case FailureReason::kNotExecutable: return "not_executable";
    case FailureReason::kSpawnFailed: return "spawn_failed";
    case FailureReason::kInvalidTask: return "invalid_task";
    case FailureReason::kLost: return "lost";
    case FailureReason::kCancelled: return "cancelled";
    case FailureReason::kOom: return "oom";
    case FailureReason::kBackendError: return "backend_error";
    case FailureReason::kAgentError: return "agent_error";
    case FailureReason::kMaxTurns: return "max_turns";
    case FailureReason::kPermissionDenied: return "permission_denied";
    case FailureReason::kAcceptanceFailed: return "acceptance_failed";
    case FailureReason::kConflict: return "conflict";
  }
  return "unknown";
}

FailureReason FailureReasonFromName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(FailureReason::kLast); ++i) {
    auto r = static_cast<FailureReason>(i);
    if (name == FailureReasonName(r)) return r;
  }
  return FailureReason::kExitCode;
}

bool IsRetryable(FailureReason r) {
  switch (r) {
    case FailureReason::kCommandNotFound:
    case FailureReason::kNotExecutable:
    case FailureReason::kInvalidTask:
    case FailureReason::kCancelled:
    case FailureReason::kNone:
    case FailureReason::kMaxTurns:
    case FailureReason::kPermissionDenied:
    case FailureReason::kConflict:
      return false;
    default:
      return true;
  }
}

bool RetryPolicy::ShouldRetry(int attempt, FailureReason reason, int task_retries) const {
  if (!IsRetryable(reason)) return false;
  int max_retries = task_retries >= 0 ? task_retries : config_.max_retries;
  return attempt <= max_retries;
}

double RetryPolicy::Delay(int attempt, double unit_random) const {
  double delay = config_.retry_delay_seconds;
  if (config_.exponential_backoff && attempt > 1) {
    delay *= std::pow(config_.backoff_multiplier, attempt - 1);
  }
  delay = std::min(delay, config_.max_delay_seconds);
  double spread = config_.jitter * (2.0 * unit_random - 1.0);  // [-jitter, +jitter)
  return std::max(0.0, delay * (1.0 + spread));
}

}  // namespace porch
