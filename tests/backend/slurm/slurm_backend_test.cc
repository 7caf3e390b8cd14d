// The SLURM backend against a simulated cluster: a FakeCommandRunner that
// answers sbatch, squeue, sacct and scancel from a table of jobs the test
// moves through SLURM's states. No time passes but the FakeClock's.
#include "backend/slurm/slurm_backend.h"
#include "backend/slurm/job_script.h"

#include <gtest/gtest.h>

#include <regex>

#include "model/result_file.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_command_runner.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

struct SimJob {
  std::string name;
  SlurmState state = SlurmState::kPending;
  std::string script;
  std::string reason = "None";
  std::string comment;  // --comment (the run's uid)
};

constexpr const char* kUid = "0123456789abcdef";

class SlurmBackendUnitTest : public ::testing::Test {
 protected:
  SlurmBackendUnitTest() : layout_(tmp_.path() + "/run"), client_(&runner_, &clock_, ClientOptions()) {
    runner_.handler = [this](const std::vector<std::string>& argv) { return Answer(argv); };
    for (int k = 0; k < 6; ++k) {
      Task t;
      t.id = "t" + std::to_string(k);
      t.command = "true";
      plan_.tasks.push_back(t);
    }
    plan_.tasks[5].resources.gpus = 1;
  }
  static SlurmClientOptions ClientOptions() {
    SlurmClientOptions o;
    o.max_attempts = 2;
    return o;
  }
  SlurmBackendOptions Options() {
    SlurmBackendOptions o;
    o.run_id = "r1";
    o.uid = kUid;
    o.user = "alice";
    o.porch_path = "/usr/bin/porch";
    o.poll_s = 1;
    o.result_grace_s = 5;
    o.default_memory_bytes = 1ull << 30;
    o.max_memory_bytes = 4ull << 30;
    o.default_time_s = 100;
    o.max_time_s = 1000;
    o.array_throttle = 5;
    return o;
  }
  std::unique_ptr<SlurmBackend> Make(SlurmBackendOptions o) {
    return std::make_unique<SlurmBackend>(&client_, layout_, &clock_, o);
  }
  Launch L(Dag::Index i, int attempt = 1) { return {i, &plan_.tasks[i], attempt, 0}; }

  CommandOutput Answer(const std::vector<std::string>& argv) {
    const std::string& prog = argv[0];
    if (prog == "sbatch") {
      Result<std::string> script = ReadFile(argv.back());
      std::smatch m;
      std::string text = script.ok() ? *script : "";
      std::regex name_re("--job-name=(\\S+)"), array_re("--array=0-(\\d+)"),
          comment_re("--comment=\"?([^\"\\n]*)");
      std::regex_search(text, m, name_re);
      std::string name = m[1];
      std::string comment = std::regex_search(text, m, comment_re) ? std::string(m[1]) : "";
      std::string id = std::to_string(next_id_++);
      scripts_.push_back(text);
      if (std::regex_search(text, m, array_re)) {
        int last = std::stoi(m[1]);
        for (int k = 0; k <= last; ++k) {
          jobs_[id + "_" + std::to_string(k)] = {name, SlurmState::kPending, text, "None", comment};
        }
      } else {
        jobs_[id] = {name, SlurmState::kPending, text, "None", comment};
      }
      return FakeCommandRunner::Ok(id + "\n");
    }
    if (prog == "squeue") {
      if (controller_down_) return FakeCommandRunner::Fail(1, "Socket timed out on send/recv operation");
      std::string out;
      for (const auto& [id, j] : jobs_) {
        out += id + "|" + j.name + "|" + SlurmStateName(j.state) + "|" + j.reason + "|" + j.comment + "\n";
      }
      return FakeCommandRunner::Ok(out);
    }
    if (prog == "scancel") {
      for (size_t k = 1; k < argv.size(); ++k) {
        auto it = jobs_.find(argv[k]);
        if (it != jobs_.end()) it->second.state = SlurmState::kCancelled;
      }
      return FakeCommandRunner::Ok("");
    }
    if (prog == "sacct") {
      if (!accounting_) return FakeCommandRunner::Fail(1, "Slurm accounting storage is disabled");
      std::string out;
      for (const auto& [id, state] : accounted_) out += id + "|x|" + SlurmStateName(state) + "|0:0\n";
      return FakeCommandRunner::Ok(out);
    }
    return FakeCommandRunner::Fail(127, prog + ": unknown");
  }

