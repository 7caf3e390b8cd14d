// The queue backend against a recording Redis (no redis-server): what it
// pushes, how it reads results, reclaims, cancels and waits out an outage.
// The real server and real workers: tests/backend/queue/queue_backend_test.cc.
#include "backend/queue/queue_backend.h"

#include <gtest/gtest.h>

#include <deque>

#include "backend/aws/aws_backend.h"
#include "fakes/fake_clock.h"
#include "fakes/memory_object_store.h"
#include "fakes/fake_redis.h"
#include "model/result_file.h"
#include "platform/files.h"
#include "plan/task.h"
#include "test_util.h"

namespace porch {
namespace {

constexpr const char* kUid = "0123456789abcdef";
using F = FakeRedis;

class QueueBackendUnitTest : public ::testing::Test {
 protected:
  QueueBackendUnitTest() : layout_(tmp_.path() + "/run") {
    for (int k = 0; k < 3; ++k) {
      Task t;
      t.id = "t" + std::to_string(k);
      t.command = "true";
      plan_.tasks.push_back(t);
    }
    plan_.tasks[2].resources.gpus = 1;
    redis_.answer = [this](const RedisCommand& c) { return Answer(c); };
    QueueBackendOptions o;
    o.uid = kUid;
    o.visibility_s = 30;
    o.poll_s = 0.05;
    o.wait_s = 60;
    backend_ = std::make_unique<QueueBackend>(&redis_, layout_, &clock_, o);
  }

  RedisReply Answer(const RedisCommand& c) {
    if (c[0] == "XGROUP") return F::Str("OK");
    if (c[0] == "XADD" && c[1].find(":results") != std::string::npos) return F::Str("0-1");  // "open"
    if (c[0] == "XADD") return F::Str(std::to_string(++next_id_) + "-0");
    if (c[0] == "XREAD") {
      if (results_.empty()) return RedisReply{};
      RedisReply r = results_.front();
      results_.pop_front();
      return r;
    }
    if (c[0] == "EVAL" && c[1].find("porch-reaper") != std::string::npos) return reap_answer_;
    if (c[0] == "EVAL" && c[1].find("XPENDING") != std::string::npos) return F::Int(cancel_answer_);
    return RedisReply{};
  }

  // The result stream answering one message (an XREAD reply).
  void Message(const std::vector<std::string>& fields) {
    results_.push_back(F::Array({F::Array(
        {F::Str(std::string("porch:run:") + kUid + ":results"),
         F::Array({F::Array({F::Str(std::to_string(++result_id_) + "-0"), F::Fields(fields)})})})}));
  }

  void WriteResult(const std::string& task, int attempt, FailureReason reason) {
    AttemptResult r;
    r.task_id = task;
    r.attempt = attempt;
    r.reason = reason;
    ASSERT_TRUE(MakeDirs(layout_.attempt_dir(task, attempt)).ok());
    ASSERT_TRUE(WriteFileAtomic(layout_.result_path(task, attempt), AttemptResultToJson(r)).ok());
  }

  std::vector<BackendEvent> Events(double seconds = 1) {
    std::vector<BackendEvent> out;
    const double end = clock_.Now() + seconds;
    while (clock_.Now() < end) {
      for (BackendEvent& ev : backend_->Wait(clock_.Now() + 0.1)) out.push_back(std::move(ev));
    }
    return out;
  }

  Launch L(Dag::Index i, int attempt = 1) { return {i, &plan_.tasks[i], attempt, 0}; }

