// The state of every task of a run, folded from journal records. Pure.
//
// Used by `porch resume` (what to re-run, what to re-adopt), `porch status`,
// and the metrics/report writers.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "journal/journal.h"

namespace porch {

enum class TaskState {
  kPending,     // not started (or waiting for dependencies)
  kRunning,     // launched: submitted or started, no result yet
  kRetryWait,   // failed, another attempt scheduled
  kSucceeded,
  kFailed,      // failed for good
  kSkipped,     // a dependency failed
  kCancelled,   // stopped by Ctrl-C / SIGTERM (or porch stopped): runs again on resume
};

const char* TaskStateName(TaskState s);

struct AttemptRecord {
  int number = 0;
  std::string job_id;
  double launched_at = 0;
  double started_at = 0;
  double finished_at = 0;
  bool finished = false;
  int exit_code = 0;
  FailureReason reason = FailureReason::kNone;
  std::string detail;
  double cost_usd = 0;
  int64_t tokens = 0;
};

struct TaskRecord {
  TaskState state = TaskState::kPending;
  std::vector<AttemptRecord> attempts;  // in order
  std::string skip_reason;
  double not_before = 0;
  // The highest attempt directory found on disk (Runner fills it in on
  // resume): a journal cut short must never make an attempt number, and so
  // its directory, be used twice.
  int attempts_on_disk = 0;

  int last_attempt() const {
    return std::max(attempts_on_disk, attempts.empty() ? 0 : attempts.back().number);
  }
};

struct RunState {
  std::string run_id;
  std::string backend;
  double started_at = 0;
  double finished_at = 0;
  std::string outcome;  // from kRunFinished, or "" while running / after a crash
  int resumes = 0;
  std::map<std::string, TaskRecord> tasks;  // by task id
  // What planning the run cost (planner/summary.json, written before the
  // run existed, so not in the journal; filled by whoever loads the run).
  double planner_cost_usd = 0;
  int64_t planner_tokens = 0;

  // Folds one record in (records must come in journal order).
  void Apply(const JournalRecord& rec);
};

// A running task whose current attempt the backend holds, not started: it
// waits for a free executor slot (the local backend's spawner holds up to
// 4M; a SLURM job pends). Shown as "queued", not counted as running.
inline bool WaitsForSlot(const TaskRecord& t) {
  return t.state == TaskState::kRunning && !t.attempts.empty() && !t.attempts.back().finished &&
         t.attempts.back().started_at == 0;
}

RunState FoldJournal(const std::vector<JournalRecord>& records);
// Folds the journal file at `path` record by record, never holding them all
// (read-only; the same errors as ReadJournal).
Result<RunState> FoldJournalFile(const std::string& path);

}  // namespace porch