  void WriteResult(const Task& t, int attempt, FailureReason reason, int exit_code = 0) {
    AttemptResult r;
    r.task_id = t.id;
    r.attempt = attempt;
    r.reason = reason;
    r.exit_code = exit_code;
    r.started_at = clock_.Now() - 1;
    r.finished_at = clock_.Now();
    r.detail = reason == FailureReason::kCancelled ? "cancelled (SIGTERM)" : "";
    ASSERT_TRUE(MakeDirs(layout_.attempt_dir(t.id, attempt)).ok());
    ASSERT_TRUE(WriteFileAtomic(layout_.result_path(t.id, attempt), AttemptResultToJson(r)).ok());
  }

  // Waits (in fake time) until a finished event arrives or `limit` passes.
  std::vector<BackendEvent> Finished(Backend& b, double limit = 60) {
    std::vector<BackendEvent> got;
    double end = clock_.Now() + limit;
    while (clock_.Now() < end) {
      for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
        if (ev.kind == BackendEvent::Kind::kFinished) got.push_back(ev);
      }
      if (!got.empty()) return got;
    }
    return got;
  }

  TempDir tmp_;
  RunLayout layout_;
  Plan plan_;
  FakeClock clock_;
  FakeCommandRunner runner_;
  SlurmClient client_;
  std::map<std::string, SimJob> jobs_;
  std::map<std::string, SlurmState> accounted_;
  std::vector<std::string> scripts_;
  int next_id_ = 100;
  bool controller_down_ = false;
  bool accounting_ = false;
};

TEST_F(SlurmBackendUnitTest, EqualResourcesGoOutAsOneArray) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0), L(1), L(2), L(5)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(*ids[0], "100_0");
  EXPECT_EQ(*ids[1], "100_1");
  EXPECT_EQ(*ids[2], "100_2");
  EXPECT_EQ(*ids[3], "101");  // the GPU task has other resources
  EXPECT_EQ(runner_.Count("sbatch"), 2);
  EXPECT_NE(scripts_[0].find("--array=0-2%5"), std::string::npos);
  EXPECT_NE(scripts_[1].find("--gres=gpu:1"), std::string::npos);
  EXPECT_NE(scripts_[1].find("--partition=gpu"), std::string::npos);
  EXPECT_TRUE(PathExists(b->ScriptPath("porch-0123456789abcdef-t0-1-array3")));
}

TEST_F(SlurmBackendUnitTest, ArraysAreSplitAtTheMaximumSize) {
  SlurmBackendOptions o = Options();
  o.max_array_size = 2;
  auto b = Make(o);
  std::vector<Launch> ls = {L(0), L(1), L(2), L(3), L(4)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  EXPECT_EQ(runner_.Count("sbatch"), 3);  // 2 + 2 + 1
  EXPECT_EQ(*ids[1], "100_1");
  EXPECT_EQ(*ids[2], "101_0");
  EXPECT_EQ(*ids[4], "102");
}

TEST_F(SlurmBackendUnitTest, ArraysOffMeansOneJobPerAttempt) {
  SlurmBackendOptions o = Options();
  o.arrays = false;
  auto b = Make(o);
  std::vector<Launch> ls = {L(0), L(1), L(2)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  EXPECT_EQ(runner_.Count("sbatch"), 3);
  EXPECT_EQ(*ids[2], "102");
  EXPECT_EQ(scripts_[0].find("--array"), std::string::npos);
}

TEST_F(SlurmBackendUnitTest, ResultFileIsTheAuthorityAndOnePollServesAllJobs) {
  auto b = Make(Options());
  std::vector<Launch> ls;
  for (Dag::Index i = 0; i < 5; ++i) ls.push_back(L(i));
  b->Submit(ls);
  for (auto& [id, j] : jobs_) j.state = SlurmState::kRunning;
  std::vector<BackendEvent> evs = b->Wait(clock_.Now() + 2);
  EXPECT_EQ(evs.size(), 5u);  // started
  for (const BackendEvent& ev : evs) EXPECT_EQ(ev.kind, BackendEvent::Kind::kStarted);
  int squeues = runner_.Count("squeue");
  EXPECT_EQ(squeues, 1);
  WriteResult(plan_.tasks[0], 1, FailureReason::kNone);
  WriteResult(plan_.tasks[1], 1, FailureReason::kExitCode, 3);
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].reason, FailureReason::kNone);
  EXPECT_EQ(done[1].reason, FailureReason::kExitCode);
  EXPECT_EQ(done[1].exit_code, 3);
  EXPECT_EQ(runner_.Count("squeue"), squeues + 1);
}

