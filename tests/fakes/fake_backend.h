// Backends for tests and benchmarks.
//
// FakeBackend runs nothing: each attempt "takes" a scripted duration on a
// FakeClock and ends with a scripted outcome. It records every call
// (submits, cancels, recoveries) and the highest concurrency it saw.
//
// InstantBackend finishes every attempt as soon as it is submitted; it
// measures the scheduler and journal alone.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/backend.h"
#include "fakes/fake_clock.h"

namespace porch {

struct FakeOutcome {
  double duration = 1.0;
  int exit_code = 0;
  FailureReason reason = FailureReason::kNone;
  double cost_usd = 0;
  int64_t tokens = 0;
};

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(FakeClock* clock) : clock_(clock) {}

  // Outcomes of attempts 1, 2, ... of `task`; later attempts repeat the last.
  void Script(const std::string& task, std::vector<FakeOutcome> outcomes) {
    script_[task] = std::move(outcomes);
  }
  // Makes Submit() refuse `task` with `status`.
  void RefuseSubmit(const std::string& task, Status status) { refuse_[task] = status; }
  // What Recover() answers for `task` (default kLost).
  void SetRecover(const std::string& task, RecoverOutcome outcome, FakeOutcome then = {}) {
    recover_[task] = {outcome, then};
  }
  double default_duration = 1.0;
  // Holds dependents like SLURM's afterok with kill-on-invalid-dep: an
  // attempt with Launch::after starts when all those jobs succeeded, and is
  // cancelled when one of them did not.
  bool hold_dependents = false;
  // Capabilities::queues_ahead (this fake starts everything at once and
  // sends no kStarted: every attempt stays "queued" until it ends).
  int queues_ahead = 0;
  // Attempts that die with porch's machine (the local backend's kind).
  bool durable_launches = true;
  bool NeedsDurableLaunches() const override { return durable_launches; }
  bool durable_job_ids = true;
  bool NeedsDurableJobIds() const override { return durable_job_ids; }
  Capabilities capabilities() const override {
    Capabilities c;
    c.holds_dependents = hold_dependents;
    c.queues_ahead = queues_ahead;
    return c;
  }
  // Recover() fails (Unavailable) this many times before it answers.
  int recover_failures = 0;

  std::string name() const override { return "fake"; }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  std::vector<BackendEvent> Wait(double deadline) override;
  void Cancel(Dag::Index index, int attempt) override;
  Result<RecoverOutcome> Recover(const InFlight& attempt) override;

  struct SubmitRecord {
    std::string task;
    int attempt;
    double time;
    std::vector<std::string> after;
    uint64_t priority = 0;  // Launch::priority
  };
  std::vector<SubmitRecord> submits;
  std::vector<std::pair<std::string, int>> cancels;
  std::vector<std::string> recovered;
  size_t max_running = 0;
  size_t running() const { return running_.size(); }

 private:
  struct Job {
    Dag::Index index;
    int attempt;
    double finish;
    FakeOutcome outcome;
    double started;
    std::string id;
    std::vector<std::string> after;  // held until these succeed
  };
  void ReleaseHeld(double now);
  std::map<std::string, bool> ended_;  // job id -> succeeded
  FakeClock* clock_;
  std::map<std::string, std::vector<FakeOutcome>> script_;
  std::map<std::string, Status> refuse_;
  std::map<std::string, std::pair<RecoverOutcome, FakeOutcome>> recover_;
  std::vector<Job> running_;
  int next_id_ = 1;
};

class InstantBackend : public Backend {
 public:
  explicit InstantBackend(Clock* clock) : clock_(clock) {}
  std::string name() const override { return "instant"; }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  std::vector<BackendEvent> Wait(double deadline) override;
  void Cancel(Dag::Index, int) override {}
  Result<RecoverOutcome> Recover(const InFlight&) override { return RecoverOutcome::kLost; }
  // Called with each submitted launch (for latency measurements).
  std::function<void(const Launch&)> on_submit;

 private:
  Clock* clock_;
  std::vector<BackendEvent> done_;
};

}  // namespace porch
