// Why an attempt failed: the vocabulary every layer shares (result files,
// the journal, backends, the scheduler, reports). Pure.
#pragma once

#include <string>

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
  kAgentError,        // the AI agent reported an error (API failure)
  kMaxTurns,          // the agent ran out of turns: not retryable
  kPermissionDenied,  // the agent was denied a tool it needed: not retryable
  kAcceptanceFailed,  // the acceptance check still failed after the agent's last round
  kConflict,          // its files conflict with another task's: retried on top of the merge
  kMissingOutputs,    // it ended without creating the paths it declared
  kRefused,           // the model refused the task (stop_reason refusal): not retryable
  kLast = kRefused,
};

// The stable name used in result files, the journal and JSON output
// ("exit_code", "oom", ...).
const char* FailureReasonName(FailureReason r);
// The reason named `name`; an unknown name reads as kExitCode.
FailureReason FailureReasonFromName(const std::string& name);
// Whether `name` is one of the names above.
bool IsFailureReasonName(const std::string& name);

// True when trying again can help.
bool IsRetryable(FailureReason r);

}  // namespace porch