TEST_F(SlurmBackendUnitTest, VanishedJobWithItsResultIsNotAFailure) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0)};
  b->Submit(ls);
  jobs_.clear();  // MinJobAge passed: squeue forgot the job
  std::vector<BackendEvent> none = b->Wait(clock_.Now() + 3);
  EXPECT_TRUE(none.empty());  // no result yet: wait for shared storage
  WriteResult(plan_.tasks[0], 1, FailureReason::kNone);
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kNone);
}

TEST_F(SlurmBackendUnitTest, VanishedWithoutTraceIsLostAfterTheGrace) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0)};
  b->Submit(ls);
  jobs_.clear();
  double t0 = clock_.Now();
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kLost);
  EXPECT_NE(done[0].detail.find("no accounting"), std::string::npos);
  EXPECT_GE(clock_.Now() - t0, 5.0);
}

TEST_F(SlurmBackendUnitTest, VanishedJobIsResolvedFromAccounting) {
  accounting_ = true;
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0), L(1)};
  SlurmBackendOptions o = Options();
  b->Submit(ls);
  jobs_.clear();
  accounted_["100_0"] = SlurmState::kOutOfMemory;
  accounted_["100_1"] = SlurmState::kRunning;  // accounting says it still runs
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].index, 0u);
  EXPECT_EQ(done[0].reason, FailureReason::kOom);
  EXPECT_GE(runner_.Count("sacct"), 1);
}

TEST_F(SlurmBackendUnitTest, OutOfMemoryDoublesMemoryUpToTheCap) {
  auto b = Make(Options());
  for (int attempt = 1; attempt <= 4; ++attempt) {
    std::vector<Launch> ls = {L(0, attempt)};
    std::vector<Result<std::string>> ids = b->Submit(ls);
    jobs_[*ids[0]].state = SlurmState::kOutOfMemory;
    std::vector<BackendEvent> done = Finished(*b);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].reason, FailureReason::kOom);
  }
  ASSERT_EQ(scripts_.size(), 4u);
  EXPECT_NE(scripts_[0].find("--mem=1G"), std::string::npos);
  EXPECT_NE(scripts_[1].find("--mem=2G"), std::string::npos);
  EXPECT_NE(scripts_[2].find("--mem=4G"), std::string::npos);
  EXPECT_NE(scripts_[3].find("--mem=4G"), std::string::npos);  // capped
}

TEST_F(SlurmBackendUnitTest, TimeoutIsExplainedBySlurmAndDoublesTheLimit) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0, 1)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  // SLURM's time limit sent SIGTERM; exec-task wrote "cancelled".
  jobs_[*ids[0]].state = SlurmState::kRunning;
  WriteResult(plan_.tasks[0], 1, FailureReason::kCancelled);
  std::vector<BackendEvent> early = b->Wait(clock_.Now() + 2);
  for (const BackendEvent& ev : early) EXPECT_NE(ev.kind, BackendEvent::Kind::kFinished);
  jobs_[*ids[0]].state = SlurmState::kTimeout;
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kTimeout);
  std::vector<Launch> again = {L(0, 2)};
  b->Submit(again);
  EXPECT_NE(scripts_[0].find("limit=100\n"), std::string::npos);
  EXPECT_NE(scripts_[1].find("limit=200\n"), std::string::npos);
}

