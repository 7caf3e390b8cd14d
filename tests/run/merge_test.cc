#include "run/merge.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/digest.h"
#include "model/result_file.h"
#include "platform/files.h"
#include "platform/tree.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

// The output-merge stage on a real run directory: what an AI attempt left in
// its workspace, listed in its result file, lands in output/ unless another
// task changed the same file since the attempt's seed.
class OutputMergerTest : public ::testing::Test {
 protected:
  OutputMergerTest() : layout_(dir_.path() + "/run") {
    EXPECT_TRUE(MakeDirs(layout_.output()).ok());
    for (const char* id : {"a", "b"}) {
      Task t;
      t.id = id;
      t.title = std::string("task ") + id;
      t.prompt = "write";
      plan_.tasks.push_back(t);
    }
    Task c;
    c.id = "cmd";
    c.command = "true";
    plan_.tasks.push_back(c);
  }

  // Attempt `attempt` of `task` wrote `files` in its workspace, having seen
  // `seed` (path -> content) when it started.
  void Attempt(const std::string& task, int attempt, std::map<std::string, std::string> files,
               std::map<std::string, std::string> seed = {}) {
    std::string dir = layout_.attempt_dir(task, attempt);
    ASSERT_TRUE(MakeDirs(dir).ok());
    AttemptResult r;
    r.task_id = task;
    r.attempt = attempt;
    for (const auto& [path, text] : files) {
      ASSERT_TRUE(MakeDirs(DirName(dir + "/workspace/" + path)).ok());
      ASSERT_TRUE(WriteFileAtomic(dir + "/workspace/" + path, text).ok());
      r.files.push_back({path, Sha256Hex(text), text.size()});
    }
    json s = json::object();
    for (const auto& [path, text] : seed) s[path] = Sha256Hex(text);
    ASSERT_TRUE(WriteFileAtomic(dir + "/seed.json", s.dump()).ok());
    ASSERT_TRUE(WriteFileAtomic(layout_.result_path(task, attempt), AttemptResultToJson(r)).ok());
  }

  MergeConfig Config(std::string policy = "fail") {
    MergeConfig c;
    c.conflict_policy = std::move(policy);
    c.git = false;
    return c;
  }

  std::string Out(const std::string& path) {
    Result<std::string> t = ReadFile(layout_.output() + "/" + path);
    return t.ok() ? *t : "<missing>";
  }

  TempDir dir_;
  RunLayout layout_;
  Plan plan_;
};

TEST_F(OutputMergerTest, ASucceededAttemptsFilesLandAndOwnersAreRecorded) {
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"src/a.c", "int a;"}, {"README", "hi"}});
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kNone);
  EXPECT_EQ(Out("src/a.c"), "int a;");
  EXPECT_EQ(Out("README"), "hi");
  json owners = json::parse(*ReadFile(layout_.dir() + "/merge.json"));
  EXPECT_EQ(owners["src/a.c"]["task"], "a");
  EXPECT_EQ(owners["src/a.c"]["sha256"], Sha256Hex("int a;"));
  // Merging again (porch died after merging, before journaling) is harmless.
  Result<MergeOutcome> again = merger.Merge(plan_.tasks[0], 1);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->conflicted);
}

TEST_F(OutputMergerTest, AChangeSinceTheSeedIsAConflictThatFailsTheAttempt) {
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"shared.txt", "from a"}});
  BackendEvent ok_a = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ok_a);
  // b started before a merged: its seed did not have shared.txt.
  Attempt("b", 1, {{"shared.txt", "from b"}, {"b.txt", "b"}});
  BackendEvent ev = FailedEvent(1, 1, 2, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[1], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kConflict);
  EXPECT_EQ(ev.detail.rfind("conflicting files: shared.txt (also changed by task 'a');", 0), 0u) << ev.detail;
  EXPECT_TRUE(IsRetryable(ev.reason));  // handed back: the retry starts from the merged output
  EXPECT_EQ(Out("shared.txt"), "from a");
  EXPECT_EQ(Out("b.txt"), "<missing>");  // nothing of a conflicting attempt is merged
  json conflicts = json::parse(*ReadFile(layout_.dir() + "/conflicts.json"));
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0]["task"], "b");
  EXPECT_EQ(conflicts[0]["with"], json::array({"a"}));
  EXPECT_EQ(conflicts[0]["resolution"], "failed");
  EXPECT_EQ(conflicts[0]["policy"], "fail");
  // Both versions (no common base: each created the file) for the retry.
  Result<std::string> marked = ReadFile(layout_.attempt_dir("b", 1) + "/conflicts.txt");
  ASSERT_TRUE(marked.ok());
  EXPECT_NE(marked->find("from a"), std::string::npos) << *marked;
  EXPECT_NE(marked->find("from b"), std::string::npos) << *marked;
}