  TempDir tmp_;
  RunLayout layout_;
  Plan plan_;
  FakeClock clock_;
  FakeRedis redis_;
  std::unique_ptr<QueueBackend> backend_;
  std::deque<RedisReply> results_;
  RedisReply reap_answer_ = F::Array({});
  long long cancel_answer_ = 1;
  int next_id_ = 0;
  int result_id_ = 0;
};

TEST_F(QueueBackendUnitTest, AttemptsGoToTheirClassStreamInOneRoundTrip) {
  std::vector<Launch> ls = {L(0), L(1), L(2)};
  std::vector<Result<std::string>> ids = backend_->Submit(ls);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(*ids[0], "porch:q:default|1-0");
  EXPECT_EQ(*ids[2], "porch:q:gpu|3-0");
  std::vector<RedisCommand> adds;
  for (const RedisCommand& c : redis_.Sent("XADD")) {
    if (c[1].find(":q:") != std::string::npos) adds.push_back(c);
  }
  ASSERT_EQ(adds.size(), 3u);
  EXPECT_EQ(adds[2][1], "porch:q:gpu");
  Result<AttemptMessage> m = DecodeAttempt(F::Fields({adds[0].begin() + 3, adds[0].end()}));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->run_uid, kUid);
  EXPECT_EQ(m->run_dir, layout_.dir());
  EXPECT_EQ(m->task_id, "t0");
  // Each stream's consumer group made once.
  EXPECT_EQ(redis_.Sent("XGROUP").size(), 2u);
  backend_->Submit(std::vector<Launch>{L(0, 2)});
  EXPECT_EQ(redis_.Sent("XGROUP").size(), 2u);
}

TEST_F(QueueBackendUnitTest, StartedAndResultMessagesBecomeEventsFromTheResultFile) {
  std::vector<Launch> ls = {L(0), L(1)};
  backend_->Submit(ls);
  Message({"type", "started", "task", "t0", "attempt", "1", "worker", "w1", "stream", "porch:q:default",
           "entry", "1-0", "started", "5.5"});
  WriteResult("t0", 1, FailureReason::kNone);
  Message({"type", "result", "task", "t0", "attempt", "1", "exit", "0", "worker", "w1", "entry", "1-0"});
  // t1's worker says exec-task died without a result file.
  Message({"type", "result", "task", "t1", "attempt", "1", "exit", "137", "worker", "w1", "entry", "2-0"});
  // A result for an attempt not in flight (a reclaimed one) changes nothing.
  Message({"type", "result", "task", "t0", "attempt", "7", "exit", "0", "worker", "w9", "entry", "9-0"});
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[0].kind, BackendEvent::Kind::kStarted);
  EXPECT_DOUBLE_EQ(evs[0].time, 5.5);
  EXPECT_EQ(evs[1].kind, BackendEvent::Kind::kFinished);
  EXPECT_EQ(evs[1].reason, FailureReason::kNone);
  EXPECT_EQ(evs[2].reason, FailureReason::kBackendError);
  EXPECT_NE(evs[2].detail.find("worker.log"), std::string::npos) << evs[2].detail;
  // Every message read once: each XREAD starts after the last id seen.
  std::vector<RedisCommand> reads = redis_.Sent("XREAD");
  ASSERT_GE(reads.size(), 2u);
  EXPECT_EQ(reads.back().back(), "4-0");
}

// A worker that stopped heartbeating: its entry is reclaimed (only the
// run's own ids are offered) and the attempt is lost, to run again.
TEST_F(QueueBackendUnitTest, AReclaimedEntryIsALostAttempt) {
  std::vector<Launch> ls = {L(0), L(1)};
  backend_->Submit(ls);
  reap_answer_ = F::Array({F::Str("2-0")});
  clock_.Advance(11);  // past visibility/3
  std::vector<BackendEvent> evs = Events();
  std::vector<RedisCommand> reaps;
  for (const RedisCommand& c : redis_.Sent("EVAL")) {
    if (c[1].find("porch-reaper") != std::string::npos) reaps.push_back(c);
  }
  ASSERT_FALSE(reaps.empty());
  EXPECT_EQ(reaps[0][3], "porch:q:default");
  EXPECT_EQ(reaps[0][4], std::string("porch:run:") + kUid + ":gone");
  EXPECT_EQ(reaps[0][5], "30000");  // the visibility timeout, in ms
  EXPECT_EQ(std::vector<std::string>(reaps[0].begin() + 7, reaps[0].end()),
            std::vector<std::string>({"1-0", "2-0"}));
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].index, 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kLost);
  EXPECT_NE(evs[0].detail.find("heartbeat"), std::string::npos);
}

// Cancelled while a worker had it, and then the worker died: the reaper
// ends it cancelled (porch waits for nothing more).
TEST_F(QueueBackendUnitTest, ACancelledAttemptWhoseWorkerDiedEndsCancelled) {
  std::vector<Launch> ls = {L(0)};
  backend_->Submit(ls);
  cancel_answer_ = -1;  // a worker has it
  backend_->Cancel(0, 1);
  EXPECT_TRUE(Events().empty());
  reap_answer_ = F::Array({F::Str("1-0")});
  clock_.Advance(11);
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kCancelled);
}

