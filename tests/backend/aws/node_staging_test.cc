// The node's side of S3 staging (what `porch worker` does for a staged
// queue run), on an in-memory object store.
#include "backend/aws/node_staging.h"

#include <gtest/gtest.h>

#include "fakes/memory_object_store.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

class NodeStagingTest : public ::testing::Test {
 protected:
  NodeStagingTest() {
    store_.buckets["bkt"];
    auto& b = store_.buckets["bkt"];
    b["p/runs/r.u/input/plan.json"] = "{\"tasks\": []}";
    b["p/runs/r.u/input/config.json"] = "{}";
    b["p/runs/r.u/input/output/seed.txt"] = "seed";
    b["p/runs/r.u/input/output/big.txt"] = std::string(1000, 'x');
    a_.bucket = "bkt";
    a_.base = "p/runs/r.u";
    a_.node = tmp_.path() + "/node/t-2";
    a_.task = "t";
    a_.attempt = 2;
  }
  std::string Attempt() const { return a_.node + "/tasks/t/attempt-2"; }
  TempDir tmp_;
  MemoryObjectStore store_;
  StagedAttempt a_;
};

TEST_F(NodeStagingTest, StageInFetchesTheInputsIntoTheNodeDirectory) {
  Result<std::map<std::string, FileDigest>> seed = StageIn(store_, a_);
  ASSERT_TRUE(seed.ok());
  EXPECT_EQ(seed->size(), 2u);  // output/'s two files, as fetched
  EXPECT_EQ(*ReadFile(a_.node + "/plan.json"), "{\"tasks\": []}");
  EXPECT_EQ(*ReadFile(a_.node + "/output/seed.txt"), "seed");
  EXPECT_TRUE(IsDirectory(Attempt()));
  store_.down = true;
  Status st = StageIn(store_, a_).status();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("s3://bkt/p/runs/r.u/input"), std::string::npos) << st.message();
}

TEST_F(NodeStagingTest, StageOutSendsOnlyWhatChangedAndTheResultLast) {
  Result<std::map<std::string, FileDigest>> seed = StageIn(store_, a_);
  ASSERT_TRUE(seed.ok());
  ASSERT_TRUE(WriteFileAtomic(a_.node + "/output/made.txt", "made").ok());
  ASSERT_TRUE(WriteFileAtomic(a_.node + "/output/seed.txt", "changed").ok());
  ASSERT_TRUE(MakeDirs(a_.node + "/output/.git/hooks").ok());
  ASSERT_TRUE(WriteFileAtomic(a_.node + "/output/.git/hooks/post-checkout", "rm -rf ~").ok());
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/stdout", "out\n").ok());
  ASSERT_TRUE(MakeDirs(Attempt() + "/workspace").ok());
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/workspace/big.txt", std::string(1000, 'x')).ok());  // as seeded
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/workspace/new.txt", "agent").ok());
  ASSERT_TRUE(MakeDirs(Attempt() + "/.agent-home").ok());
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/.agent-home/.claude.json", "secret-ish").ok());
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/result.json", "{\"task_id\": \"t\"}").ok());
  store_.calls.clear();
  ASSERT_TRUE(StageOut(store_, a_, *seed).ok());
  auto& b = store_.buckets["bkt"];
  const std::string up = "p/runs/r.u/tasks/t/attempt-2";
  EXPECT_EQ(b[up + "/output/made.txt"], "made");
  EXPECT_EQ(b[up + "/output/seed.txt"], "changed");
  EXPECT_EQ(b.count(up + "/output/big.txt"), 0u);  // unchanged: not sent
  EXPECT_EQ(b[up + "/stdout"], "out\n");
  EXPECT_EQ(b[up + "/workspace/new.txt"], "agent");
  EXPECT_EQ(b.count(up + "/workspace/big.txt"), 0u);
  for (const auto& [key, data] : b) {
    EXPECT_EQ(key.find(".git"), std::string::npos) << key;
    EXPECT_EQ(key.find(".agent-home"), std::string::npos) << key;
  }
  EXPECT_EQ(b.count(up + "/result.json"), 0u);  // the result goes to results/, not with the files
  EXPECT_EQ(b["p/runs/r.u/results/t/attempt-2.json"], "{\"task_id\": \"t\"}");
  EXPECT_EQ(store_.calls.back(), "PUT bkt/p/runs/r.u/results/t/attempt-2.json");  // last
}

// porch publishes another task's change to seed.txt while this attempt
// runs: the attempt's untouched old copy is not sent back as its change
// (it would undo the other task's).
TEST_F(NodeStagingTest, AnInputThatMovedOnMeanwhileIsNotSentBackAsAChange) {
  Result<std::map<std::string, FileDigest>> seed = StageIn(store_, a_);
  ASSERT_TRUE(seed.ok());
  store_.buckets["bkt"]["p/runs/r.u/input/output/seed.txt"] = "another task's change";
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/result.json", "{}").ok());
  ASSERT_TRUE(StageOut(store_, a_, *seed).ok());
  EXPECT_EQ(store_.buckets["bkt"].count("p/runs/r.u/tasks/t/attempt-2/output/seed.txt"), 0u);
}

// Only the output upload fails: the result is not sent (porch must not
// take a success whose files never arrived).
TEST_F(NodeStagingTest, NoResultGoesUpWhenTheFilesDidNot) {
  Result<std::map<std::string, FileDigest>> seed = StageIn(store_, a_);
  ASSERT_TRUE(seed.ok());
  ASSERT_TRUE(WriteFileAtomic(a_.node + "/output/made.txt", "made").ok());
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/result.json", "{}").ok());
  store_.buckets.erase("bkt");  // every PUT fails: no such bucket
  EXPECT_FALSE(StageOut(store_, a_, *seed).ok());
  store_.buckets["bkt"];
  EXPECT_EQ(store_.buckets["bkt"].count("p/runs/r.u/results/t/attempt-2.json"), 0u);
}

TEST_F(NodeStagingTest, WithoutAResultEverythingElseGoesAndItSaysNotFound) {
  Result<std::map<std::string, FileDigest>> seed = StageIn(store_, a_);
  ASSERT_TRUE(seed.ok());
  ASSERT_TRUE(WriteFileAtomic(Attempt() + "/stderr", "crashed\n").ok());
  Status st = StageOut(store_, a_, *seed);
  EXPECT_EQ(st.code(), Status::Code::kNotFound) << st.message();
  EXPECT_EQ(store_.buckets["bkt"]["p/runs/r.u/tasks/t/attempt-2/stderr"], "crashed\n");
  EXPECT_EQ(store_.buckets["bkt"].count("p/runs/r.u/results/t/attempt-2.json"), 0u);
  store_.down = true;
  st = StageOut(store_, a_, *seed);
  EXPECT_NE(st.code(), Status::Code::kNotFound);
  EXPECT_NE(st.message().find("s3://bkt/p/runs/r.u/tasks/t/attempt-2"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace porch
