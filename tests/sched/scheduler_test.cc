#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "fakes/fake_backend.h"
#include "fakes/fake_clock.h"
#include "fakes/memory_journal.h"

namespace porch {
namespace {

using Type = JournalRecord::Type;

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : backend_(&clock_) {
    retry_.max_retries = 2;
    retry_.backoff = {/*initial_s=*/10, /*multiplier=*/3, /*max_s=*/1000, /*jitter=*/0};
  }

  void AddTask(const std::string& id, std::vector<std::string> deps = {}) {
    Task t;
    t.id = id;
    t.command = "true";
    t.depends_on = std::move(deps);
    plan_.tasks.push_back(t);
  }

  RunSummary Run(int m, std::function<bool()> stop = nullptr) {
    dag_ = std::make_unique<Dag>(plan_);
    scheduler_ = std::make_unique<Scheduler>(plan_, *dag_, &backend_, &journal_, &clock_,
                                             RetryPolicy(retry_), Options(m), nullptr,
                                             std::move(stop));
    if (restore_) scheduler_->Restore(*restore_);
    Result<RunSummary> s = scheduler_->Run();
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : RunSummary{};
  }

  SchedulerOptions Options(int m) {
    SchedulerOptions o;
    o.max_executors = m;
    o.fail_fast = fail_fast_;
    o.jitter_seed = 1;
    o.budget_usd = budget_usd_;
    o.early_dependents = backend_.hold_dependents;
    o.queue_ahead = backend_.queues_ahead;
    return o;
  }

  std::vector<std::string> SubmitOrder() const {
    std::vector<std::string> out;
    for (const auto& s : backend_.submits) out.push_back(s.task);
    return out;
  }

  double SubmitTime(const std::string& task, int attempt) const {
    for (const auto& s : backend_.submits) {
      if (s.task == task && s.attempt == attempt) return s.time - start_;
    }
    return -1;
  }

  TaskState StateOf(const std::string& id) const {
    return scheduler_->state(static_cast<Dag::Index>(dag_->Find(id)));
  }

