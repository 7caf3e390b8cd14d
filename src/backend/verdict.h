// How an attempt ended, decided in one place for every backend: the result
// file (written by whatever ran the attempt) is the authority, and what the
// backend itself saw (porch cancelled it, the kernel killed it for memory,
// SLURM's final state) corrects or completes it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/failure.h"
#include "model/backend.h"
#include "model/result_file.h"
#include "model/run_layout.h"

namespace porch {

// A backend's own reading of an ending (e.g. from SLURM's job state).
struct BackendVerdict {
  FailureReason reason = FailureReason::kNone;
  std::string detail;
};

// What the backend saw of an attempt's end, besides its result file.
struct Ending {
  bool cancel_requested = false;  // porch asked the attempt to stop
  bool oom_killed = false;        // the backend saw a kill for memory (Docker's OOMKilled)
  bool memory_limited = false;    // it ran under a memory limit: a stray SIGKILL means OOM
  // The backend's reading when it knows more than the attempt could
  // (SLURM's TIMEOUT, PREEMPTED, NODE_FAIL...); used when there is no result
  // file, or when the result says "cancelled" and porch cancelled nothing.
  std::optional<BackendVerdict> backend_says;
  int exit_code = -1;             // the process's or container's, when known
  std::string without_result;     // what happened, when there is no result file
};

// The kFinished event for attempt `attempt` of task `index`. `result` is the
// attempt's result file (NotFound: there is none). Rules, in order:
//  - result present: its outcome, except that a failure porch caused by
//    cancelling is "cancelled"; a "cancelled" porch did not ask for is what
//    the backend says; a kill for memory is "oom";
//  - no result: "cancelled" if porch asked, else what the backend says,
//    else "oom" if the backend saw one, else a backend error that says what
//    happened (Ending::without_result).
BackendEvent ResolveEnding(Dag::Index index, int attempt, double now,
                           const Result<AttemptResult>& result, const Ending& ending);

BackendEvent EventFromResult(Dag::Index index, int attempt, const AttemptResult& r);

// Recover()'s first look: the attempt's event when its result file exists
// (it ended, maybe while porch was down).
std::optional<BackendEvent> EventFromResultFile(const RunLayout& layout, const InFlight& attempt);

// The event a backend reports when it has started an attempt.
BackendEvent StartedEvent(Dag::Index index, int attempt, double time);

}  // namespace porch
