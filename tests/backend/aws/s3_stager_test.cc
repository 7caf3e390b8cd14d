// The aws backend's staging on an in-memory object store: what goes up
// before submissions, and how a finished attempt comes home.
#include <gtest/gtest.h>

#include "backend/aws/aws_backend.h"
#include "fakes/memory_object_store.h"
#include "platform/files.h"
#include "s3/sync.h"
#include "test_util.h"

namespace porch {
namespace {

class S3StagerTest : public ::testing::Test {
 protected:
  S3StagerTest()
      : layout_(tmp_.path() + "/run"),
        stager_(&store_, "bkt", "porch/runs/r1", layout_, {"--set", "aws.region=x"}) {
    store_.buckets["bkt"];
    EXPECT_TRUE(MakeDirs(layout_.output()).ok());
    EXPECT_TRUE(WriteFileAtomic(layout_.plan(), "{\"tasks\": []}").ok());
    EXPECT_TRUE(WriteFileAtomic(layout_.config(), "{}").ok());
  }
  TempDir tmp_;
  RunLayout layout_;
  MemoryObjectStore store_;
  S3Stager stager_;
};

TEST_F(S3StagerTest, StartWritesTheMarkerAndInputsPublishSendsOnlyChanges) {
  ASSERT_TRUE(stager_.Start("{\"run_id\": \"r1\"}").ok());
  auto& b = store_.buckets["bkt"];
  EXPECT_EQ(b["porch/runs/r1/run.json"], "{\"run_id\": \"r1\"}");
  EXPECT_EQ(b["porch/runs/r1/input/plan.json"], "{\"tasks\": []}");
  EXPECT_EQ(stager_.StageUrl(), "s3://bkt/porch/runs/r1");
  ASSERT_TRUE(WriteFileAtomic(layout_.output() + "/a.txt", "a").ok());
  ASSERT_TRUE(stager_.Publish().ok());
  EXPECT_EQ(b["porch/runs/r1/input/output/a.txt"], "a");
  int puts = store_.Count("PUT");
  ASSERT_TRUE(stager_.Publish().ok());  // nothing changed: nothing sent
  EXPECT_EQ(store_.Count("PUT"), puts);
}

TEST_F(S3StagerTest, ARetryTakesWhyItsPreviousAttemptFailedToTheNode) {
  // The node builds the agent's prompt; it can only say why attempt 1 failed
  // (and show a merge conflict) if those files are in what it fetches.
  ASSERT_TRUE(MakeDirs(layout_.attempt_dir("t", 1)).ok());
  ASSERT_TRUE(WriteFileAtomic(layout_.result_path("t", 1), "{\"reason\": \"missing_outputs\"}").ok());
  ASSERT_TRUE(WriteFileAtomic(layout_.attempt_dir("t", 1) + "/conflicts.txt", "<<<<<<< this task").ok());
  ASSERT_TRUE(MakeDirs(layout_.output() + "/.git").ok());
  ASSERT_TRUE(WriteFileAtomic(layout_.output() + "/.git/HEAD", "ref").ok());
  ASSERT_TRUE(stager_.Publish({{"t", 2}, {"u", 1}}).ok());
  auto& b = store_.buckets["bkt"];
  EXPECT_EQ(b["porch/runs/r1/input/tasks/t/attempt-1/result.json"], "{\"reason\": \"missing_outputs\"}");
  EXPECT_EQ(b["porch/runs/r1/input/tasks/t/attempt-1/conflicts.txt"], "<<<<<<< this task");
  EXPECT_EQ(b.count("porch/runs/r1/input/output/.git/HEAD"), 0u);  // never a repository
}

TEST_F(S3StagerTest, FetchBringsAFinishedAttemptHomeWithTheResultLast) {
  auto& b = store_.buckets["bkt"];
  b["porch/runs/r1/tasks/t/attempt-1/stdout"] = "out\n";
  b["porch/runs/r1/tasks/t/attempt-1/output/made.txt"] = "made\n";
  std::vector<std::pair<std::string, int>> active = {{"t", 1}, {"u", 1}};
  stager_.Fetch(active);
  EXPECT_FALSE(PathExists(layout_.result_path("t", 1)));  // no result yet: not over
  EXPECT_EQ(store_.Count("LIST"), 1);                     // one listing per poll
  b["porch/runs/r1/results/t/attempt-1.json"] = "{\"task_id\": \"t\"}";
  stager_.Fetch(active);
  EXPECT_EQ(*ReadFile(layout_.stdout_path("t", 1)), "out\n");
  EXPECT_EQ(*ReadFile(layout_.output() + "/made.txt"), "made\n");  // the task's change
  EXPECT_EQ(*ReadFile(layout_.result_path("t", 1)), "{\"task_id\": \"t\"}");
  EXPECT_EQ(store_.calls.back(), "GET bkt/porch/runs/r1/results/t/attempt-1.json");
  EXPECT_FALSE(PathExists(layout_.result_path("u", 1)));
  size_t before = store_.calls.size();
  stager_.Fetch({{"t", 1}});  // already home: only the listing
  EXPECT_EQ(store_.calls.size(), before + 1);
}

TEST_F(S3StagerTest, CloseUploadsTheOutput) {
  ASSERT_TRUE(WriteFileAtomic(layout_.output() + "/final.txt", "done").ok());
  ASSERT_TRUE(stager_.Close().ok());
  EXPECT_EQ(store_.buckets["bkt"]["porch/runs/r1/output/final.txt"], "done");
}

TEST(SyncUnitTest, UnchangedFromSkipsWhatTheTaskDidNotTouch) {
  TempDir tmp;
  MemoryObjectStore store;
  store.buckets["b"]["snap/kept.txt"] = "same";
  store.buckets["b"]["snap/edited.txt"] = "old";
  std::string dir = tmp.path() + "/out";
  ASSERT_TRUE(MakeDirs(dir).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/kept.txt", "same").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/edited.txt", "new").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/added.txt", "+").ok());
  SyncOptions o;
  o.unchanged_from = "snap";
  Result<SyncStats> up = SyncUp(store, dir, "b", "attempt/output", o);
  ASSERT_TRUE(up.ok()) << up.status().message();
  EXPECT_EQ(up->copied, 2);
  auto& b = store.buckets["b"];
  EXPECT_EQ(b.count("attempt/output/kept.txt"), 0u);
  EXPECT_EQ(b["attempt/output/edited.txt"], "new");
  EXPECT_EQ(b["attempt/output/added.txt"], "+");
}

}  // namespace
}  // namespace porch