  FakeClock clock_;
  double start_ = clock_.Now();
  FakeBackend backend_;
  MemoryJournal journal_;
  RetryOptions retry_;
  bool fail_fast_ = false;
  double budget_usd_ = 0;
  Plan plan_;
  std::unique_ptr<Dag> dag_;
  std::unique_ptr<Scheduler> scheduler_;
  std::optional<RunState> restore_;
};

TEST_F(SchedulerTest, RunsDependenciesFirst) {
  AddTask("c", {"b"});
  AddTask("b", {"a"});
  AddTask("a");
  RunSummary s = Run(5);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_EQ(SubmitOrder(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_DOUBLE_EQ(SubmitTime("b", 1), 1.0);
  EXPECT_DOUBLE_EQ(SubmitTime("c", 1), 2.0);
  EXPECT_DOUBLE_EQ(s.finished_at - s.started_at, 3.0);
}

TEST_F(SchedulerTest, NeverRunsMoreThanM) {
  for (int i = 0; i < 20; ++i) AddTask("t" + std::to_string(i));
  RunSummary s = Run(3);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_EQ(backend_.max_running, 3u);
  EXPECT_EQ(backend_.submits.size(), 20u);
  // 20 unit tasks on 3 executors: ceil(20/3) = 7 rounds.
  EXPECT_DOUBLE_EQ(s.finished_at - s.started_at, 7.0);
}

TEST_F(SchedulerTest, CriticalPathFirstThenPlanOrder) {
  AddTask("short1");
  AddTask("short2");
  AddTask("long1");
  AddTask("long2", {"long1"});
  AddTask("long3", {"long2"});
  AddTask("mid1");
  AddTask("mid2", {"mid1"});
  Run(1);
  std::vector<std::string> order = SubmitOrder();
  ASSERT_GE(order.size(), 3u);
  EXPECT_EQ(order[0], "long1");  // remaining path 3
  EXPECT_EQ(order[1], "long2");  // now path 2, ties with mid1; earlier in plan? long2 is index 3, mid1 is 5
  EXPECT_EQ(order[2], "mid1");
}

TEST_F(SchedulerTest, FailurePropagatesSkipsAndIndependentBranchesGoOn) {
  retry_.max_retries = 0;
  AddTask("a");
  AddTask("b", {"a"});
  AddTask("c", {"b"});
  AddTask("x");
  AddTask("y", {"x"});
  backend_.Script("a", {{1.0, 1, FailureReason::kExitCode}});
  RunSummary s = Run(2);
  EXPECT_FALSE(s.all_succeeded());
  EXPECT_EQ(s.counts.failed, 1u);
  EXPECT_EQ(s.counts.skipped, 2u);
  EXPECT_EQ(s.counts.succeeded, 2u);
  EXPECT_EQ(StateOf("b"), TaskState::kSkipped);
  EXPECT_EQ(StateOf("c"), TaskState::kSkipped);
  EXPECT_EQ(StateOf("y"), TaskState::kSucceeded);
  auto skips = journal_.Of(Type::kSkipped, "c");
  ASSERT_EQ(skips.size(), 1u);
  EXPECT_EQ(skips[0].detail, "dependency 'a' failed");
}

// Early dependents: the backend (like SLURM's afterok) holds a task until
// its dependencies succeed, so porch submits it while they still run.
TEST_F(SchedulerTest, HeldDependentsAreSubmittedWhileTheirDependenciesRun) {
  backend_.hold_dependents = true;
  AddTask("a");
  AddTask("b", {"a"});
  AddTask("c", {"b"});
  AddTask("d", {"a", "c"});
  RunSummary s = Run(4);
  EXPECT_TRUE(s.all_succeeded());
  for (const char* t : {"a", "b", "c", "d"}) EXPECT_DOUBLE_EQ(SubmitTime(t, 1), 0) << t;
  ASSERT_EQ(backend_.submits.size(), 4u);
  EXPECT_TRUE(backend_.submits[0].after.empty());
  EXPECT_EQ(backend_.submits[1].after, (std::vector<std::string>{"fake-1"}));
  EXPECT_EQ(backend_.submits[2].after, (std::vector<std::string>{"fake-2"}));
  EXPECT_EQ(backend_.submits[3].after, (std::vector<std::string>{"fake-1", "fake-3"}));
  EXPECT_DOUBLE_EQ(clock_.Now() - start_, 4);  // the chain, back to back
}

TEST_F(SchedulerTest, HeldDependentsCountAgainstM) {
  backend_.hold_dependents = true;
  AddTask("a");
  AddTask("b", {"a"});
  AddTask("c", {"b"});
  RunSummary s = Run(2);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_LE(backend_.max_running, 2u);
  EXPECT_DOUBLE_EQ(SubmitTime("c", 1), 1);  // once a finished
}

TEST_F(SchedulerTest, HeldDependentWaitsAgainWhenItsDependencyIsRetried) {
  backend_.hold_dependents = true;
  AddTask("a");
  AddTask("b", {"a"});
  AddTask("c", {"b"});
  backend_.Script("a", {{1.0, 1, FailureReason::kExitCode}, {1.0, 0, FailureReason::kNone}});
  RunSummary s = Run(3);
  EXPECT_TRUE(s.all_succeeded());
  // b and c were held behind attempt 1 of a; they were cancelled when it
  // failed (no retry charged) and held again behind attempt 2.
  EXPECT_EQ(scheduler_->attempt(1), 2);
  EXPECT_EQ(scheduler_->attempt(2), 2);
  auto b = journal_.Of(Type::kFinished, "b");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].reason, FailureReason::kLost);
  EXPECT_EQ(b[1].reason, FailureReason::kNone);
  EXPECT_TRUE(journal_.Of(Type::kRetryScheduled, "b").empty());
  EXPECT_DOUBLE_EQ(SubmitTime("a", 2), 11);
  EXPECT_DOUBLE_EQ(SubmitTime("b", 2), 11);
  EXPECT_DOUBLE_EQ(SubmitTime("c", 2), 11);
  ASSERT_EQ(backend_.submits.back().after.size(), 1u);
}

TEST_F(SchedulerTest, HeldDependentsAreSkippedWhenTheDependencyFailsForGood) {
  backend_.hold_dependents = true;
  retry_.max_retries = 0;
  AddTask("a");
  AddTask("b", {"a"});
  AddTask("c", {"b"});
  AddTask("x");
  backend_.Script("a", {{1.0, 1, FailureReason::kExitCode}});
  RunSummary s = Run(4);
  EXPECT_FALSE(s.all_succeeded());
  EXPECT_EQ(s.counts.failed, 1u);
  EXPECT_EQ(s.counts.skipped, 2u);
  EXPECT_EQ(s.counts.succeeded, 1u);
  EXPECT_EQ(StateOf("b"), TaskState::kSkipped);
  EXPECT_EQ(StateOf("c"), TaskState::kSkipped);
  EXPECT_EQ(backend_.cancels.size(), 2u);
  EXPECT_EQ(backend_.running(), 0u);
}

TEST_F(SchedulerTest, StopWithHeldDependentsCancelsThemAll) {
  backend_.hold_dependents = true;
  backend_.default_duration = 10;
  AddTask("a");
  AddTask("b", {"a"});
  int turns = 0;
  RunSummary s = Run(2, [&] { return ++turns > 2; });
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(backend_.running(), 0u);
  EXPECT_EQ(s.counts.running, 0u);
  EXPECT_EQ(s.counts.succeeded, 0u);
  EXPECT_EQ(backend_.submits.size(), 2u);  // b was held behind a
}

TEST_F(SchedulerTest, RetriesWithExponentialBackoff) {
  AddTask("flaky");
  backend_.Script("flaky", {{1.0, 1, FailureReason::kExitCode},
                            {1.0, 1, FailureReason::kExitCode},
                            {1.0, 0, FailureReason::kNone}});
  RunSummary s = Run(1);
  EXPECT_TRUE(s.all_succeeded());
  // Attempt 1 at 0 ends at 1; backoff 10 -> attempt 2 at 11, ends 12;
  // backoff 10*3 = 30 -> attempt 3 at 42.
  EXPECT_DOUBLE_EQ(SubmitTime("flaky", 1), 0);
  EXPECT_DOUBLE_EQ(SubmitTime("flaky", 2), 11);
  EXPECT_DOUBLE_EQ(SubmitTime("flaky", 3), 42);
  auto retries = journal_.Of(Type::kRetryScheduled, "flaky");
  ASSERT_EQ(retries.size(), 2u);
  EXPECT_DOUBLE_EQ(retries[0].not_before - start_, 11);
  EXPECT_DOUBLE_EQ(retries[1].not_before - start_, 42);
}

TEST_F(SchedulerTest, PerTaskRetriesOverrideAndExhaust) {
  AddTask("f");
  plan_.tasks[0].retries = 1;
  backend_.Script("f", {{1.0, 2, FailureReason::kExitCode}});
  RunSummary s = Run(1);
  EXPECT_EQ(s.counts.failed, 1u);
  EXPECT_EQ(backend_.submits.size(), 2u);  // 1 + 1 retry
}

TEST_F(SchedulerTest, NonRetryableFailureIsFinalAtOnce) {
  AddTask("missing");
  backend_.Script("missing", {{0.1, 127, FailureReason::kCommandNotFound}});
  RunSummary s = Run(1);
  EXPECT_EQ(s.counts.failed, 1u);
  EXPECT_EQ(backend_.submits.size(), 1u);
  EXPECT_TRUE(journal_.Of(Type::kRetryScheduled).empty());
}

TEST_F(SchedulerTest, OtherWorkRunsDuringBackoff) {
  AddTask("flaky");
  AddTask("other");
  backend_.Script("flaky", {{1.0, 1, FailureReason::kExitCode}, {1.0, 0, FailureReason::kNone}});
  backend_.Script("other", {{5.0, 0, FailureReason::kNone}});
  RunSummary s = Run(1);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_DOUBLE_EQ(SubmitTime("other", 1), 1);   // runs while flaky backs off
  EXPECT_DOUBLE_EQ(SubmitTime("flaky", 2), 11);  // backoff over at 11 (other done at 6)
}

TEST_F(SchedulerTest, FailFastStopsNewStartsButLetsRunningFinish) {
  retry_.max_retries = 0;
  fail_fast_ = true;
  AddTask("bad");
  AddTask("slow");
  AddTask("later1");
  AddTask("later2");
  backend_.Script("bad", {{1.0, 1, FailureReason::kExitCode}});
  backend_.Script("slow", {{3.0, 0, FailureReason::kNone}});
  RunSummary s = Run(2);
  EXPECT_TRUE(s.halted);
  EXPECT_FALSE(s.all_succeeded());
  EXPECT_EQ(StateOf("slow"), TaskState::kSucceeded);
  EXPECT_EQ(StateOf("later1"), TaskState::kPending);
  EXPECT_EQ(StateOf("later2"), TaskState::kPending);
  EXPECT_EQ(backend_.submits.size(), 2u);
}

TEST_F(SchedulerTest, StopRequestCancelsRunningAndStartsNothing) {
  AddTask("a");
  AddTask("b");
  AddTask("c");
  backend_.default_duration = 100;
  int polls = 0;
  RunSummary s = Run(2, [&] { return ++polls > 3; });
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(backend_.cancels.size(), 2u);
  EXPECT_EQ(s.counts.cancelled, 2u);
  EXPECT_EQ(StateOf("c"), TaskState::kPending);
  EXPECT_EQ(journal_.Of(Type::kInterrupted).size(), 1u);
  EXPECT_EQ(journal_.Of(Type::kRunFinished).back().detail, "interrupted");
}

TEST_F(SchedulerTest, SubmitRefusalIsAFailureOfThatAttempt) {
  AddTask("a");
  AddTask("b", {"a"});
  backend_.RefuseSubmit("a", Status::InvalidArgument("no executor for prompt tasks"));
  Run(1);
  EXPECT_EQ(StateOf("a"), TaskState::kFailed);
  EXPECT_EQ(StateOf("b"), TaskState::kSkipped);
  auto fin = journal_.Of(Type::kFinished, "a");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].reason, FailureReason::kInvalidTask);
  EXPECT_NE(fin[0].detail.find("no executor"), std::string::npos);
}

