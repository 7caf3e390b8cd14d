// Merges AI tasks' work into the run's output/ as their attempts succeed: a
// Backend decorator, so every backend gets the same merge, and porch (the
// only writer of output/) does it in its own process.
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
#pragma once

#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "config/config.h"
#include "run/run_layout.h"

namespace porch {

class MergingBackend : public Backend {
 public:
  MergingBackend(std::unique_ptr<Backend> inner, const Plan* plan, RunLayout layout,
                 MergeConfig config);

  std::string name() const override { return inner_->name(); }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override {
    return inner_->Submit(launches);
  }
  std::vector<BackendEvent> Wait(double deadline) override;
  void Cancel(Dag::Index index, int attempt) override { inner_->Cancel(index, attempt); }
  RecoverOutcome Recover(const InFlight& attempt) override { return inner_->Recover(attempt); }
  bool HoldsDependents() const override { return inner_->HoldsDependents(); }
  void Close() override { inner_->Close(); }

  // Merges attempt `attempt` of `task`; returns the conflict (empty: merged).
  Result<std::string> Merge(const Task& task, int attempt);

 private:
  void Commit(const Task& task);
  std::unique_ptr<Backend> inner_;
  const Plan* plan_;
  RunLayout layout_;
  MergeConfig config_;
  std::map<std::string, std::string> owners_;  // output path -> task that wrote it last
};

}  // namespace porch
