// What the dashboard knows of one run directory, kept current by reading
// only what the journal gained since the last look.
//
// A 300,000-task run's plan is parsed once; each refresh reads the new
// journal bytes, folds them in, and notes which tasks changed (a sequence
// number per task), so a live page is sent the tasks that changed rather
// than the whole run. A journal that was replaced (another inode) or cut
// shorter is read again whole.
//
// Threading: every method may be called from any thread (the dashboard's
// workers); one mutex guards the view. The returned JSON is a copy.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "run/runner.h"

namespace porch {

class RunView {
 public:
  // Loads plan.json, config.json and the journal so far. NotFound when
  // `run_dir` holds no run; the replay's error for a damaged journal.
  static Result<std::unique_ptr<RunView>> Open(const std::string& run_dir);

  // Folds in what the journal gained. A damaged journal is an error (and
  // the view keeps what it had).
  Status Refresh();

  size_t size() const { return run_.plan.tasks.size(); }
  // A counter that grows with every change to any task.
  uint64_t seq() const;

  // {run_id, backend, outcome, max_executors, tasks_total, succeeded, failed,
  //  skipped, cancelled, running, pending, started_at, makespan_s,
  //  total_task_time_s, speedup, cost_usd, tokens, seq}: kept up to date
  // as records are folded in, so it costs a look at the running tasks, not
  // a pass over the run.
  nlohmann::json Summary() const;
  // Table rows of tasks [offset, offset + limit) in plan order:
  // {index, id, title, state, attempts, duration, exit_code, job_id, detail}.
  nlohmann::json Rows(size_t offset, size_t limit) const;
  // Rows of the tasks that changed after `since`, in plan order, at most
  // `cap` of them (`*overflow` set when there were more).
  nlohmann::json ChangedSince(uint64_t since, size_t cap, bool* overflow) const;
  // A copy of the whole run (plan, config, state) for metrics and drawings;
  // O(tasks): meant for small runs and single tasks.
  LoadedRun Snapshot() const;
  // The plan index of `task_id`, or -1.
  int64_t IndexOf(const std::string& task_id) const;
  // One task's plan entry and journal record (a small run of its own, for
  // the task detail endpoint).
  LoadedRun TaskSnapshot(size_t index) const;
  std::vector<std::string> DependsOn(size_t index) const;

  // The plan.json the view was opened from (inode and change time): another
  // means the run was removed and made again under the same id (an inode
  // number alone may be reused).
  std::string plan_identity() const { return plan_identity_; }
  void set_plan_identity(std::string identity) { plan_identity_ = std::move(identity); }

 private:
  explicit RunView(LoadedRun run);
  Status ReadJournalLocked(bool from_start);
  nlohmann::json RowLocked(size_t index) const;
  // Adds (sign +1) or takes away (-1) what a task adds to the summary.
  void Count(const TaskRecord& t, int sign);

  mutable std::mutex mu_;
  LoadedRun run_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<uint64_t> changed_at_;  // per task: the seq of its last change
  uint64_t seq_ = 0;
  uint64_t offset_ = 0;  // journal bytes folded in
  ino_t inode_ = 0;
  std::string plan_identity_;
  // The summary's sums over the tasks with journal records.
  struct Totals {
    size_t states[8] = {};    // tasks per TaskState
    size_t tasks = 0;
    std::multiset<double> starts;    // per task: its first attempt's start
    std::multiset<double> finishes;  // per task: its last attempt's end
    double finished_time = 0; // the time of finished attempts
    double cost_usd = 0;
    int64_t tokens = 0;
  } totals_;
  std::unordered_set<size_t> unfinished_;  // tasks with an attempt under way
};

}  // namespace porch
