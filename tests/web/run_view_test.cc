// RunView: a run read once, then only what its journal gained.
#include "web/run_view.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "fakes/fake_run.h"
#include "model/run_layout.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

class RunViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Plan plan;
    for (int i = 0; i < 20; ++i) {
      Task t;
      t.id = "t" + std::to_string(i);
      t.command = "true";
      t.retries = 0;
      if (i > 0) t.depends_on = {"t" + std::to_string(i - 1)};
      plan.tasks.push_back(t);
    }
    ASSERT_TRUE(RunOnFakeBackend(plan, dir_.path(), "v", [](FakeBackend& b) {
      b.Script("t19", {{1.0, 7, FailureReason::kExitCode}});
    }).ok());
    run_dir_ = RunLayout::RunDir(dir_.path(), "v");
    journal_ = *ReadFile(RunLayout(run_dir_).journal());
  }

  // The first `n` journal records, as a fresh file (a new inode).
  size_t KeepRecords(size_t n) {
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i) pos = journal_.find('\n', pos) + 1;
    EXPECT_TRUE(WriteFileAtomic(RunLayout(run_dir_).journal(), journal_.substr(0, pos)).ok());
    return pos;
  }
  // Appends journal bytes to the same file, as a running porch does.
  void Append(const std::string& bytes) {
    int fd = open(RunLayout(run_dir_).journal().c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }

  TempDir dir_;
  std::string run_dir_, journal_;
};

TEST_F(RunViewTest, SummaryRowsAndTasks) {
  auto view = RunView::Open(run_dir_);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  RunView& v = **view;
  nlohmann::json s = v.Summary();
  EXPECT_EQ(s["run_id"], "v");
  EXPECT_EQ(s["tasks_total"], 20);
  EXPECT_EQ(s["succeeded"], 19);
  EXPECT_EQ(s["failed"], 1);
  EXPECT_EQ(s["pending"], 0);
  nlohmann::json rows = v.Rows(18, 5);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["id"], "t18");
  EXPECT_EQ(rows[1]["state"], "failed");
  EXPECT_EQ(rows[1]["exit_code"], 7);
  EXPECT_TRUE(v.Rows(25, 5).empty());
  EXPECT_EQ(v.IndexOf("t3"), 3);
  EXPECT_EQ(v.IndexOf("nope"), -1);
  EXPECT_EQ(v.DependsOn(3), std::vector<std::string>{"t2"});
  LoadedRun one = v.TaskSnapshot(19);
  ASSERT_EQ(one.plan.tasks.size(), 1u);
  EXPECT_TRUE(one.plan.tasks[0].depends_on.empty());
  EXPECT_EQ(one.state.tasks.at("t19").state, TaskState::kFailed);
}

// A growing journal is read from where the view left off; only the tasks
// that changed are reported; a torn record waits for its end.
TEST_F(RunViewTest, OnlyWhatTheJournalGainedIsRead) {
  const size_t head = KeepRecords(6);
  auto view = RunView::Open(run_dir_);
  ASSERT_TRUE(view.ok());
  RunView& v = **view;
  const int before = v.Summary()["succeeded"];
  EXPECT_LE(before, 1);
  const uint64_t seq = v.seq();
  ASSERT_TRUE(v.Refresh().ok());
  EXPECT_EQ(v.seq(), seq) << "nothing new, nothing changed";
  bool overflow = true;
  EXPECT_TRUE(v.ChangedSince(seq, 100, &overflow).empty());
  EXPECT_FALSE(overflow);

  // The rest arrives in two pieces, the first ending mid-record.
  const std::string rest = journal_.substr(head);
  const size_t cut = rest.size() / 2;
  Append(rest.substr(0, cut));
  ASSERT_TRUE(v.Refresh().ok());
  Append(rest.substr(cut));
  ASSERT_TRUE(v.Refresh().ok());
  EXPECT_GT(v.seq(), seq);
  EXPECT_EQ(v.Summary()["succeeded"], 19);
  EXPECT_GT(19, before);
  nlohmann::json changed = v.ChangedSince(seq, 100, &overflow);
  EXPECT_FALSE(overflow);
  EXPECT_GE(changed.size(), 15u);
  for (size_t i = 1; i < changed.size(); ++i) EXPECT_LT(changed[i - 1]["index"], changed[i]["index"]);
  nlohmann::json capped = v.ChangedSince(seq, 3, &overflow);
  EXPECT_EQ(capped.size(), 3u);
  EXPECT_TRUE(overflow);
  EXPECT_TRUE(v.ChangedSince(v.seq(), 100, &overflow).empty());
  // The summary kept up piece by piece is the one read whole.
  nlohmann::json kept = v.Summary(), whole = (*RunView::Open(run_dir_))->Summary();
  kept.erase("seq");
  whole.erase("seq");
  EXPECT_EQ(kept, whole);
}

// An attempt the backend holds (submitted, not started) is queued, not
// running, until its start is journaled.
TEST_F(RunViewTest, AnAttemptNotStartedYetIsQueuedNotRunning) {
  KeepRecords(3);  // run_started, t0 launching, t0 submitted
  auto view = RunView::Open(run_dir_);
  ASSERT_TRUE(view.ok());
  RunView& v = **view;
  EXPECT_EQ(v.Summary()["queued"], 1);
  EXPECT_EQ(v.Summary()["running"], 0);
  EXPECT_EQ(v.Summary()["outcome"], "running");
  EXPECT_EQ(v.Rows(0, 1)[0]["state"], "queued");
  JournalRecord started;
  started.type = JournalRecord::Type::kStarted;
  started.time = 1;
  started.task = "t0";
  started.attempt = 1;
  Append(EncodeRecord(started));
  ASSERT_TRUE(v.Refresh().ok());
  EXPECT_EQ(v.Summary()["queued"], 0);
  EXPECT_EQ(v.Summary()["running"], 1);
  EXPECT_EQ(v.Rows(0, 1)[0]["state"], "running");
}

// A journal replaced (another inode) or cut shorter is read again whole.
TEST_F(RunViewTest, AReplacedJournalIsReadAgain) {
  auto view = RunView::Open(run_dir_);
  ASSERT_TRUE(view.ok());
  RunView& v = **view;
  EXPECT_EQ(v.Summary()["succeeded"], 19);
  KeepRecords(1);
  ASSERT_TRUE(v.Refresh().ok());
  EXPECT_EQ(v.Summary()["succeeded"], 0);
  EXPECT_EQ(v.Summary()["pending"], 20);
  // Damage in the middle is an error, and the view keeps what it had.
  std::string damaged = journal_;
  damaged[damaged.find('\n') + 5] ^= 0x20;
  ASSERT_TRUE(WriteFileAtomic(RunLayout(run_dir_).journal(), damaged).ok());
  EXPECT_FALSE(v.Refresh().ok());
  EXPECT_EQ(v.Summary()["pending"], 20);
}

TEST(RunViewOpenTest, NoRunIsNotFound) {
  TempDir dir;
  auto view = RunView::Open(dir.path() + "/none");
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), Status::Code::kNotFound) << view.status().ToString();
}

}  // namespace
}  // namespace porch