// A resent XADD made two entries of one attempt; the worker's "started"
// names the one that runs, and porch follows that one from then on.
TEST_F(QueueBackendUnitTest, TheStartedMessageNamesTheEntryThatRuns) {
  std::vector<Launch> ls = {L(0)};
  backend_->Submit(ls);  // porch recorded 1-0
  Message({"type", "started", "task", "t0", "attempt", "1", "worker", "w1", "stream", "porch:q:default",
           "entry", "0-9", "started", "5"});
  ASSERT_EQ(Events().size(), 1u);
  cancel_answer_ = -1;
  backend_->Cancel(0, 1);
  Events();
  std::vector<RedisCommand> cancels;
  for (const RedisCommand& c : redis_.Sent("EVAL")) {
    if (c[1].find("XPENDING") != std::string::npos) cancels.push_back(c);
  }
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0][6], "0-9");
}

TEST_F(QueueBackendUnitTest, CancellingAnUnclaimedAttemptEndsItAtOnce) {
  std::vector<Launch> ls = {L(0), L(1)};
  backend_->Submit(ls);
  cancel_answer_ = 1;  // deleted before any worker took it
  backend_->Cancel(0, 1);
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kCancelled);
  // Claimed by a worker: the result is waited for.
  cancel_answer_ = -1;
  backend_->Cancel(1, 1);
  EXPECT_TRUE(Events().empty());
  WriteResult("t1", 1, FailureReason::kCancelled);
  Message({"type", "result", "task", "t1", "attempt", "1", "exit", "143", "worker", "w1", "entry", "2-0"});
  evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kCancelled);
}

TEST_F(QueueBackendUnitTest, RedisGoneIsWaitedOutThenStopsTheRun) {
  std::vector<Launch> ls = {L(0)};
  backend_->Submit(ls);
  redis_.down = true;
  EXPECT_TRUE(Events(30).empty());
  EXPECT_TRUE(backend_->health().ok());
  EXPECT_GT(redis_.calls_while_down, 10);
  EXPECT_TRUE(Events(40).empty());
  Status h = backend_->health();
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.message().find("queue.wait_seconds"), std::string::npos);
  // Back: the result that came meanwhile is read.
  redis_.down = false;
  WriteResult("t0", 1, FailureReason::kNone);
  Message({"type", "result", "task", "t0", "attempt", "1", "exit", "0", "worker", "w1", "entry", "1-0"});
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(backend_->health().ok());
}

// One XADD of a batch answered an error (the server loading its AOF): only
// that one is sent again; the others are not duplicated.
TEST_F(QueueBackendUnitTest, OnlyTheAttemptsRedisRefusedAreSentAgain) {
  int refusals = 1;
  redis_.answer = [&](const RedisCommand& c) {
    if (c[0] == "XADD" && c[1] == "porch:q:default" && c[c.size() - 1 - 14] == "t1" && refusals-- > 0) {
      return F::Err("LOADING Redis is loading the dataset in memory");
    }
    return Answer(c);
  };
  std::vector<Launch> ls = {L(0), L(1)};
  std::vector<Result<std::string>> ids = backend_->Submit(ls);
  ASSERT_TRUE(ids[0].ok());
  ASSERT_TRUE(ids[1].ok()) << ids[1].status().message();
  int pushed = 0;
  for (const RedisCommand& c : redis_.Sent("XADD")) pushed += c[1] == "porch:q:default";
  EXPECT_EQ(pushed, 3);  // t0 once, t1 twice
}

TEST_F(QueueBackendUnitTest, ASubmitWaitsForRedisThenFailsAsUnavailable) {
  redis_.down = true;
  std::vector<Launch> ls = {L(0)};
  const double t0 = clock_.Now();
  std::vector<Result<std::string>> ids = backend_->Submit(ls);
  ASSERT_FALSE(ids[0].ok());
  EXPECT_EQ(ids[0].status().code(), Status::Code::kUnavailable);
  EXPECT_GE(clock_.Now() - t0, 60);
}

