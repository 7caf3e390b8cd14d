#include "journal/run_state.h"

namespace porch {

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "pending";
    case TaskState::kRunning: return "running";
    case TaskState::kRetryWait: return "retry-wait";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kSkipped: return "skipped";
    case TaskState::kCancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

AttemptRecord* FindAttempt(TaskRecord& t, int number) {
  for (auto it = t.attempts.rbegin(); it != t.attempts.rend(); ++it) {
    if (it->number == number) return &*it;
  }
  return nullptr;
}

// The task's state after a kFinished record: the scheduler's recorded
// decision, or (journals from before decisions) what the reason implies.
TaskState StateAfter(const JournalRecord& rec) {
  switch (rec.decision) {
    case Decision::kSucceeded: return TaskState::kSucceeded;
    case Decision::kRetry: return TaskState::kFailed;  // kRetryScheduled follows
    case Decision::kRequeue: return TaskState::kPending;
    case Decision::kFailed: return TaskState::kFailed;
    case Decision::kInterrupted: return TaskState::kCancelled;
    case Decision::kUnknown: break;
  }
  if (rec.reason == FailureReason::kNone) return TaskState::kSucceeded;
  if (rec.reason == FailureReason::kCancelled) return TaskState::kCancelled;
  return TaskState::kFailed;  // a kRetryScheduled may follow
}

}  // namespace

void RunState::Apply(const JournalRecord& rec) {
  using T = JournalRecord::Type;
  switch (rec.type) {
    case T::kRunStarted:
      run_id = rec.detail;
      backend = rec.job_id;
      started_at = rec.time;
      return;
    case T::kResumed:
      ++resumes;
      outcome.clear();
      return;
    case T::kInterrupted:
      return;
    case T::kRunFinished:
      outcome = rec.detail;
      finished_at = rec.time;
      return;
    default:
      break;
  }
  TaskRecord& t = tasks[rec.task];
  switch (rec.type) {
    case T::kLaunching: {
      AttemptRecord a;
      a.number = rec.attempt;
      a.launched_at = rec.time;
      t.attempts.push_back(a);
      t.state = TaskState::kRunning;
      break;
    }
    case T::kSubmitted:
      if (AttemptRecord* a = FindAttempt(t, rec.attempt)) a->job_id = rec.job_id;
      break;
    case T::kStarted:
      if (AttemptRecord* a = FindAttempt(t, rec.attempt)) a->started_at = rec.time;
      break;
    case T::kFinished: {
      AttemptRecord* a = FindAttempt(t, rec.attempt);
      if (!a) break;
      a->finished = true;
      a->finished_at = rec.time;
      if (rec.started_at > 0) a->started_at = rec.started_at;
      if (a->started_at == 0) a->started_at = a->launched_at;
      a->exit_code = rec.exit_code;
      a->reason = rec.reason;
      a->detail = rec.detail;
      a->cost_usd = rec.cost_usd;
      a->tokens = rec.tokens;
      t.state = StateAfter(rec);
      break;
    }
    case T::kRetryScheduled:
      t.state = TaskState::kRetryWait;
      t.not_before = rec.not_before;
      break;
    case T::kSkipped:
      t.state = TaskState::kSkipped;
      t.skip_reason = rec.detail;
      break;
    default:
      break;
  }
}

RunState FoldJournal(const std::vector<JournalRecord>& records) {
  RunState state;
  for (const JournalRecord& rec : records) state.Apply(rec);
  return state;
}

Result<RunState> FoldJournalFile(const std::string& path) {
  RunState state;
  ReplayResult meta;
  PORCH_RETURN_IF_ERROR(ReadJournalEach(path, [&state](JournalRecord&& rec) { state.Apply(rec); }, &meta));
  return state;
}

}  // namespace porch
