// Running one task attempt where it is placed, and its result file.
//
// RunAttempt is the body of `porch exec-task` (on a node, in a container) and
// of the local backend's supervisor process. It starts the task's command in
// a process group of its own, enforces the time limit (SIGTERM to the group,
// SIGKILL after the grace period), turns SIGTERM/SIGINT/SIGHUP to itself into
// a cancellation, and writes result.json atomically (temp, fsync, rename) as
// its last act. Executors never touch shared run state: the result file is
// their only output besides stdout/stderr and the files the task makes.
//
// The result file is the authority on how an attempt ended. It is absent
// until the attempt is over, and whole once present.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/executor.h"
#include "agent/workspace.h"
#include "core/status.h"
#include "llm/llm_client.h"
#include "plan/task.h"
#include "run/run_layout.h"
#include "sched/retry_policy.h"

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
  double time_limit_s = 0;   // 0: none
  double grace_s = 5;
  std::map<std::string, std::string> env;  // added to the inherited environment
};

struct AttemptResult {
  std::string task_id;
  int attempt = 0;
  int exit_code = 0;         // the command's exit status; 128+N when killed by signal N
  int term_signal = 0;       // the signal that ended it, 0 if it exited
  FailureReason reason = FailureReason::kNone;
  std::string detail;
  double started_at = 0;
  double finished_at = 0;
  int runner_pid = 0;        // the process that wrote this file
  // AI tasks:
  Usage usage;
  double cost_usd = 0;
  int turns = 0;
  int rounds = 0;            // agent rounds (acceptance feedback adds rounds)
  std::vector<FileDigest> files;  // produced or changed in the workspace

  bool ok() const { return reason == FailureReason::kNone; }
};

std::string AttemptResultToJson(const AttemptResult& r);
Result<AttemptResult> ParseAttemptResult(const std::string& text, const std::string& source);
// NotFound when the file does not exist (the attempt is not over).
Result<AttemptResult> ReadAttemptResult(const std::string& path);

// The spec for attempt `attempt` of `task` in the run laid out by `layout`.
// Command tasks run in output/; AI tasks get a workspace in the attempt
// directory and a system context describing the plan, the task and the
// files its dependencies own. PORCH_* variables tell commands where they run.
// `env` is porch's environment, handed to AI tasks' executors.
AttemptSpec MakeAttemptSpec(const RunLayout& layout, const Plan& plan, const Task& task,
                            int attempt, double time_limit_s, const Config& config,
                            const std::map<std::string, std::string>& env);

// The context an agent gets besides its prompt (pure).
std::string AgentContext(const Plan& plan, const Task& task);

// The words of `command` when it can be executed without a shell (as GNU
// make does): only plain words separated by spaces or tabs, no quoting,
// expansion, redirection, globbing or control operators, and a first word
// that is neither a shell builtin or keyword nor a variable assignment.
// std::nullopt means "run it with /bin/sh -c". Pure.
std::optional<std::vector<std::string>> SplitSimpleCommand(const std::string& command);

// Exit codes of `porch exec-task` (documented in the README):
constexpr int kExecOk = 0;           // the task succeeded
constexpr int kExecTaskFailed = 1;   // the task failed; result.json says why
constexpr int kExecUsage = 2;        // bad arguments or unreadable spec
constexpr int kExecNoResult = 3;     // could not write result.json

// Runs the attempt to its end and writes the result file. Blocks. Changes the
// calling thread's signal mask; meant for a process of its own.
// Returns one of the kExec* codes.
int RunAttempt(const AttemptSpec& spec);

}  // namespace porch