TEST_F(QueueBackendUnitTest, ResumeAdoptsRecordedEntriesAndFencesOffUnrecordedOnes) {
  InFlight recorded{0, &plan_.tasks[0], 1, "porch:q:default|7-0"};
  Result<RecoverOutcome> a = backend_->Recover(recorded);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, RecoverOutcome::kAdopted);
  // No job id and no claim: fenced (its cancel key set) and lost.
  InFlight unrecorded{1, &plan_.tasks[1], 1, ""};
  redis_.answer = [](const RedisCommand& c) { return c[0] == "EVAL" ? F::Int(0) : RedisReply{}; };
  Result<RecoverOutcome> b = backend_->Recover(unrecorded);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, RecoverOutcome::kLost);
  const RedisCommand fence = redis_.Sent("EVAL").back();
  EXPECT_EQ(fence[3], std::string("porch:run:") + kUid + ":claim:t1:1");
  EXPECT_EQ(fence[4], std::string("porch:run:") + kUid + ":cancel:t1:1");
  // Claimed by a worker: adopted.
  redis_.answer = [](const RedisCommand& c) { return c[0] == "EVAL" ? F::Int(1) : RedisReply{}; };
  Result<RecoverOutcome> c = backend_->Recover(InFlight{2, &plan_.tasks[2], 1, ""});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, RecoverOutcome::kAdopted);
  // Redis down: "cannot tell", never "lost".
  redis_.down = true;
  EXPECT_FALSE(backend_->Recover(InFlight{1, &plan_.tasks[1], 2, ""}).ok());
}

// The recorded entry is gone and no result came: reclaimed while porch was
// down, so lost.
TEST_F(QueueBackendUnitTest, AnAdoptedEntryThatIsGoneWithoutAResultIsLost) {
  ASSERT_TRUE(backend_->Recover(InFlight{0, &plan_.tasks[0], 1, "porch:q:default|7-0"}).ok());
  // The snapshot: the entry is gone, and no result came.
  redis_.answer = [](const RedisCommand& c) {
    return c[0] == "EXEC" ? F::Array({F::Array({}), RedisReply{}}) : RedisReply{};
  };
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kLost);
}

// Gone because a worker finished it: its result is in the same snapshot,
// so it is a success, not a loss.
TEST_F(QueueBackendUnitTest, AnAdoptedEntryGoneWithItsResultIsItsResult) {
  ASSERT_TRUE(backend_->Recover(InFlight{0, &plan_.tasks[0], 1, "porch:q:default|7-0"}).ok());
  WriteResult("t0", 1, FailureReason::kNone);
  redis_.answer = [](const RedisCommand& c) {
    if (c[0] != "EXEC") return RedisReply{};
    RedisReply read = F::Array({F::Array({F::Str(std::string("porch:run:") + kUid + ":results"),
                                          F::Array({F::Array({F::Str("9-0"),
                                                              F::Fields({"type", "result", "task", "t0", "attempt",
                                                                         "1", "exit", "0", "worker", "w1"})})})})});
    return F::Array({F::Array({}), read});
  };
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kNone) << evs[0].detail;
}

// queue.staging: s3. The workers never see the run directory: each
// submission publishes what changed, the message carries the stage instead
// of the directory, and a worker's result brings the attempt home from S3;
// while S3 fails the result is fetched again later, not lost.
class StagedQueueBackendTest : public QueueBackendUnitTest {
 protected:
  StagedQueueBackendTest()
      : stager_(&store_, "bkt", "porch/runs/r." + std::string(kUid), layout_, {}) {
    store_.buckets["bkt"];
    EXPECT_TRUE(MakeDirs(layout_.output()).ok());
    EXPECT_TRUE(WriteFileAtomic(layout_.plan(), "{\"tasks\": []}").ok());
    QueueBackendOptions o;
    o.uid = kUid;
    o.visibility_s = 30;
    o.poll_s = 0.05;
    o.wait_s = 60;
    backend_ = std::make_unique<QueueBackend>(&redis_, layout_, &clock_, o, &stager_);
  }
  std::string Key(const std::string& rest) const { return "porch/runs/r." + std::string(kUid) + "/" + rest; }
  MemoryObjectStore store_;
  S3Stager stager_;
};