TEST_F(OutputMergerTest, KeepLaterMergesAndRecordsTheConflict) {
  OutputMerger merger(&plan_, layout_, Config("keep-later"));
  Attempt("a", 1, {{"shared.txt", "from a"}});
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  Attempt("b", 1, {{"shared.txt", "from b"}});
  merger.OnSucceeded(plan_.tasks[1], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kNone);
  EXPECT_EQ(Out("shared.txt"), "from b");
  EXPECT_TRUE(PathExists(layout_.dir() + "/conflicts.json"));
}

TEST_F(OutputMergerTest, AnAttemptThatSawTheCurrentFileMergesWithoutConflict) {
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"x.txt", "1"}});
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  Attempt("b", 1, {{"x.txt", "2"}}, /*seed=*/{{"x.txt", "1"}});
  merger.OnSucceeded(plan_.tasks[1], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kNone);
  EXPECT_EQ(Out("x.txt"), "2");
}

TEST_F(OutputMergerTest, OwnersSurviveARestartAndCommandTasksAreLeftAlone) {
  MergeConfig direct = Config();
  direct.isolate_commands = "false";  // commands write output/ themselves
  {
    OutputMerger merger(&plan_, layout_, direct);
    Attempt("a", 1, {{"shared.txt", "from a"}});
    BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
    merger.OnSucceeded(plan_.tasks[0], &ev);
  }
  OutputMerger resumed(&plan_, layout_, direct);  // a resumed porch
  Attempt("b", 1, {{"shared.txt", "from b"}});
  BackendEvent ev = FailedEvent(1, 1, 2, FailureReason::kNone, "");
  resumed.OnSucceeded(plan_.tasks[1], &ev);
  EXPECT_NE(ev.detail.find("task 'a'"), std::string::npos) << ev.detail;
  BackendEvent cmd = FailedEvent(2, 1, 3, FailureReason::kNone, "");
  resumed.OnSucceeded(plan_.tasks[2], &cmd);
  EXPECT_EQ(cmd.reason, FailureReason::kNone);
}

TEST_F(OutputMergerTest, AnUnreadableResultFailsTheAttemptAsABackendError) {
  OutputMerger merger(&plan_, layout_, Config());
  BackendEvent ev = FailedEvent(0, 4, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kBackendError);
  EXPECT_NE(ev.detail.find("merging its files failed"), std::string::npos);
}

// Links in output/ (a command task's `ln -s /some/dir dlink`) or in the
// workspace (the agent's own) are never followed: the merge fails, naming
// the link, and nothing outside the run directory changes.
class MergeLinkTest : public OutputMergerTest {
 protected:
  MergeLinkTest() {
    EXPECT_TRUE(MakeDirs(outside_).ok());
    EXPECT_TRUE(WriteFileAtomic(outside_ + "/victim.txt", "original").ok());
  }
  void ExpectRefused(const BackendEvent& ev, const std::string& link) {
    EXPECT_EQ(ev.reason, FailureReason::kBackendError);
    EXPECT_NE(ev.detail.find("symbolic link"), std::string::npos) << ev.detail;
    EXPECT_NE(ev.detail.find(link), std::string::npos) << ev.detail;
    EXPECT_EQ(*ReadFile(outside_ + "/victim.txt"), "original");
    Result<std::vector<std::string>> names = ListDir(outside_);
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(*names, std::vector<std::string>{"victim.txt"}) << "something was written outside";
  }
  std::string outside_ = dir_.path() + "/outside";
};