TEST_F(SchedulerTest, JournalIsSyncedBeforeEverySubmit) {
  AddTask("a");
  AddTask("b", {"a"});
  Run(1);
  // Every launching record reached the synced part before its submit: the
  // fake journal only moves records to `records` on Sync().
  auto launches = journal_.Of(Type::kLaunching);
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_GE(journal_.syncs, 3);
  EXPECT_TRUE(journal_.pending.empty());
}

// The local backend's kind: launches are written before they are submitted
// (a kill -9 of porch loses none) and synced once a second, not each.
TEST_F(SchedulerTest, LaunchesOfABackendWhoseAttemptsDieWithTheMachineAreSyncedOnceASecond) {
  for (int i = 0; i < 10; ++i) AddTask("t" + std::to_string(i), i ? std::vector<std::string>{"t" + std::to_string(i - 1)} : std::vector<std::string>{});
  backend_.durable_launches = false;
  backend_.durable_job_ids = false;  // as the local backend: spawned.log finds them
  backend_.default_duration = 0.05;  // ten launches within half a second
  journal_.writes_apart = true;
  Run(1);
  EXPECT_EQ(journal_.Of(Type::kLaunching).size(), 10u);
  EXPECT_GE(journal_.writes, 10);
  EXPECT_LE(journal_.syncs, 3) << "a sync per launch";
  EXPECT_TRUE(journal_.pending.empty()) << "the end syncs everything";

  // No launch for five seconds (both start at once): what was written is
  // still synced once a second.
  const int before = journal_.syncs;
  plan_.tasks.clear();
  AddTask("short");
  AddTask("long");
  backend_.Script("short", {FakeOutcome{0.3}});
  backend_.Script("long", {FakeOutcome{5.0}});
  Run(2);
  EXPECT_GE(journal_.syncs - before, 4);
}

