// When to try a failed task again, and after how long. Pure: the random
// source for jitter is passed in, so tests are exact.
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"

namespace porch {

// Why an attempt failed. Retryable unless noted.
enum class FailureReason {
  kNone = 0,
  kExitCode,          // non-zero exit
  kSignal,            // killed by a signal we did not send
  kTimeout,           // over its time limit
  kCommandNotFound,   // exit 127: not retryable
  kNotExecutable,     // exit 126: not retryable
  kSpawnFailed,       // could not start (fork/exec/cwd)
  kInvalidTask,       // the task cannot run as written: not retryable
  kLost,              // the backend lost track of it (porch died, node failed)
  kCancelled,         // stopped by porch (Ctrl-C, fail-fast): not retried
  kOom,               // out of memory
  kBackendError,      // the backend refused or broke
  kAgentError,        // the AI agent reported an error (API failure, refusal)
  kMaxTurns,          // the agent ran out of turns: not retryable
  kPermissionDenied,  // the agent was denied a tool it needed: not retryable
  kAcceptanceFailed,  // the acceptance check still failed after the agent's last round
  kConflict,          // its files conflict with another task's: not retryable
  kLast = kConflict,
};

const char* FailureReasonName(FailureReason r);
FailureReason FailureReasonFromName(const std::string& name);

// True when trying again can help.
bool IsRetryable(FailureReason r);

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryConfig config) : config_(config) {}

  // Whether a task whose attempt number `attempt` (1-based) just failed for
  // `reason` should run again. `task_retries` (>= 0) overrides
  // config.max_retries when set (-1: not set).
  bool ShouldRetry(int attempt, FailureReason reason, int task_retries = -1) const;

  // Delay before attempt `attempt + 1`, in seconds. `unit_random` in [0, 1)
  // spreads it by +/- jitter; 0.5 gives the exact nominal delay.
  double Delay(int attempt, double unit_random) const;

  const RetryConfig& config() const { return config_; }

 private:
  RetryConfig config_;
};

}  // namespace porch