TEST_F(MergeLinkTest, ADirectoryLinkInOutputIsNotWrittenThrough) {
  ASSERT_EQ(symlink(outside_.c_str(), (layout_.output() + "/dlink").c_str()), 0);
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"dlink/pwned.txt", "pwned"}});
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  ExpectRefused(ev, "dlink");
}

TEST_F(MergeLinkTest, AFileLinkInOutputIsNotOverwrittenEvenWithKeepLater) {
  ASSERT_EQ(symlink((outside_ + "/victim.txt").c_str(), (layout_.output() + "/flink").c_str()), 0);
  OutputMerger merger(&plan_, layout_, Config("keep-later"));
  Attempt("a", 1, {{"flink", "overwritten"}}, /*seed=*/{{"flink", "original"}});
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  ExpectRefused(ev, "flink");
}

TEST_F(MergeLinkTest, ALinkTheAgentMadeInItsWorkspaceIsNotRead) {
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"leak.txt", "placeholder"}, {"fine.txt", "fine"}});
  const std::string ws = layout_.attempt_dir("a", 1) + "/workspace";
  ASSERT_EQ(unlink((ws + "/leak.txt").c_str()), 0);
  ASSERT_EQ(symlink((outside_ + "/victim.txt").c_str(), (ws + "/leak.txt").c_str()), 0);
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  ExpectRefused(ev, "leak.txt");
  EXPECT_EQ(Out("leak.txt"), "<missing>");
  EXPECT_EQ(Out("fine.txt"), "<missing>");  // nothing of the attempt was merged
}

TEST_F(MergeLinkTest, ALinkInTheSeededInputIsNeitherCopiedNorWrittenThrough) {
  // A command task left a link in output/; an AI task is seeded from it.
  ASSERT_EQ(symlink((outside_ + "/victim.txt").c_str(), (layout_.output() + "/in.txt").c_str()), 0);
  const std::string ws = layout_.attempt_dir("a", 1) + "/workspace";
  Result<std::map<std::string, FileDigest>> seed = SeedWorkspace(layout_.output(), ws);
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  EXPECT_EQ(seed->count("in.txt"), 0u);  // the agent never sees the outside file
  struct stat st;
  EXPECT_NE(lstat((ws + "/in.txt").c_str(), &st), 0);
  // The agent writes a file of that name; the merge refuses the link.
  OutputMerger merger(&plan_, layout_, Config("keep-later"));
  Attempt("a", 1, {{"in.txt", "through the link?"}});
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  ExpectRefused(ev, "in.txt");
}

TEST_F(MergeLinkTest, ALinkPlantedWhereTheConflictTextGoesIsNotWrittenThrough) {
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"shared.txt", "from a"}});
  BackendEvent ok_a = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ok_a);
  Attempt("b", 1, {{"shared.txt", "from b"}});
  ASSERT_EQ(symlink((outside_ + "/victim.txt").c_str(), (layout_.attempt_dir("b", 1) + "/conflicts.txt").c_str()), 0);
  BackendEvent ev = FailedEvent(1, 1, 2, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[1], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kConflict);
  EXPECT_EQ(*ReadFile(outside_ + "/victim.txt"), "original");
}