// A backend that holds attempts ahead is given up to M of them beyond M;
// those it has not started are counted apart (and none is left at the end).
TEST_F(SchedulerTest, ABackendThatQueuesAheadIsGivenMoreThanMAndTheyCountAsQueued) {
  for (int i = 0; i < 8; ++i) AddTask("t" + std::to_string(i));
  backend_.queues_ahead = 2;
  RunSummary s = Run(2);
  EXPECT_EQ(backend_.max_running, 4u);
  EXPECT_EQ(s.counts.succeeded, 8u);
  EXPECT_EQ(s.counts.queued, 0u);
  EXPECT_EQ(s.counts.running, 0u);
}

// Each launch carries the scheduler's order, for a backend that holds
// attempts to start them in: the head of the longest chain first, then the
// earlier task among equals.
TEST_F(SchedulerTest, LaunchesCarryTheSchedulersOrderAsPriority) {
  AddTask("leaf1");
  AddTask("head");
  AddTask("leaf2");
  AddTask("tail", {"head"});
  backend_.queues_ahead = 3;
  Run(1);
  ASSERT_GE(backend_.submits.size(), 3u);
  std::map<std::string, uint64_t> priority;
  for (const auto& s : backend_.submits) priority[s.task] = s.priority;
  EXPECT_GT(priority["head"], priority["leaf1"]) << "a chain's head goes before a leaf";
  EXPECT_GT(priority["leaf1"], priority["leaf2"]) << "the earlier of two equals first";
  EXPECT_EQ(backend_.submits[0].task, "head");
}

