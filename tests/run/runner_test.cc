#include "run/runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include "fakes/fake_backend.h"
#include "fakes/fake_clock.h"
#include "journal/journal.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

// Hands the Runner a backend the test keeps: the Runner destroys what its
// factory returns at the end of each run, and the test reads the record after.
class Borrowed : public Backend {
 public:
  explicit Borrowed(FakeBackend* b) : b_(b) {}
  std::string name() const override { return b_->name(); }
  std::vector<Result<std::string>> Submit(std::span<const Launch> l) override { return b_->Submit(l); }
  std::vector<BackendEvent> Wait(double deadline) override { return b_->Wait(deadline); }
  void Cancel(Dag::Index i, int attempt) override { b_->Cancel(i, attempt); }
  Result<RecoverOutcome> Recover(const InFlight& f) override { return b_->Recover(f); }
  Capabilities capabilities() const override { return b_->capabilities(); }

 private:
  FakeBackend* b_;
};

// The Runner over a FakeBackend on a FakeClock, in a real run directory:
// what it writes, what it refuses, and how it resumes.
class RunnerTest : public ::testing::Test {
 protected:
  RunnerTest() {
    ConfigLoader loader;
    EXPECT_TRUE(loader.ApplyFlag("output_dir", dir_.path(), "test").ok());
    EXPECT_TRUE(loader.ApplyFlag("retry.retry_delay_seconds", "0", "test").ok());
    config_ = loader.loaded();
    for (const char* id : {"a", "b", "c"}) {
      Task t;
      t.id = id;
      t.command = "true";
      if (std::string(id) != "a") t.depends_on = {"a"};
      plan_.tasks.push_back(t);
    }
  }

  BackendFactory Factory() {
    return [this](const Config&, const RunLayout& layout, const RunIdentity& id, Clock*,
                  const Plan&) -> Result<std::unique_ptr<Backend>> {
      ++factory_calls_;
      factory_layout_ = layout.dir();
      factory_uid_ = id.uid;
      if (!factory_error_.ok()) return factory_error_;
      backends_.push_back(std::make_unique<FakeBackend>(&clock_));
      backend_ = backends_.back().get();
      if (script_) script_(*backend_);
      return std::unique_ptr<Backend>(std::make_unique<Borrowed>(backend_));
    };
  }

  Runner MakeRunner(std::function<bool()> stop = nullptr) {
    return Runner(&clock_, Factory(), nullptr, std::move(stop));
  }

  TempDir dir_;
  FakeClock clock_;
  LoadedConfig config_;
  Plan plan_;
  std::vector<std::unique_ptr<FakeBackend>> backends_;
  FakeBackend* backend_ = nullptr;  // the latest
  std::function<void(FakeBackend&)> script_;
  Status factory_error_;
  int factory_calls_ = 0;
  std::string factory_layout_;
  std::string factory_uid_;
};

TEST_F(RunnerTest, StartWritesTheRunDirectoryAndReport) {
  Runner runner = MakeRunner();
  Result<RunOutcome> out = runner.Start(plan_, config_, "r1");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  RunLayout layout(RunLayout::RunDir(dir_.path(), "r1"));
  EXPECT_EQ(out->run_id, "r1");
  EXPECT_EQ(out->run_dir, layout.dir());
  EXPECT_EQ(factory_layout_, layout.dir());
  EXPECT_EQ(out->summary.counts.succeeded, 3u);
  EXPECT_TRUE(out->summary.all_succeeded());
  for (const std::string& f : {layout.plan(), layout.config(), layout.journal(), layout.metrics(),
                               layout.report()}) {
    EXPECT_TRUE(PathExists(f)) << f;
  }
  EXPECT_TRUE(IsDirectory(layout.output()));
  // The stored run loads back as it ran.
  Result<LoadedRun> loaded = LoadRun(layout.dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->plan.tasks.size(), 3u);
  EXPECT_EQ(loaded->state.run_id, "r1");
  EXPECT_EQ(loaded->state.tasks.at("c").state, TaskState::kSucceeded);
  EXPECT_EQ(backend_->submits.size(), 3u);
  // The run's unique id is stored and handed to the backend.
  Result<RunIdentity> id = ReadRunIdentity(layout);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(id->run_id, "r1");
  EXPECT_EQ(id->uid.size(), 16u);
  EXPECT_EQ(factory_uid_, id->uid);
}

