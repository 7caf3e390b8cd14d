// A run from start to report: creates or reopens the run directory, replays
// the journal, drives the Scheduler over a Backend, and writes metrics.json
// and report.html. The CLI is a thin layer over this.
//
// Only one porch process works on a run at a time: the run directory holds
// a lock (flock on porch.lock), taken before anything is written into it
// (creating, resuming), and held for as long as the Runner works on it. A
// second porch refused by the lock has changed nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "model/backend.h"
#include "config/config.h"
#include "journal/run_state.h"
#include "plan/task.h"
#include "platform/clock.h"
#include "model/run_identity.h"
#include "model/run_layout.h"
#include "platform/file_lock.h"
#include "sched/scheduler.h"

namespace porch {

using BackendFactory = std::function<Result<std::unique_ptr<Backend>>(
    const Config&, const RunLayout&, const RunIdentity&, Clock*, const Plan&)>;

struct RunOutcome {
  std::string run_id;
  std::string run_dir;
  RunSummary summary;
  std::string report_path;
  std::string metrics_path;
  int max_executors = 0;
};

// What a finished or running run directory holds.
struct LoadedRun {
  std::string run_dir;
  Plan plan;
  LoadedConfig config;
  RunState state;
};

// Reads plan.json, config.json and the journal of `run_dir` (no lock).
Result<LoadedRun> LoadRun(const std::string& run_dir);
// The run's state alone: its journal folded record by record (empty for a
// run never started), the run id, the planner's spending.
Result<RunState> LoadRunState(const RunLayout& layout);
// Fills state->planner_* from the run's planner/summary.json; leaves them
// at 0 when the run was not planned by porch or the file is unreadable.
void ReadPlannerSpend(const RunLayout& layout, RunState* state);
// LoadRun() without the journal (`state` is empty).
Result<LoadedRun> LoadRunPlan(const std::string& run_dir);

// The highest N of <run>/tasks/<task_id>/attempt-N (0: none).
int HighestAttemptOnDisk(const RunLayout& layout, const std::string& task_id);

// Makes `state` agree with the attempt directories on disk (`on_disk`: the
// highest attempt number of a task): no attempt number is used twice, and an
// attempt the journal lost (it was cut short) of a task that is not settled
// is in flight again, so resume re-adopts it rather than running the task
// once more. Returns the records that say so, already applied to `state`;
// the caller journals them. Pure.
std::vector<JournalRecord> ReconcileWithDisk(const Plan& plan, RunState* state,
                                             const std::function<int(const std::string&)>& on_disk,
                                             double now);

// Recomputes metrics.json and report.html from the journal.
Status WriteRunReport(const LoadedRun& run);
// The same from a plan and its folded journal, in `layout`'s directory.
Status WriteRunReport(const RunLayout& layout, const Plan& plan, const RunState& state, const Config& config);

// The scheduler's retry rule from the retry.* configuration.
RetryOptions ToRetryOptions(const RetryConfig& config);

// A new run id: "<YYYYmmdd-HHMMSS>-<4 hex>" (UTC). Sorts by time.
std::string NewRunId(double now);

class Runner {
 public:
  // Nothing owned. `listener` may be null. `stop_requested` is polled often.
  Runner(Clock* clock, BackendFactory factory, SchedulerListener* listener,
         std::function<bool()> stop_requested);

  // Creates <output_dir>/runs/<run_id>/ (refusing an existing run there), stores
  // the validated plan and the configuration, and runs. `plan` must have
  // passed ValidatePlan.
  Result<RunOutcome> Start(const Plan& plan, const LoadedConfig& config, const std::string& run_id);

  // Start() in two steps, for callers that put files into the run directory
  // before it runs (the planner's answers): Create() makes the directory and
  // returns its path; RunCreated() runs it.
  Result<std::string> Create(const Plan& plan, const LoadedConfig& config, const std::string& run_id);
  Result<RunOutcome> RunCreated(const std::string& run_dir, const Plan& plan,
                                const LoadedConfig& config);

  // Continues the run in `run_dir` with `config` (normally the run's own
  // config.json with the resume command's flags applied on top).
  Result<RunOutcome> Resume(const std::string& run_dir, const LoadedConfig& config);

 private:
  Result<RunOutcome> Drive(const std::string& run_dir, const Plan& plan, const LoadedConfig& config,
                           bool resume);
  Result<RunOutcome> DriveLocked(const std::string& run_dir, const Plan& plan,
                                 const LoadedConfig& config, bool resume);
  // Takes the run's lock before anything is written into the run directory;
  // it is kept from Create() through the run, and let go when the run ends.
  Status Lock(const std::string& run_dir);

  Clock* clock_;
  BackendFactory factory_;
  SchedulerListener* listener_;
  std::function<bool()> stop_requested_;
  std::unique_ptr<FileLock> lock_;
  std::string locked_dir_;
};

// The configuration as stored in config.json: flat {"key": "value"}, with
// secrets left out.
std::string ConfigToStoredJson(const LoadedConfig& loaded);

}  // namespace porch