// AI tasks are given only for a free slot (the budget must be able to stop
// them), and a fail-fast halt cancels what the backend holds unstarted.
TEST_F(SchedulerTest, AQueueingBackendHoldsNoAiTaskAndGivesUpItsQueueAtAFailFastHalt) {
  for (const char* id : {"ai1", "ai2", "ai3"}) {
    AddTask(id);
    plan_.tasks.back().command.clear();
    plan_.tasks.back().prompt = "write code";
  }
  backend_.queues_ahead = 1;
  Run(1);
  EXPECT_EQ(backend_.max_running, 1u) << "an AI task was held ahead";

  plan_.tasks.clear();
  backend_.submits.clear();
  AddTask("bad");
  AddTask("held");
  retry_.max_retries = 0;
  fail_fast_ = true;
  backend_.Script("bad", {{1.0, 1, FailureReason::kExitCode}});
  backend_.Script("held", {{5.0, 0, FailureReason::kNone}});
  Run(1);
  ASSERT_EQ(backend_.submits.size(), 2u) << "held was given ahead";
  ASSERT_EQ(backend_.cancels.size(), 1u);
  EXPECT_EQ(backend_.cancels[0].first, "1") << "the fake names tasks by index: 1 is held";
}

TEST_F(SchedulerTest, JournalFailureStopsTheRun) {
  AddTask("a");
  AddTask("b", {"a"});
  journal_.fail_syncs_after = 1;
  dag_ = std::make_unique<Dag>(plan_);
  Scheduler sched(plan_, *dag_, &backend_, &journal_, &clock_, RetryPolicy(retry_), Options(1),
                  nullptr, nullptr);
  Result<RunSummary> s = sched.Run();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("No space left"), std::string::npos);
  // It acted on nothing it could not record: b was never submitted.
  EXPECT_EQ(backend_.submits.size(), 1u);
}

TEST_F(SchedulerTest, RestoreSkipsSucceededAndReadoptsRunning) {
  AddTask("done");
  AddTask("inflight", {"done"});
  AddTask("lost", {"done"});
  AddTask("failed");
  AddTask("after", {"inflight", "lost"});
  RunState prev;
  prev.tasks["done"].state = TaskState::kSucceeded;
  prev.tasks["done"].attempts.push_back({1});
  prev.tasks["inflight"].state = TaskState::kRunning;
  prev.tasks["inflight"].attempts.push_back({1, "job-7"});
  prev.tasks["lost"].state = TaskState::kRunning;
  prev.tasks["lost"].attempts.push_back({1, "job-8"});
  prev.tasks["failed"].state = TaskState::kFailed;
  prev.tasks["failed"].attempts.push_back({3});
  restore_ = prev;
  backend_.SetRecover("inflight", RecoverOutcome::kAdopted, {2.0, 0, FailureReason::kNone});
  RunSummary s = Run(5);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_EQ(backend_.recovered, (std::vector<std::string>{"inflight", "lost"}));
  std::vector<std::string> order = SubmitOrder();
  EXPECT_EQ(std::count(order.begin(), order.end(), "done"), 0);
  EXPECT_EQ(std::count(order.begin(), order.end(), "inflight"), 0);  // adopted, not resubmitted
  EXPECT_EQ(std::count(order.begin(), order.end(), "lost"), 1);
  EXPECT_EQ(SubmitTime("lost", 2), 0);     // a lost attempt runs again as attempt 2
  EXPECT_EQ(SubmitTime("failed", 4), 0);   // attempt numbers continue
  EXPECT_EQ(journal_.Of(Type::kResumed).size(), 1u);
}

