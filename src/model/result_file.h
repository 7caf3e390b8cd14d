// The attempt's result file: how one task attempt ended, written once,
// atomically, by whatever ran it (exec-task, the local supervisor) and read
// by porch and every backend. The result file is the authority on how an
// attempt ended: absent until the attempt is over, whole once present.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
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

// The results log (RunLayout::results_log): where the local backend's
// command attempts put their results, so that an attempt that prints
// nothing and succeeds leaves no directory and no file of its own. Each
// supervisor appends one record with one write(2) to a file opened
// O_APPEND: a newline, the result as one line of JSON, a newline. A record
// cut short (the disk filled in spite of the room kept for it) is one
// unparsable line that the reader skips; the leading newline keeps it from
// swallowing the next record. The log is the authority for the attempts in
// it, as result.json is for the others: present means over, and whole.
std::string ResultLogRecord(const AttemptResult& r);

// Reads a results log as it grows. Not thread-safe; one per reader.
class ResultLog {
 public:
  explicit ResultLog(std::string path) : path_(std::move(path)) {}
  ~ResultLog();
  ResultLog(const ResultLog&) = delete;
  ResultLog& operator=(const ResultLog&) = delete;
  // Reads what was appended since the last call (a missing log is empty),
  // keeping the records `wanted` accepts (all when it is empty).
  void Refresh(const std::function<bool(const std::string& task_id, int attempt)>& wanted = nullptr);
  // Reads the whole log for one attempt's record (resume: the attempt may
  // have ended before this reader's offset).
  static std::optional<AttemptResult> Scan(const std::string& path, const std::string& task_id,
                                           int attempt);
  // The result of `task_id`'s attempt `attempt`, if the log has it (as of
  // the last Refresh). The first whole record wins.
  const AttemptResult* Find(const std::string& task_id, int attempt) const;
  // Forgets a result once its attempt is accounted for (bounds memory).
  void Forget(const std::string& task_id, int attempt);

 private:
  std::string path_;
  int fd_ = -1;          // the log, open once it exists
  uint64_t offset_ = 0;  // bytes of whole lines read
  std::map<std::pair<std::string, int>, AttemptResult> results_;
};

}  // namespace porch