TEST_F(SlurmBackendUnitTest, NodeFailureAndPreemptionAreLostNotFailed) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0), L(5)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  jobs_[*ids[0]].state = SlurmState::kNodeFail;
  jobs_[*ids[1]].state = SlurmState::kPreempted;
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 2u);
  for (const BackendEvent& ev : done) EXPECT_EQ(ev.reason, FailureReason::kLost);
}

TEST_F(SlurmBackendUnitTest, FailedJobWithoutResultIsABackendErrorAfterTheGrace) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  jobs_[*ids[0]].state = SlurmState::kFailed;
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kBackendError);
  EXPECT_NE(done[0].detail.find("slurm.porch_path"), std::string::npos);
}

TEST_F(SlurmBackendUnitTest, CancelsAreOneScancel) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0), L(1), L(2)};
  b->Submit(ls);
  b->Cancel(0, 1);
  b->Cancel(1, 1);
  b->Cancel(2, 1);
  b->Cancel(2, 1);  // twice: still once
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(runner_.Count("scancel"), 1);
  EXPECT_EQ(runner_.CallsOf("scancel")[0],
            (std::vector<std::string>{"scancel", "100_0", "100_1", "100_2"}));
  while (done.size() < 3) {
    std::vector<BackendEvent> more = Finished(*b);
    if (more.empty()) break;
    done.insert(done.end(), more.begin(), more.end());
  }
  ASSERT_EQ(done.size(), 3u);
  for (const BackendEvent& ev : done) EXPECT_EQ(ev.reason, FailureReason::kCancelled);
}

TEST_F(SlurmBackendUnitTest, ACancelledJobIsCancelledWhateverTheTaskDiedOf) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  jobs_[*ids[0]].state = SlurmState::kRunning;
  b->Cancel(0, 1);
  // scancel's SIGTERM reached the task's command before exec-task noticed.
  WriteResult(plan_.tasks[0], 1, FailureReason::kSignal, 143);
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kCancelled);
}

TEST_F(SlurmBackendUnitTest, RecoverAdoptsJobsAndCancelsOrphans) {
  const std::string mine = SlurmJobComment(kUid);
  jobs_["50"] = {"porch-x-t0-1", SlurmState::kRunning, "", "None", mine};
  jobs_["51"] = {"porch-x-t1-1", SlurmState::kPending, "", "None", mine};  // porch never recorded it
  jobs_["52"] = {"someone-else", SlurmState::kRunning, "", "None", ""};
  // Another run with the same run id and the same job names, but its own uid:
  // not an orphan of this run, never cancelled.
  jobs_["53"] = {"porch-x-t1-1", SlurmState::kRunning, "", "None", SlurmJobComment("fedcba9876543210")};
  auto b = Make(Options());
  EXPECT_EQ(*b->Recover({0, &plan_.tasks[0], 1, "50"}), RecoverOutcome::kAdopted);
  EXPECT_EQ(*b->Recover({1, &plan_.tasks[1], 1, ""}), RecoverOutcome::kLost);
  WriteResult(plan_.tasks[2], 1, FailureReason::kNone);
  EXPECT_EQ(*b->Recover({2, &plan_.tasks[2], 1, ""}), RecoverOutcome::kAdopted);
  std::vector<BackendEvent> evs = b->Wait(clock_.Now() + 2);
  EXPECT_EQ(runner_.Count("sbatch"), 0);
  ASSERT_EQ(runner_.Count("scancel"), 1);
  EXPECT_EQ(runner_.CallsOf("scancel")[0], (std::vector<std::string>{"scancel", "51"}));
  bool t2_done = false;
  for (const BackendEvent& ev : evs) t2_done |= ev.index == 2 && ev.kind == BackendEvent::Kind::kFinished;
  EXPECT_TRUE(t2_done);
  WriteResult(plan_.tasks[0], 1, FailureReason::kNone);
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].index, 0u);
  EXPECT_EQ(done[0].reason, FailureReason::kNone);
}

