// The scheduler: decides what runs when. Pure logic in the shape of Ninja's
// Builder::Build loop: start work while capacity allows, wait for events,
// account for them, repeat. All I/O goes through the Backend, Journal and
// Clock passed in, so tests drive it with fakes and no real time passes.
//
// Rules:
//  - at most max_executors attempts are in flight, or, for a backend that
//    holds attempts ahead and starts them as its M slots free
//    (queue_ahead, the local backend), max_executors + queue_ahead, of
//    which the backend runs M; an AI task is only given to it when one of
//    the M is free (so the budget still stops new AI work), and at a
//    fail-fast halt what it holds unstarted is cancelled;
//  - a task starts only when all its dependencies succeeded;
//  - among ready tasks, the one with the longest remaining path to the end of
//    the DAG starts first; ties go to plan order;
//  - a failed attempt is retried per RetryPolicy after its backoff; a task
//    that fails for good marks every task downstream of it skipped, while
//    independent branches go on; with fail_fast nothing new starts after the
//    first permanent failure (running attempts finish);
//  - with early_dependents (a backend that holds dependents, SLURM's
//    afterok), a task whose dependencies are all succeeded or running is
//    submitted at once, naming the running ones; if one of them fails, the
//    task's attempt is cancelled and the task waits again (it is skipped if
//    the dependency fails for good); such requeues cost no retry;
//  - a stop request (Ctrl-C) cancels running attempts and starts nothing
//    new; `porch resume` continues later;
//  - every transition is appended to the journal, and the journal is synced
//    before porch acts on it (before each Submit and at the end).
//
// Threading: single-threaded; Run() blocks until the run is over.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include "model/backend.h"
#include "journal/journal.h"
#include "journal/run_state.h"
#include "plan/dag.h"
#include "plan/task.h"
#include "platform/clock.h"
#include "sched/held_dependents.h"
#include "sched/retry_policy.h"

namespace porch {

struct SchedulerOptions {
  int max_executors = 5;
  bool fail_fast = false;
  double default_time_limit_s = 0;  // for tasks without their own
  double max_wait_s = 0.5;          // longest single Backend::Wait, for progress and stop checks
  uint64_t jitter_seed = 0;         // 0: seeded from the clock
  int max_lost_resubmits = 5;       // lost attempts re-run without counting as failures
  double budget_usd = 0;            // run-wide; 0: none. AI tasks stop starting once spent
  double budget_tokens = 0;         // run-wide; 0: none
  double planner_usd = 0;           // spent on planning the run: counts against the budget
  int64_t planner_tokens = 0;
  bool early_dependents = false;    // submit tasks while their dependencies run (see above)
  int queue_ahead = 0;              // launches beyond max_executors (Capabilities::queues_ahead)
  double recover_wait_s = 120;      // resume: how long to keep asking a backend that cannot tell
};

struct RunCounts {
  size_t pending = 0;  // waiting for dependencies or a free executor
  size_t running = 0;  // given to the backend (held ones included)
  size_t queued = 0;   // of those, waiting in the backend for one of its M slots (queue_ahead)
  size_t retry_wait = 0;
  size_t succeeded = 0;
  size_t failed = 0;
  size_t skipped = 0;
  size_t cancelled = 0;
};

// Told about each transition, on the scheduler's thread, after the journal
// record was appended. For progress displays; must not call back in.
class SchedulerListener {
 public:
  virtual ~SchedulerListener() = default;
  // A task's dependencies all succeeded (or it has none): it waits for an
  // executor from now on. Not called for tasks restored as ready.
  virtual void OnReady(Dag::Index) {}
  virtual void OnLaunched(const Task&, int /*attempt*/, const std::string& /*job_id*/) {}
  virtual void OnFinished(const Task&, const BackendEvent&, TaskState /*now*/,
                          double /*retry_delay*/) {}
  virtual void OnSkipped(const Task&, const std::string& /*why*/) {}
  virtual void OnTick(const RunCounts&, double /*now*/) {}
};

// A step every succeeded attempt passes before the scheduler counts it: the
// run's output merge (run/merge.h). Called on the scheduler's thread, after
// the backend reported success and before the journal records it; it may
// turn the success into a failure (set ev->reason and ev->detail), which is
// then handled like any other failure (retried per policy).
class CompletionStage {
 public:
  virtual ~CompletionStage() = default;
  virtual void OnSucceeded(const Task& task, BackendEvent* ev) = 0;
  // Every attempt that ended in failure (not one re-queued by the backend);
  // may add to ev->detail, not change the reason.
  virtual void OnFailed(const Task& /*task*/, BackendEvent* /*ev*/) {}
};

struct RunSummary {
  RunCounts counts;
  bool interrupted = false;  // a stop request ended the run early
  bool halted = false;       // fail-fast stopped new starts
  bool budget_exhausted = false;  // AI tasks were held back: the budget was spent
  double spent_usd = 0;      // AI tasks' cost, this run in total (resumes included)
  int64_t spent_tokens = 0;
  double started_at = 0;
  double finished_at = 0;

