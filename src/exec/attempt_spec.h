// What one attempt runs, where, and with what: the spec that `porch
// exec-task` (or the local supervisor) builds from the run directory and
// hands to RunAttempt.
#pragma once

#include <map>
#include <string>

#include "agent/executor.h"
#include "config/config.h"
#include "model/run_layout.h"
#include "plan/task.h"

namespace porch {

struct AttemptSpec {
  std::string task_id;
  int attempt = 1;
  std::string command;       // a command task: run with /bin/sh -c (or directly when plain)
  std::string workdir;       // command tasks: where it runs (must exist)
  // AI tasks (prompt set): the agent works in `workspace`, seeded from
  // `seed_from` (the run's merged output); then `acceptance` checks it.
  std::string prompt;
  std::string system_context;
  std::string acceptance;
  std::string workspace;
  std::string seed_from;
  std::string attempt_dir;
  AgentSettings agent;
  std::string stdout_path;
  std::string stderr_path;
  std::string result_path;
  // The local backend's command attempts: the result is appended to the
  // run's results log through this descriptor (model/result_file.h) instead
  // of written to result_path, and stdout/stderr (with the attempt
  // directory) are made only when the command prints something.
  int result_log_fd = -1;
  bool lazy_output = false;
  double time_limit_s = 0;   // 0: none
  double grace_s = 5;
  uint64_t max_output_bytes = 0;  // command tasks: stdout and stderr each cut there; 0: no cap
  std::map<std::string, std::string> env;  // added to the inherited environment
  // The task's declared outputs: each must exist (relative to workdir, or to
  // the workspace for AI tasks) when it ends, or the attempt fails
  // missing_outputs. An AI task that declares none must change some file.
  std::vector<std::string> outputs;
  bool outputs_declared = false;
  // Why the previous attempt failed (AI tasks, attempt > 1): told to the agent.
  std::string previous_failure;
};

// The spec for attempt `attempt` of `task` in the run laid out by `layout`.
// Command tasks run in output/; AI tasks get a workspace in the attempt
// directory and a system context describing the plan, the task and the
// files its dependencies own. PORCH_* variables tell commands where they run.
// `env` is porch's environment, handed to AI tasks' executors.
// config.merge.isolate_commands must be decided ("true" or "false"; "auto"
// counts as "false"): RunAttempts::Load decides it from the plan once, so
// that no attempt scans the whole plan.
AttemptSpec MakeAttemptSpec(const RunLayout& layout, const Plan& plan, const Task& task,
                            int attempt, double time_limit_s, const Config& config,
                            const std::map<std::string, std::string>& env);

// The context an agent gets besides its prompt (pure).
std::string AgentContext(const Plan& plan, const Task& task);

}  // namespace porch