TEST_F(SlurmBackendUnitTest, ABusyControllerDelaysButFailsNothing) {
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0)};
  b->Submit(ls);
  controller_down_ = true;
  std::vector<BackendEvent> evs;
  for (int k = 0; k < 30; ++k) {
    std::vector<BackendEvent> got = b->Wait(clock_.Now() + 1);
    evs.insert(evs.end(), got.begin(), got.end());
  }
  EXPECT_TRUE(evs.empty());
  controller_down_ = false;
  WriteResult(plan_.tasks[0], 1, FailureReason::kNone);
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kNone);
}

TEST_F(SlurmBackendUnitTest, HeldDependentsCarryAfterokAndGroupByDependencies) {
  SlurmBackendOptions o = Options();
  o.hold_dependents = true;
  auto b = Make(o);
  EXPECT_TRUE(b->capabilities().holds_dependents);
  std::vector<Launch> ls = {L(0), L(1), L(2), L(3)};
  ls[0].after = {"7"};
  ls[1].after = {"7"};
  ls[2].after = {"7", "8_1"};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  EXPECT_EQ(runner_.Count("sbatch"), 3);  // {t0,t1} after 7; t2 after 7,8_1; t3 free
  EXPECT_EQ(*ids[0], "101_0");
  EXPECT_EQ(*ids[1], "101_1");
  int with_7 = 0, with_both = 0, free = 0;
  for (const std::string& sc : scripts_) {
    with_7 += sc.find("--dependency=afterok:7\n") != std::string::npos;
    with_both += sc.find("--dependency=afterok:7:8_1\n") != std::string::npos;
    free += sc.find("--dependency") == std::string::npos;
    if (sc.find("--dependency") != std::string::npos) {
      EXPECT_NE(sc.find("--kill-on-invalid-dep=yes"), std::string::npos);
    }
  }
  EXPECT_EQ(with_7, 1);
  EXPECT_EQ(with_both, 1);
  EXPECT_EQ(free, 1);

  // SLURM cancels a held job whose dependency failed: it never ran.
  jobs_["101_0"].state = SlurmState::kPending;
  jobs_["101_0"].reason = "DependencyNeverSatisfied";
  b->Wait(clock_.Now() + 2);
  jobs_["101_0"].state = SlurmState::kCancelled;
  std::vector<BackendEvent> done = Finished(*b);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].index, 0u);
  EXPECT_EQ(done[0].reason, FailureReason::kLost);
  EXPECT_NE(done[0].detail.find("DependencyNeverSatisfied"), std::string::npos);
}

TEST_F(SlurmBackendUnitTest, WithoutHoldingDependenciesAreIgnored) {
  auto b = Make(Options());
  EXPECT_FALSE(b->capabilities().holds_dependents);
  std::vector<Launch> ls = {L(0)};
  ls[0].after = {"7"};
  b->Submit(ls);
  EXPECT_EQ(scripts_[0].find("--dependency"), std::string::npos);
}

TEST_F(SlurmBackendUnitTest, SubmitErrorsReachTheScheduler) {
  runner_.handler = [](const std::vector<std::string>& argv) {
    if (argv[0] == "sbatch") {
      return FakeCommandRunner::Fail(1, "sbatch: error: Batch job submission failed: Invalid "
                                        "account or account/partition combination specified");
    }
    return FakeCommandRunner::Ok("");
  };
  auto b = Make(Options());
  std::vector<Launch> ls = {L(0), L(1)};
  std::vector<Result<std::string>> ids = b->Submit(ls);
  ASSERT_EQ(ids.size(), 2u);
  for (const auto& id : ids) {
    ASSERT_FALSE(id.ok());
    EXPECT_NE(id.status().message().find("Invalid account"), std::string::npos);
  }
}

}  // namespace
}  // namespace porch
