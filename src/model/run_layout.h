// Where things live in a run directory. Pure path arithmetic.
//
//   <output_dir>/runs/<run-id>/
//     run.json              who the run is: run id and unique uid (model/run_identity.h)
//     plan.json             the validated plan, as run
//     config.json           the effective configuration (no secrets)
//     journal.log           task state transitions (journal/journal.h)
//     output/               files the tasks produce (working dir of commands)
//     tasks/<task-id>/attempt-<n>/
//       stdout, stderr      the attempt's output
//       result.json         written once, atomically, by the attempt's runner
//     metrics.json          per-task and per-run figures
//     report.html           the self-contained report
//
// docs/run-layout.md explains each file.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace porch {

class RunLayout {
 public:
  explicit RunLayout(std::string run_dir) : dir_(std::move(run_dir)) {}

  // <output_dir>/runs/<run_id>
  static std::string RunDir(const std::string& output_dir, const std::string& run_id);
  static std::string RunsDir(const std::string& output_dir);

  const std::string& dir() const { return dir_; }
  // The run's id: the directory's last component (as `porch run --run-id`
  // named it).
  std::string run_id() const;
  std::string identity() const { return dir_ + "/run.json"; }
  std::string plan() const { return dir_ + "/plan.json"; }
  std::string config() const { return dir_ + "/config.json"; }
  std::string journal() const { return dir_ + "/journal.log"; }
  std::string output() const { return dir_ + "/output"; }
  std::string metrics() const { return dir_ + "/metrics.json"; }
  std::string report() const { return dir_ + "/report.html"; }
  std::string lock() const { return dir_ + "/porch.lock"; }
  // The planner's answers and summary, when porch planned the run itself.
  std::string planner_summary() const { return dir_ + "/planner/summary.json"; }
  std::string task_dir(const std::string& task_id) const { return dir_ + "/tasks/" + task_id; }
  std::string attempt_dir(const std::string& task_id, int attempt) const {
    return task_dir(task_id) + "/attempt-" + std::to_string(attempt);
  }
  std::string stdout_path(const std::string& task_id, int attempt) const {
    return attempt_dir(task_id, attempt) + "/stdout";
  }
  std::string stderr_path(const std::string& task_id, int attempt) const {
    return attempt_dir(task_id, attempt) + "/stderr";
  }
  std::string result_path(const std::string& task_id, int attempt) const {
    return attempt_dir(task_id, attempt) + "/result.json";
  }
  // The local backend's command attempts append their results here instead
  // of writing result.json (model/result_file.h, ResultLog).
  std::string results_log() const { return dir_ + "/results.log"; }
  // The queue backend's workers as last seen (a JSON array; rewritten
  // every few seconds while the run goes on).
  std::string workers() const { return dir_ + "/workers.json"; }

 private:
  std::string dir_;
};

// The workers in `layout`'s workers.json (queue backend), or an empty array
// when there is none or it is unreadable. Never throws.
nlohmann::json ReadWorkersSnapshot(const RunLayout& layout);

}  // namespace porch
