// The output-merge stage: AI tasks' work reaches the run's output/ here, as
// their attempts succeed. The Runner hands it to the Scheduler as a
// CompletionStage, so every backend's attempts pass the same merge, and
// porch (the only writer of output/) does it in its own process, on the
// scheduler's thread.
//
// An AI attempt works in a workspace seeded with output/ (seed.json records
// what it saw) and lists what it produced in result.json. A produced file is
// copied into output/ unless another task changed that path since the seed
// with different content: a conflict. With merge.conflict_policy "fail" (the
// default) the attempt then fails with reason `conflict`, naming the files
// and the tasks, and nothing of it is merged; with "keep-later" its version
// wins and the conflict is recorded in conflicts.json for the report.
// With merge.git, output/ is a git repository with one commit per merged
// task, authored by the task id.
//
// State: merge.json (output path -> the task that wrote it last) and
// conflicts.json in the run directory, rewritten atomically after each merge,
// so a resumed run keeps both.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/run_layout.h"
#include "plan/task.h"
#include "sched/scheduler.h"

namespace porch {

struct MergeOutcome {
  bool conflicted = false;             // some files conflicted with another task's
  std::vector<std::string> conflicts;  // "path (also written by task 'x')"
  bool applied = false;                // the attempt's files are in output/ now

  // "conflicting files: a, b" (empty when there was no conflict).
  std::string Describe() const;
};

class OutputMerger : public CompletionStage {
 public:
  // `plan` is not owned and must outlive the merger.
  OutputMerger(const Plan* plan, RunLayout layout, MergeConfig config);

  // Merges a succeeded AI attempt; a conflict under the "fail" policy, or a
  // merge that could not be written, turns the event into a failure.
  void OnSucceeded(const Task& task, BackendEvent* ev) override;

  // Merges attempt `attempt` of `task` into output/. An error means the
  // merge could not be done (unreadable result, a write that failed).
  Result<MergeOutcome> Merge(const Task& task, int attempt);

 private:
  Status RecordConflict(const Task& task, int attempt, const std::vector<std::string>& files);
  void Commit(const Task& task);

  const Plan* plan_;
  RunLayout layout_;
  MergeConfig config_;
  std::map<std::string, std::string> owners_;  // output path -> task that wrote it last
};

}  // namespace porch
