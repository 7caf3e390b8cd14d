// A run directory loaded once for starting its attempts: what `porch
// exec-task` (one attempt, on a node or in a container) and the local
// backend's spawner (every attempt of a run, on this machine) share.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "exec/attempt_spec.h"
#include "model/run_layout.h"
#include "plan/dag.h"
#include "plan/task.h"

namespace porch {

class RunAttempts {
 public:
  // Loads plan.json and config.json from `run_dir`; `env` (this process's
  // environment) is applied on top of config.json, as PORCH_* settings, and
  // is what AI tasks' executors get (secrets reach them this way, never
  // through a file). InvalidArgument when the run directory is unusable.
  static Result<std::unique_ptr<RunAttempts>> Load(const std::string& run_dir,
                                                   std::map<std::string, std::string> env);

  // The spec for attempt `attempt` of `task_id`, with its directory (and
  // output/) made. `time_limit_s` / `grace_s` below 0: the task's own, else
  // the configuration's. InvalidArgument for an unknown task or attempt.
  // `result_log_fd` >= 0 (the local spawner): a command task's result goes
  // to that results log and its attempt directory is made only if it prints
  // something (or its command names PORCH_ATTEMPT_DIR); AI tasks are as
  // always.
  Result<AttemptSpec> Prepare(const std::string& task_id, int attempt, double time_limit_s,
                              double grace_s, int result_log_fd = -1) const;

  const RunLayout& layout() const { return layout_; }

 private:
  RunAttempts(RunLayout layout, Plan plan, Config config, std::map<std::string, std::string> env)
      : layout_(std::move(layout)), plan_(std::move(plan)), dag_(plan_), config_(std::move(config)),
        env_(std::move(env)) {}

  RunLayout layout_;
  Plan plan_;
  Dag dag_;
  Config config_;
  std::map<std::string, std::string> env_;
};

}  // namespace porch