TEST_F(StagedQueueBackendTest, MessagesCarryTheStageAndResultsComeHomeFromS3) {
  ASSERT_TRUE(WriteFileAtomic(layout_.output() + "/in.txt", "input").ok());
  std::vector<Launch> ls = {L(0), L(1)};
  backend_->Submit(ls);
  auto& b = store_.buckets["bkt"];
  EXPECT_EQ(b[Key("input/output/in.txt")], "input");  // published before the XADDs
  std::vector<RedisCommand> adds;
  for (const RedisCommand& c : redis_.Sent("XADD")) {
    if (c[1].find(":q:") != std::string::npos) adds.push_back(c);
  }
  ASSERT_EQ(adds.size(), 2u);
  Result<AttemptMessage> m = DecodeAttempt(F::Fields({adds[0].begin() + 3, adds[0].end()}));
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->stage, "s3://bkt/" + Key("").substr(0, Key("").size() - 1));
  EXPECT_EQ(m->run_dir, "");  // porch's directory is nothing to a worker
  EXPECT_EQ(WorkerRunDir(*m, "/w"), std::string("/w/porch-") + kUid + "/t0-1");

  // t0: the worker sent its files and result. t1: S3 fails when its
  // result message comes, then recovers.
  AttemptResult r;
  r.task_id = "t0";
  r.attempt = 1;
  b[Key("tasks/t0/attempt-1/stdout")] = "hello\n";
  b[Key("tasks/t0/attempt-1/output/made.txt")] = "made";
  b[Key("results/t0/attempt-1.json")] = AttemptResultToJson(r);
  Message({"type", "result", "task", "t0", "attempt", "1", "exit", "0", "worker", "w1", "entry", "1-0"});
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kNone);
  EXPECT_EQ(*ReadFile(layout_.stdout_path("t0", 1)), "hello\n");
  EXPECT_EQ(*ReadFile(layout_.output() + "/made.txt"), "made");

  r.task_id = "t1";
  b[Key("results/t1/attempt-1.json")] = AttemptResultToJson(r);
  store_.down = true;
  Message({"type", "result", "task", "t1", "attempt", "1", "exit", "0", "worker", "w1", "entry", "2-0"});
  EXPECT_TRUE(Events(2).empty());  // not lost, not settled: waiting for S3
  store_.down = false;
  evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].index, 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kNone);
}

// Redis reconnects while a result waits for S3: the check of adopted
// entries (the worker deleted this one with its result) does not call the
// attempt lost; it ends with its result once S3 answers.
TEST_F(StagedQueueBackendTest, AResultWaitingForS3IsNotLostWhenRedisReconnects) {
  std::vector<Launch> ls = {L(0)};
  backend_->Submit(ls);
  AttemptResult r;
  r.task_id = "t0";
  r.attempt = 1;
  store_.buckets["bkt"][Key("results/t0/attempt-1.json")] = AttemptResultToJson(r);
  store_.down = true;
  Message({"type", "result", "task", "t0", "attempt", "1", "exit", "0", "worker", "w1", "entry", "1-0"});
  EXPECT_TRUE(Events(1).empty());
  // Redis goes away and comes back; the worker had deleted the entry with
  // its result, so a snapshot shows every entry looked at as gone.
  int ranges = 0;
  redis_.answer = [&](const RedisCommand& c) {
    if (c[0] == "MULTI") ranges = 0;
    if (c[0] == "XRANGE") ++ranges;
    if (c[0] != "EXEC") return Answer(c);
    std::vector<RedisReply> snapshot(ranges, F::Array({}));
    snapshot.push_back(RedisReply{});
    return F::Array(snapshot);
  };
  redis_.down = true;
  EXPECT_TRUE(Events(1).empty());
  redis_.down = false;
  std::vector<BackendEvent> evs = Events(35);  // past the visibility timeout: the entries are checked
  EXPECT_TRUE(evs.empty()) << evs.front().detail;
  store_.down = false;
  evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kNone) << evs[0].detail;
}

TEST_F(StagedQueueBackendTest, AResultNeverSentIsTheWorkersWordNotAWait) {
  std::vector<Launch> ls = {L(0)};
  backend_->Submit(ls);
  Message({"type", "result", "task", "t0", "attempt", "1", "exit", "93", "worker", "w1", "entry", "1-0",
           "detail", "worker w1 could not send the attempt to s3://bkt/x"});
  std::vector<BackendEvent> evs = Events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].reason, FailureReason::kBackendError);
  EXPECT_NE(evs[0].detail.find("could not send the attempt"), std::string::npos) << evs[0].detail;
}

TEST_F(StagedQueueBackendTest, APublishThatFailsFailsTheSubmissionSayingWhere) {
  store_.down = true;
  std::vector<Launch> ls = {L(0)};
  std::vector<Result<std::string>> ids = backend_->Submit(ls);
  ASSERT_EQ(ids.size(), 1u);
  ASSERT_FALSE(ids[0].ok());
  EXPECT_NE(ids[0].status().message().find("s3://bkt/"), std::string::npos) << ids[0].status().message();
  EXPECT_TRUE(redis_.Sent("XADD").empty());  // nothing queued that a worker could not fetch
}

}  // namespace
}  // namespace porch
