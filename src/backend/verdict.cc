#include "backend/verdict.h"

#include <csignal>

#include "exec/attempt.h"

namespace porch {

BackendEvent EventFromResult(Dag::Index index, int attempt, const AttemptResult& r) {
  BackendEvent ev;
  ev.kind = BackendEvent::Kind::kFinished;
  ev.index = index;
  ev.attempt = attempt;
  ev.time = r.finished_at;
  ev.started_at = r.started_at;
  ev.exit_code = r.exit_code;
  ev.reason = r.reason;
  ev.detail = r.detail;
  ev.cost_usd = r.cost_usd;
  ev.tokens = r.usage.total();
  return ev;
}

namespace {

constexpr const char* kOomDetail =
    "out of memory: the attempt hit its memory limit (resources.memory)";

BackendEvent FromResult(Dag::Index index, int attempt, const AttemptResult& r, const Ending& e) {
  BackendEvent ev = EventFromResult(index, attempt, r);
  const bool failed = ev.reason != FailureReason::kNone;
  if (e.cancel_requested && failed && ev.reason != FailureReason::kCancelled) {
    // Stopping an attempt signals all of its processes: the task's own may
    // die of it before the runner records the cancellation.
    ev.reason = FailureReason::kCancelled;
    ev.detail = "cancelled by porch; the attempt saw: " + ev.detail;
  } else if (!e.cancel_requested && e.backend_says &&
             (ev.reason == FailureReason::kCancelled ||
              (ev.reason == FailureReason::kSignal && r.term_signal == SIGTERM))) {
    // The runner reports any SIGTERM as a cancellation (or, when the task's
    // own process died of it first, as a signal); porch cancelled nothing,
    // so the backend says what really happened (a node that failed, a
    // preemption).
    ev.detail = e.backend_says->detail + "; the attempt said: " + ev.detail;
    ev.reason = e.backend_says->reason;
  }
  if (ev.reason == FailureReason::kCancelled) return ev;
  if (e.oom_killed) {
    ev.reason = FailureReason::kOom;
    ev.detail = kOomDetail;
  } else if (ev.reason == FailureReason::kSignal && r.term_signal == SIGKILL && e.memory_limited) {
    // The kernel's OOM killer is flagged reliably only for a container's
    // first process; a task's child killed under the limit shows up as a
    // SIGKILL nobody sent.
    ev.reason = FailureReason::kOom;
    ev.detail = "killed by SIGKILL under its memory limit (resources.memory): most likely out "
                "of memory";
  }
  return ev;
}

}  // namespace

BackendEvent ResolveEnding(Dag::Index index, int attempt, double now,
                           const Result<AttemptResult>& result, const Ending& e) {
  if (result.ok()) return FromResult(index, attempt, *result, e);
  if (e.cancel_requested) {
    return FailedEvent(index, attempt, now, FailureReason::kCancelled,
                       "cancelled by porch before the attempt wrote a result", e.exit_code);
  }
  if (e.backend_says) {
    return FailedEvent(index, attempt, now, e.backend_says->reason, e.backend_says->detail,
                       e.exit_code);
  }
  if (e.oom_killed) return FailedEvent(index, attempt, now, FailureReason::kOom, kOomDetail, e.exit_code);
  if (e.exit_code == kExecNotStarted) {  // nothing ran: it runs again, uncharged
    return FailedEvent(index, attempt, now, FailureReason::kLost,
                       "the attempt found no room on disk for its result file, so it did not "
                       "start the task (is the disk full?)",
                       e.exit_code);
  }
  std::string detail = e.without_result.empty() ? "the attempt ended without a result file"
                                                 : e.without_result;
  if (result.status().code() != Status::Code::kNotFound) detail += ": " + result.status().message();
  return FailedEvent(index, attempt, now, FailureReason::kBackendError, detail, e.exit_code);
}

std::optional<BackendEvent> EventFromResultFile(const RunLayout& layout, const InFlight& f) {
  Result<AttemptResult> r = ReadAttemptResult(layout.result_path(f.task->id, f.attempt));
  if (!r.ok()) return std::nullopt;
  return EventFromResult(f.index, f.attempt, *r);
}

BackendEvent StartedEvent(Dag::Index index, int attempt, double time) {
  BackendEvent ev;
  ev.kind = BackendEvent::Kind::kStarted;
  ev.index = index;
  ev.attempt = attempt;
  ev.time = time;
  return ev;
}

}  // namespace porch
