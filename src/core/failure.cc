#include "core/failure.h"

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
    case FailureReason::kMissingOutputs: return "missing_outputs";
    case FailureReason::kRefused: return "refused";
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

bool IsFailureReasonName(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(FailureReason::kLast); ++i) {
    if (name == FailureReasonName(static_cast<FailureReason>(i))) return true;
  }
  return false;
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
    case FailureReason::kRefused:
      return false;
    default:
      return true;
  }
}

}  // namespace porch
