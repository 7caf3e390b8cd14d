// Execution metrics (the seed's "Execution Metrics"), computed from the
// journal's run state. Pure.
#pragma once

#include <string>
#include <vector>

#include "journal/run_state.h"
#include "plan/dag.h"
#include "plan/task.h"
#include "platform/files.h"

namespace porch {

struct AttemptSpan {
  int attempt = 0;
  double start = 0;  // seconds since the run started
  double end = 0;
  int slot = 0;      // executor slot it ran in (for the timeline)
  std::string outcome;  // "ok" or a FailureReason name
  std::string job_id;
  int exit_code = 0;
  std::string detail;
  double cost_usd = 0;
  int64_t tokens = 0;
};

struct TaskMetrics {
  std::string id;
  std::string title;
  TaskState state = TaskState::kPending;
  std::vector<AttemptSpan> attempts;
  double start = 0;     // first attempt start (relative)
  double end = 0;       // last attempt end (relative)
  double duration = 0;  // sum of attempt durations
  std::string skip_reason;
  double cost_usd = 0;  // all attempts
  int64_t tokens = 0;
};

struct RunMetrics {
  std::string run_id;
  std::string backend;
  // aws backend: where it ran (recorded in metrics.json's run.aws).
  std::string cluster_name, region, bucket;
  int max_executors = 0;
  double started_at = 0;       // wall clock of the first launch
  double makespan = 0;         // first start to last end
  double total_task_time = 0;  // sum of all attempt durations
  double speedup = 0;          // total_task_time / makespan
  double efficiency = 0;       // speedup / max_executors
  double critical_path = 0;    // seconds along the longest dependency chain
  std::vector<std::string> critical_path_tasks;
  int slots_used = 0;
  size_t succeeded = 0, failed = 0, skipped = 0, cancelled = 0, pending = 0;
  double cost_usd = 0;  // the planner and AI tasks, all attempts
  int64_t tokens = 0;
  double planner_cost_usd = 0;  // of which planning the run
  int64_t planner_tokens = 0;
  std::string outcome;
  std::vector<TaskMetrics> tasks;  // plan order
};

RunMetrics ComputeMetrics(const Plan& plan, const Dag& dag, const RunState& state,
                          int max_executors);

std::string MetricsToJson(const RunMetrics& m);
// The same text, handed to `append` piece by piece (the run first, then one
// task at a time): a 100,000-task run's metrics are never one string.
Status WriteMetricsJson(const RunMetrics& m, const AppendFn& append);

}  // namespace porch