  bool all_succeeded() const {
    return !interrupted && counts.succeeded ==
                               counts.succeeded + counts.failed + counts.skipped +
                                   counts.cancelled + counts.pending + counts.retry_wait;
  }
};

class Scheduler {
 public:
  // Nothing is owned; all must outlive the Scheduler. `listener` and
  // `completion` may be null. `stop_requested` is polled once per loop turn.
  Scheduler(const Plan& plan, const Dag& dag, Backend* backend, Journal* journal, Clock* clock,
            RetryPolicy policy, SchedulerOptions options, SchedulerListener* listener,
            std::function<bool()> stop_requested, CompletionStage* completion = nullptr);

  // Continues from a previous process's journal (resume). Call before Run().
  // Succeeded tasks stay done; attempts in flight are offered to the backend
  // for re-adoption; everything else (failed, skipped, cancelled) runs again
  // with a fresh retry budget.
  void Restore(const RunState& state);

  // Runs to the end. An error means the journal could not be written: the
  // run stopped where it was and can be resumed.
  Result<RunSummary> Run();

  TaskState state(Dag::Index i) const { return static_cast<TaskState>(state_[i]); }
  int attempt(Dag::Index i) const { return attempt_[i]; }

 private:
  using Key = uint64_t;  // (remaining path << 32) | ~index: max-heap order
  Key ReadyKey(Dag::Index i) const {
    return (static_cast<uint64_t>(path_len_[i]) << 32) | (UINT32_MAX - i);
  }

  void SetState(Dag::Index i, TaskState s);
  void MakeReady(Dag::Index i);
  Status LaunchReady();
  // One round of launches; sets *launched to how many were submitted.
  Status LaunchBatch(size_t* launched);
  void OfferHeld(Dag::Index i) {
    if (held_) held_->Offer(i);
  }
  // The ending of an attempt that was held behind a dependency that did not
  // succeed: it waits for the dependency again (no retry charged).
  void HandleRequeued(Dag::Index i, const BackendEvent& ev);
  // Resume: asks the backend about every attempt the journal shows in
  // flight, waiting (up to recover_wait_s) for a backend that cannot tell.
  Status RecoverInFlight();
  RunSummary Summarize(double finished_at) const;
  void AppendFinished(const Task& t, const BackendEvent& ev, Decision decision);
  // What becomes of task `i` after its attempt ended with `ev` (pure).
  Decision Decide(Dag::Index i, const BackendEvent& ev) const;
  // Puts `i` in retry-wait after its backoff; returns the delay.
  double ScheduleRetry(Dag::Index i, const BackendEvent& ev);
  void Skip(Dag::Index i, const std::string& why, double now);
  void PromoteDueRetries(double now);
  Status Handle(const BackendEvent& ev);
  // A launch the backend refused: a task problem fails the attempt; a
  // backend that cannot work (Unavailable, Infeasible) stops the run.
  Status SubmitFailed(const Launch& l, const Status& why);
  // The backend's error, once it has one (a refused submit, health()): the
  // journal notes it and Run() returns it; in-flight attempts stay running
  // in the journal, for resume.
  Status StopForBackend();
  void Finish(Dag::Index i, const BackendEvent& ev);
  void SkipDownstream(Dag::Index failed);
  void RequestStop();
  bool Done() const;
  // Appends to the journal; the first error is kept in journal_error_ and
  // stops the run at the next sync.
  void Append(JournalRecord rec);
  // How many attempts may be with the backend at once.
  size_t Cap() const { return static_cast<size_t>(options_.max_executors + std::max(0, options_.queue_ahead)); }
  // Makes the journal ready for launches: durable (Sync), or only written
  // where the backend allows it (Backend::NeedsDurableLaunches).
  Status SyncForLaunch(double now);
  // Cancels the attempts the backend holds and has not started
  // (Capabilities::queues_ahead), at a fail-fast halt.
  void CancelUnstarted();
  // Syncs the journal if a second passed since SyncIfDue last did.
  Status SyncIfDue(double now);

  const Plan& plan_;
  const Dag& dag_;
  Backend* backend_;
  Journal* journal_;
  Clock* clock_;
  RetryPolicy policy_;
  SchedulerOptions options_;
  SchedulerListener* listener_;
  std::function<bool()> stop_requested_;
  CompletionStage* completion_;

  std::vector<uint8_t> state_;
  std::vector<uint8_t> started_;  // the current attempt's kStarted arrived
  std::vector<int32_t> attempt_;
  std::vector<uint8_t> failures_;
  std::vector<uint8_t> lost_;
  std::vector<uint32_t> waiting_on_;  // dependencies not yet succeeded
  std::vector<uint32_t> path_len_;
  std::priority_queue<Key> ready_;
  std::unique_ptr<HeldDependents> held_;  // only with early_dependents
  using Timer = std::pair<double, Dag::Index>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> retries_;
  std::vector<InFlight> to_recover_;
  RunCounts counts_;
  bool resumed_ = false;
  double spent_usd_ = 0;
  int64_t spent_tokens_ = 0;
  bool budget_exhausted_ = false;
  bool BudgetSpent() const {
    return (options_.budget_usd > 0 && spent_usd_ >= options_.budget_usd) ||
           (options_.budget_tokens > 0 && spent_tokens_ >= options_.budget_tokens);
  }
  bool stopping_ = false;
  bool halted_ = false;
  std::mt19937_64 rng_;
  Status journal_error_;
  double last_sync_ = -1e300;  // when SyncIfDue last synced
  Status backend_error_;
};

}  // namespace porch
