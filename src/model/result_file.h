// The attempt's result file: how one task attempt ended, written once,
// atomically, by whatever ran it (exec-task, the local supervisor) and read
// by porch and every backend. The result file is the authority on how an
// attempt ended: absent until the attempt is over, whole once present.
#pragma once

#include <string>
#include <vector>

#include "core/failure.h"
#include "core/status.h"
#include "model/usage.h"
#include "platform/tree.h"

namespace porch {

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
  std::vector<std::string> deleted;  // seeded files the agent removed

  bool ok() const { return reason == FailureReason::kNone; }
};

std::string AttemptResultToJson(const AttemptResult& r);
// InvalidArgument naming `source` when the text is not a porch result.
Result<AttemptResult> ParseAttemptResult(const std::string& text, const std::string& source);
// NotFound when the file does not exist (the attempt is not over).
Result<AttemptResult> ReadAttemptResult(const std::string& path);

}  // namespace porch