TEST_F(RunnerTest, TwoRunsWithOneRunIdInTwoDirectoriesHaveDistinctUids) {
  Runner runner = MakeRunner();
  ASSERT_TRUE(runner.Start(plan_, config_, "same").ok());
  std::string first = factory_uid_;
  LoadedConfig elsewhere = config_;
  elsewhere.config.output_dir = dir_.path() + "/other";
  ASSERT_TRUE(MakeRunner().Start(plan_, elsewhere, "same").ok());
  EXPECT_NE(factory_uid_, first);
  // A resume keeps the run's uid.
  Result<RunOutcome> again = MakeRunner().Resume(RunLayout::RunDir(dir_.path(), "same"), config_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(factory_uid_, first);
}

TEST_F(RunnerTest, AnExistingRunIsRefusedAndLeftAlone) {
  Runner runner = MakeRunner();
  ASSERT_TRUE(runner.Start(plan_, config_, "same").ok());
  RunLayout layout(RunLayout::RunDir(dir_.path(), "same"));
  std::string plan_before = *ReadFile(layout.plan());
  std::string journal_before = *ReadFile(layout.journal());
  Plan other = plan_;
  other.tasks.resize(1);
  Result<RunOutcome> again = runner.Start(other, config_, "same");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(again.status().message().find("porch resume same"), std::string::npos);
  EXPECT_EQ(*ReadFile(layout.plan()), plan_before);
  EXPECT_EQ(*ReadFile(layout.journal()), journal_before);
}

TEST_F(RunnerTest, ALockedRunIsRefusedBeforeAnythingIsWritten) {
  Result<std::string> made = Status::Internal("not made");
  {
    Runner creator = MakeRunner();  // holds the lock until it is destroyed
    made = creator.Create(plan_, config_, "locked");
    ASSERT_TRUE(made.ok());
  }
  RunLayout layout(*made);
  int fd = open(layout.lock().c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);  // another porch process works on it
  std::string config_before = *ReadFile(layout.config());
  LoadedConfig changed = config_;
  changed.config.max_executors = 17;
  Runner other = MakeRunner();
  Result<RunOutcome> out = other.Resume(*made, changed);
  // A second `porch run` of the same id is refused the same way.
  Result<RunOutcome> again = MakeRunner().Start(plan_, config_, "locked");
  close(fd);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(*ReadFile(layout.config()), config_before);  // the refused resume changed nothing
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kAlreadyExists);
  EXPECT_NE(out.status().message().find("in use by another porch process"), std::string::npos)
      << out.status().ToString();
  EXPECT_EQ(factory_calls_, 0);  // nothing ran
}

TEST_F(RunnerTest, AStoppedRunResumesWithoutRepeatingFinishedWork) {
  script_ = [](FakeBackend& b) { b.Script("b", {{5.0}}); };
  int polls = 0;
  // Stop once a has finished and b, c are running.
  Runner first = MakeRunner([&] { return ++polls > 3 && backend_->running() == 2; });
  Result<RunOutcome> out = first.Start(plan_, config_, "r");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->summary.interrupted);
  EXPECT_EQ(out->summary.counts.succeeded, 1u);
  EXPECT_EQ(out->summary.counts.cancelled, 2u);

  script_ = nullptr;
  Runner second = MakeRunner();
  Result<RunOutcome> resumed = second.Resume(out->run_dir, config_);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_TRUE(resumed->summary.all_succeeded());
  // Only the cancelled tasks ran again; a stayed done.
  std::vector<std::string> ran;
  for (const auto& s : backend_->submits) ran.push_back(s.task + "#" + std::to_string(s.attempt));
  EXPECT_EQ(ran, (std::vector<std::string>{"b#2", "c#2"}));
  Result<ReplayResult> journal = ReadJournal(RunLayout(out->run_dir).journal());
  ASSERT_TRUE(journal.ok());
  int resumed_records = 0;
  for (const JournalRecord& r : journal->records) resumed_records += r.type == JournalRecord::Type::kResumed;
  EXPECT_EQ(resumed_records, 1);
}

