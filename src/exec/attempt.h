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

#include "core/status.h"
#include "plan/task.h"
#include "run/run_layout.h"
#include "sched/retry_policy.h"

namespace porch {

struct AttemptSpec {
  std::string task_id;
  int attempt = 1;
  std::string command;       // run with /bin/sh -c
  std::string workdir;       // must exist
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

  bool ok() const { return reason == FailureReason::kNone; }
};

std::string AttemptResultToJson(const AttemptResult& r);
Result<AttemptResult> ParseAttemptResult(const std::string& text, const std::string& source);
// NotFound when the file does not exist (the attempt is not over).
Result<AttemptResult> ReadAttemptResult(const std::string& path);

// The spec for running command task `task`'s attempt `attempt` of the run
// laid out by `layout`: working directory output/, files in the attempt
// directory, and PORCH_* variables telling the command where it runs.
AttemptSpec CommandAttemptSpec(const RunLayout& layout, const Task& task, int attempt,
                               double time_limit_s, double grace_s);

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