// A backend that cannot tell what became of an attempt (its engine is
// restarting) is asked again; the attempt is not called lost, so no second
// copy starts.
TEST_F(SchedulerTest, ResumeWaitsForABackendThatCannotTellYet) {
  AddTask("inflight");
  RunState prev;
  prev.tasks["inflight"].state = TaskState::kRunning;
  prev.tasks["inflight"].attempts.push_back({1, "job-7"});
  restore_ = prev;
  backend_.recover_failures = 3;
  backend_.SetRecover("inflight", RecoverOutcome::kAdopted, {2.0, 0, FailureReason::kNone});
  const double start = clock_.Now();
  RunSummary s = Run(5);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_EQ(backend_.recovered.size(), 4u);  // three refusals, then the answer
  EXPECT_TRUE(backend_.submits.empty());     // adopted, never started again
  EXPECT_GE(clock_.Now() - start, 6.0);      // it waited between asks
}

TEST_F(SchedulerTest, ResumeStopsWhenTheBackendNeverAnswers) {
  AddTask("inflight");
  AddTask("other");
  RunState prev;
  prev.tasks["inflight"].state = TaskState::kRunning;
  prev.tasks["inflight"].attempts.push_back({1, "job-7"});
  restore_ = prev;
  backend_.recover_failures = 1000;
  dag_ = std::make_unique<Dag>(plan_);
  SchedulerOptions o = Options(5);
  o.recover_wait_s = 30;
  Scheduler sched(plan_, *dag_, &backend_, &journal_, &clock_, RetryPolicy(retry_), o, nullptr,
                  nullptr);
  sched.Restore(prev);
  Result<RunSummary> r = sched.Run();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("re-adopting attempt 1 of task 'inflight' (nothing was "
                                      "started again)"),
            std::string::npos)
      << r.status().message();
  EXPECT_TRUE(backend_.submits.empty());  // neither the in-flight task nor anything else
}

TEST_F(SchedulerTest, BudgetStopsNewAgentWorkButNotCommands) {
  for (const char* id : {"ai1", "ai2", "ai3"}) {
    AddTask(id);
    plan_.tasks.back().command.clear();
    plan_.tasks.back().prompt = "write code";
  }
  AddTask("cmd", {"ai1"});
  for (const char* id : {"ai1", "ai2", "ai3"}) backend_.Script(id, {{1.0, 0, FailureReason::kNone, 0.6, 1000}});
  budget_usd_ = 1.0;
  RunSummary s = Run(1);
  // ai1 ($0.6) and ai2 ($1.2 in total) ran; then the budget was spent.
  EXPECT_TRUE(s.budget_exhausted);
  EXPECT_DOUBLE_EQ(s.spent_usd, 1.2);
  EXPECT_EQ(s.spent_tokens, 2000);
  EXPECT_EQ(StateOf("ai3"), TaskState::kPending);
  EXPECT_EQ(StateOf("cmd"), TaskState::kSucceeded);  // commands cost nothing
  EXPECT_FALSE(s.all_succeeded());
  auto fin = journal_.Of(Type::kFinished, "ai1");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_DOUBLE_EQ(fin[0].cost_usd, 0.6);
  EXPECT_EQ(fin[0].tokens, 1000);
}

TEST_F(SchedulerTest, LargeRandomDagRespectsDependenciesAndCap) {
  std::mt19937 rng(7);
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> deps;
    for (int k = 0; k < 3 && i > 0; ++k) {
      std::string d = "t" + std::to_string(rng() % i);
      if (std::find(deps.begin(), deps.end(), d) == deps.end()) deps.push_back(d);
    }
    AddTask("t" + std::to_string(i), deps);
  }
  std::uniform_real_distribution<double> dur(0.1, 3.0);
  for (int i = 0; i < n; ++i) backend_.Script("t" + std::to_string(i), {{dur(rng), 0, FailureReason::kNone}});
  RunSummary s = Run(8);
  EXPECT_TRUE(s.all_succeeded());
  EXPECT_LE(backend_.max_running, 8u);
  std::map<std::string, double> start;
  for (const auto& sub : backend_.submits) start[sub.task] = sub.time;
  auto finished = journal_.Of(Type::kFinished);
  std::map<std::string, double> end;
  for (const auto& f : finished) end[f.task] = f.time;
  for (const Task& t : plan_.tasks) {
    for (const std::string& d : t.depends_on) EXPECT_GE(start[t.id], end[d]) << t.id << " <- " << d;
  }
}

}  // namespace
}  // namespace porch