TEST_F(RunnerTest, ResumeOfSomethingThatIsNoRunIsNotFound) {
  Runner runner = MakeRunner();
  Result<RunOutcome> out = runner.Resume(dir_.path() + "/nothing-here", config_);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Status::Code::kNotFound);
  EXPECT_NE(out.status().message().find("is not a porch run directory"), std::string::npos);
}

TEST_F(RunnerTest, ABackendThatCannotStartLeavesAResumableRun) {
  factory_error_ = Status::Unavailable("no engine");
  Runner runner = MakeRunner();
  Result<RunOutcome> out = runner.Start(plan_, config_, "nobackend");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("no engine"), std::string::npos);
  factory_error_ = Status::Ok();
  // The run was created but never started: resuming it starts it.
  Result<RunOutcome> again = MakeRunner().Resume(RunLayout::RunDir(dir_.path(), "nobackend"), config_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->summary.all_succeeded());
  EXPECT_EQ(again->run_id, "nobackend");
  EXPECT_EQ(backend_->submits.size(), 3u);
}

// A journal cut at a record boundary (its last writes never reached the
// disk) lost the launches of attempts whose directories exist: resume
// re-adopts them instead of running the tasks again, and never hands out an
// attempt number, and so a directory, twice.
TEST_F(RunnerTest, AJournalCutShortNeverReusesAnAttemptDirectory) {
  Result<RunOutcome> out = MakeRunner().Start(plan_, config_, "cut");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  RunLayout layout(out->run_dir);
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(MakeDirs(layout.attempt_dir(id, 1)).ok());
  ASSERT_TRUE(MakeDirs(layout.attempt_dir("b", 2)).ok());  // b's first attempt was lost
  std::string journal = *ReadFile(layout.journal());
  ASSERT_TRUE(WriteFileAtomic(layout.journal(), journal.substr(0, journal.find('\n') + 1)).ok());

  script_ = [](FakeBackend& b) {
    b.SetRecover("a", RecoverOutcome::kAdopted);  // its result file is there
    b.SetRecover("b", RecoverOutcome::kAdopted);
    // c left no trace: lost, and it runs again as attempt 2
  };
  Result<RunOutcome> resumed = MakeRunner().Resume(out->run_dir, config_);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_TRUE(resumed->summary.all_succeeded());
  std::vector<std::string> ran;
  for (const auto& s : backend_->submits) ran.push_back(s.task + "#" + std::to_string(s.attempt));
  EXPECT_EQ(ran, (std::vector<std::string>{"c#2"}));
  EXPECT_EQ(backend_->recovered, (std::vector<std::string>{"a", "b", "c"}));
  // The journal now says what happened, and replays to the same state.
  Result<LoadedRun> loaded = LoadRun(out->run_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const TaskRecord& b = loaded->state.tasks.at("b");
  ASSERT_EQ(b.attempts.size(), 2u);
  EXPECT_EQ(b.attempts[0].reason, FailureReason::kLost);
  EXPECT_EQ(b.state, TaskState::kSucceeded);
  EXPECT_EQ(loaded->state.tasks.at("c").last_attempt(), 2);
}

TEST(ReconcileWithDiskTest, SettledTasksOnlyMoveTheirNumbering) {
  Plan plan;
  for (const char* id : {"done", "pending", "known"}) {
    Task t;
    t.id = id;
    t.command = "true";
    plan.tasks.push_back(t);
  }
  RunState state;
  JournalRecord launch;
  launch.type = JournalRecord::Type::kLaunching;
  launch.task = "done";
  launch.attempt = 1;
  state.Apply(launch);
  JournalRecord finished = launch;
  finished.type = JournalRecord::Type::kFinished;
  finished.decision = Decision::kSucceeded;
  state.Apply(finished);
  launch.task = "known";
  state.Apply(launch);
  std::map<std::string, int> disk = {{"done", 3}, {"pending", 2}, {"known", 1}};
  std::vector<JournalRecord> added =
      ReconcileWithDisk(plan, &state, [&](const std::string& id) { return disk[id]; }, 50);
  // "done" stays succeeded but never reuses 2 or 3; "pending" gets attempt 1
  // lost and attempt 2 in flight; "known" is as the journal says.
  EXPECT_EQ(state.tasks["done"].state, TaskState::kSucceeded);
  EXPECT_EQ(state.tasks["done"].last_attempt(), 3);
  ASSERT_EQ(added.size(), 3u);
  EXPECT_EQ(added[0].type, JournalRecord::Type::kLaunching);
  EXPECT_EQ(added[0].task, "pending");
  EXPECT_EQ(added[1].type, JournalRecord::Type::kFinished);
  EXPECT_EQ(added[1].reason, FailureReason::kLost);
  EXPECT_EQ(added[1].decision, Decision::kRequeue);
  EXPECT_EQ(added[2].attempt, 2);
  EXPECT_EQ(state.tasks["pending"].state, TaskState::kRunning);
  EXPECT_EQ(state.tasks["known"].attempts.size(), 1u);
}

TEST(HighestAttemptOnDiskTest, ReadsOnlyAttemptDirectories) {
  TempDir dir;
  RunLayout layout(dir.path());
  EXPECT_EQ(HighestAttemptOnDisk(layout, "t"), 0);
  for (const char* name : {"attempt-2", "attempt-10", "attempt-x", "attempt-", "attempt-99999999999",
                           "notes"}) {
    ASSERT_TRUE(MakeDirs(layout.task_dir("t") + "/" + name).ok());
  }
  EXPECT_EQ(HighestAttemptOnDisk(layout, "t"), 10);
}

// A run directory that could not be made whole (the disk filled while its
// files were written) is no run: porch says there is nothing to resume, and
// leaves nothing that looks like one.
TEST_F(RunnerTest, ARunThatCouldNotBeCreatedSaysThereIsNothingToResume) {
  const std::string run_dir = RunLayout::RunDir(dir_.path(), "nospace");
  RunLayout layout(run_dir);
  ASSERT_TRUE(MakeDirs(layout.config() + "/x").ok());  // config.json cannot be written
  Result<RunOutcome> out = MakeRunner().Start(plan_, config_, "nospace");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("nothing to resume"), std::string::npos)
      << out.status().ToString();
  EXPECT_FALSE(PathExists(layout.identity()));
  EXPECT_FALSE(PathExists(layout.plan()));
  EXPECT_FALSE(PathExists(layout.output()));
  EXPECT_EQ(factory_calls_, 0);
}

TEST(ToRetryOptionsTest, CarriesEveryRetryKey) {
  RetryConfig c;
  c.max_retries = 4;
  c.retry_delay_seconds = 2;
  c.backoff_multiplier = 3;
  c.max_delay_seconds = 40;
  c.jitter = 0.25;
  RetryOptions o = ToRetryOptions(c);
  EXPECT_EQ(o.max_retries, 4);
  EXPECT_DOUBLE_EQ(o.backoff.Delay(1), 2);
  EXPECT_DOUBLE_EQ(o.backoff.Delay(2), 6);
  EXPECT_DOUBLE_EQ(o.backoff.Delay(5), 40);
  EXPECT_DOUBLE_EQ(o.backoff.jitter, 0.25);
  c.exponential_backoff = false;
  EXPECT_DOUBLE_EQ(ToRetryOptions(c).backoff.Delay(5), 2);
}

TEST(NewRunIdTest, SortsByTimeAndDiffers) {
  std::string a = NewRunId(1'700'000'000), b = NewRunId(1'700'000'001);
  EXPECT_EQ(a.substr(0, 15), "20231114-221320");
  EXPECT_LT(a, b);
  EXPECT_EQ(a.size(), 20u);
}

}  // namespace
}  // namespace porch