TEST_F(OutputMergerTest, AFileTheTaskDeletedGoesUnlessSomeoneElseChangedIt) {
  ASSERT_TRUE(WriteFileAtomic(layout_.output() + "/old.txt", "old").ok());
  ASSERT_TRUE(WriteFileAtomic(layout_.output() + "/busy.txt", "changed by a command").ok());
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {}, /*seed=*/{{"old.txt", "old"}});
  AttemptResult r = *ReadAttemptResult(layout_.result_path("a", 1));
  r.deleted = {"old.txt"};
  ASSERT_TRUE(WriteFileAtomic(layout_.result_path("a", 1), AttemptResultToJson(r)).ok());
  BackendEvent ev = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kNone) << ev.detail;
  EXPECT_FALSE(PathExists(layout_.output() + "/old.txt"));
  // busy.txt changed after b's seed: deleting it would lose that change.
  Attempt("b", 1, {}, /*seed=*/{{"busy.txt", "as b saw it"}});
  AttemptResult rb = *ReadAttemptResult(layout_.result_path("b", 1));
  rb.deleted = {"busy.txt"};
  ASSERT_TRUE(WriteFileAtomic(layout_.result_path("b", 1), AttemptResultToJson(rb)).ok());
  BackendEvent evb = FailedEvent(1, 1, 2, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[1], &evb);
  EXPECT_EQ(evb.reason, FailureReason::kConflict);
  EXPECT_NE(evb.detail.find("busy.txt (deleted by this task, changed by"), std::string::npos) << evb.detail;
  EXPECT_EQ(Out("busy.txt"), "changed by a command");
}

TEST_F(OutputMergerTest, ATamperedBaseIsAConflictNotASilentRevert) {
  OutputMerger merger(&plan_, layout_, Config());
  Attempt("a", 1, {{"shared.txt", "A\n"}});
  BackendEvent ok_a = FailedEvent(0, 1, 1, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[0], &ok_a);
  // b was seeded with "base", but its base/ copy now says what a wrote, which
  // would make a three-way merge take b's version and drop a's.
  Attempt("b", 1, {{"shared.txt", "B\n"}}, /*seed=*/{{"shared.txt", "base\n"}});
  ASSERT_TRUE(MakeDirs(layout_.attempt_dir("b", 1) + "/base").ok());
  ASSERT_TRUE(WriteFileAtomic(layout_.attempt_dir("b", 1) + "/base/shared.txt", "A\n").ok());
  BackendEvent ev = FailedEvent(1, 1, 2, FailureReason::kNone, "");
  merger.OnSucceeded(plan_.tasks[1], &ev);
  EXPECT_EQ(ev.reason, FailureReason::kConflict) << ev.detail;
  EXPECT_EQ(Out("shared.txt"), "A\n");
}

TEST(FileBeneathTest, ExistsBeneathDoesNotLookThroughALinkedDirectory) {
  TempDir dir;
  ASSERT_TRUE(MakeDirs(dir.path() + "/root/sub").ok());
  ASSERT_TRUE(MakeDirs(dir.path() + "/elsewhere").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/root/sub/f.txt", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/elsewhere/g.txt", "x").ok());
  ASSERT_EQ(symlink((dir.path() + "/elsewhere").c_str(), (dir.path() + "/root/linked").c_str()), 0);
  EXPECT_TRUE(ExistsBeneath(dir.path() + "/root", "sub/f.txt"));
  EXPECT_TRUE(ExistsBeneath(dir.path() + "/root", "linked"));  // the link itself is there
  EXPECT_FALSE(ExistsBeneath(dir.path() + "/root", "linked/g.txt"));
  EXPECT_FALSE(ExistsBeneath(dir.path() + "/root", "sub/missing.txt"));
  EXPECT_FALSE(ExistsBeneath(dir.path() + "/root", "../root/sub/f.txt"));
}

TEST(FileBeneathTest, PathsMustStayBeneathTheRoot) {
  TempDir dir;
  for (const char* bad : {"../x", "a/../../x", "/etc/passwd", "", "a//b", "./a", "a/."}) {
    EXPECT_EQ(WriteFileBeneath(dir.path(), bad, "x", 0644).code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_FALSE(ReadFileBeneath(dir.path(), bad).ok()) << bad;
  }
  ASSERT_TRUE(WriteFileBeneath(dir.path(), "a/b/c.txt", "deep", 0600).ok());
  Result<FileBeneath> back = ReadFileBeneath(dir.path(), "a/b/c.txt");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data, "deep");
  EXPECT_EQ(back->mode, 0600u);
  EXPECT_EQ(ReadFileBeneath(dir.path(), "a/nope").status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace porch
