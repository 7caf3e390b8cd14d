// The queue's pure parts: Redis URLs, worker classes, the messages.
#include <gtest/gtest.h>

#include "fakes/fake_redis.h"
#include "queue/queue_protocol.h"
#include "queue/redis_client.h"

namespace porch {
namespace {

TEST(RedisUrlTest, ReadsHostPortAndDatabase) {
  Result<RedisAddress> a = ParseRedisUrl("redis://10.0.0.5:6380/3");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 3);
  Result<RedisAddress> d = ParseRedisUrl("redis://redis.internal");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, 6379);
  EXPECT_EQ(d->db, 0);
  Result<RedisAddress> v6 = ParseRedisUrl("redis://[::1]:7000/1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->Shown(), "redis://[::1]:7000/1");
}

TEST(RedisUrlTest, ThePasswordComesFromOutsideTheUrlAndIsNeverShown) {
  Result<RedisAddress> a = ParseRedisUrl("redis://127.0.0.1:6379/0", "s3cret");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->password, "s3cret");
  EXPECT_EQ(a->Shown().find("s3cret"), std::string::npos);
  // A password in the URL would be written to config.json and show in ps.
  Result<RedisAddress> inline_pw = ParseRedisUrl("redis://:hunter2@127.0.0.1:6379/0");
  ASSERT_FALSE(inline_pw.ok());
  EXPECT_EQ(inline_pw.status().message().find("hunter2"), std::string::npos);
  EXPECT_NE(inline_pw.status().message().find("PORCH_QUEUE_PASSWORD"), std::string::npos);
  // A password holding '/' or '@' is still the password, never a port or a path in a message.
  for (const char* url : {"redis://u:abc/1@h:6379/0", "redis://:p@ss/w0rd@h/2"}) {
    Result<RedisAddress> odd = ParseRedisUrl(url);
    ASSERT_FALSE(odd.ok()) << url;
    EXPECT_NE(odd.status().message().find("carries a password"), std::string::npos) << odd.status().message();
  }
}

TEST(RedisUrlTest, BadUrlsSayWhatIsWrong) {
  for (const char* bad : {"http://127.0.0.1:6379", "redis://", "redis://host:0", "redis://host:99999",
                          "redis://host:abc", "redis://host/x", "redis://[::1", "redis://[::1]x"}) {
    Result<RedisAddress> a = ParseRedisUrl(bad);
    EXPECT_FALSE(a.ok()) << bad;
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), Status::Code::kInvalidArgument) << bad;
    }
  }
  Result<RedisAddress> tls = ParseRedisUrl("rediss://127.0.0.1:6380/0");
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.status().message().find("stunnel"), std::string::npos);
}

TEST(WorkerClassesTest, EveryCombinationOfTheLabelsAndTheDefault) {
  Result<std::vector<std::string>> none = WorkerClasses({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, std::vector<std::string>({"default"}));
  Result<std::vector<std::string>> two = WorkerClasses({"large", "gpu", "gpu"});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, std::vector<std::string>({"default", "gpu", "large", "gpu+large"}));
  EXPECT_FALSE(WorkerClasses({"GPU"}).ok());
  EXPECT_FALSE(WorkerClasses({"a b"}).ok());
  EXPECT_FALSE(WorkerClasses({"default"}).ok());
  EXPECT_FALSE(WorkerClasses({"a", "b", "c", "d", "e", "f", "g"}).ok());
  EXPECT_EQ(QueueClass(0), "default");
  EXPECT_EQ(QueueClass(2), "gpu");
}

AttemptMessage Sample() {
  AttemptMessage m;
  m.run_uid = "0123456789abcdef";
  m.run_dir = "/shared/runs/r1";
  m.task_id = "build";
  m.attempt = 2;
  m.time_limit_s = 60;
  m.grace_s = 5;
  m.gpus = 1;
  m.prefix = "porch";
  m.results = QueueNames{"porch"}.Results(m.run_uid);
  return m;
}

TEST(QueueMessageTest, AnAttemptSurvivesTheRoundTrip) {
  Result<AttemptMessage> back = DecodeAttempt(FakeRedis::Fields(EncodeAttempt(Sample())));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->run_uid, "0123456789abcdef");
  EXPECT_EQ(back->run_dir, "/shared/runs/r1");
  EXPECT_EQ(back->task_id, "build");
  EXPECT_EQ(back->attempt, 2);
  EXPECT_DOUBLE_EQ(back->time_limit_s, 60);
  EXPECT_EQ(back->gpus, 1);
}

// queue.staging s3: the message names the stage and no directory; a
// worker runs the attempt in a directory of its own.
TEST(QueueMessageTest, AStagedAttemptCarriesItsStageAndRunsInTheWorkersDirectory) {
  AttemptMessage m = Sample();
  m.run_dir = "";
  m.stage = "s3://bkt/porch/runs/r1.0123456789abcdef";
  Result<AttemptMessage> back = DecodeAttempt(FakeRedis::Fields(EncodeAttempt(m)));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->stage, m.stage);
  EXPECT_EQ(back->run_dir, "");
  EXPECT_EQ(WorkerRunDir(*back, "/var/porch"), "/var/porch/porch-0123456789abcdef/build-2");
  EXPECT_EQ(WorkerRunDir(Sample(), "/var/porch"), "/shared/runs/r1");
  std::vector<std::string> kv = EncodeAttempt(m);
  auto with = [&](const std::string& field, const std::string& value) {
    std::vector<std::string> changed = kv;
    for (size_t i = 0; i + 1 < changed.size(); i += 2) {
      if (changed[i] == field) changed[i + 1] = value;
    }
    return DecodeAttempt(FakeRedis::Fields(changed));
  };
  EXPECT_FALSE(with("stage", "http://bkt/x").ok());
  EXPECT_FALSE(with("stage", "s3://").ok());
  EXPECT_FALSE(with("stage", "s3://bkt/runs/../../other").ok());
  kv.push_back("dir");
  kv.push_back("/shared/runs/r1");  // both: which one?
  EXPECT_FALSE(DecodeAttempt(FakeRedis::Fields(kv)).ok());
}

// What a worker dead-letters instead of running: each field broken in turn.
TEST(QueueMessageTest, MalformedAttemptsAreRefusedWithTheReason) {
  std::vector<std::string> good = EncodeAttempt(Sample());
  auto with = [&](const std::string& field, const std::string& value) {
    std::vector<std::string> kv = good;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      if (kv[i] == field) kv[i + 1] = value;
    }
    return DecodeAttempt(FakeRedis::Fields(kv));
  };
  EXPECT_FALSE(DecodeAttempt(FakeRedis::Fields({"hello", "world"})).ok());
  EXPECT_FALSE(DecodeAttempt(FakeRedis::Str("not an array")).ok());
  EXPECT_FALSE(DecodeAttempt(RedisReply{}).ok());  // a deleted entry's nil fields
  EXPECT_FALSE(with("dir", "relative/dir").ok());
  EXPECT_FALSE(with("task", "../../etc").ok());
  EXPECT_FALSE(with("task", "").ok());
  EXPECT_FALSE(with("uid", "a/b").ok());
  EXPECT_FALSE(with("attempt", "0").ok());
  EXPECT_FALSE(with("attempt", "1x").ok());
  EXPECT_FALSE(with("attempt", "99999999999999999999").ok());
  EXPECT_FALSE(with("limit", "-1").ok());
  EXPECT_FALSE(with("limit", "nan").ok());
  EXPECT_FALSE(with("gpus", "-2").ok());
  // A result stream that is not the run's own (a worker must not write
  // into another run's stream on a message's say-so).
  EXPECT_FALSE(with("results", "porch:run:ffffffffffffffff:results").ok());
  Result<AttemptMessage> bad = with("attempt", "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("attempt"), std::string::npos);
}

TEST(QueueMessageTest, AResultSurvivesTheRoundTrip) {
  ResultMessage r;
  r.task_id = "t";
  r.attempt = 3;
  r.exit_code = 137;
  r.worker = "w1";
  r.entry = "1-0";
  r.started_at = 10.5;
  r.ended_at = 12.25;
  r.detail = "why";
  Result<ResultMessage> back = DecodeResult(FakeRedis::Fields(EncodeResult(r)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->task_id, "t");
  EXPECT_EQ(back->attempt, 3);
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_EQ(back->worker, "w1");
  EXPECT_DOUBLE_EQ(back->ended_at, 12.25);
  EXPECT_EQ(back->detail, "why");
  EXPECT_FALSE(DecodeResult(FakeRedis::Fields({"task", "t", "attempt", "x", "exit", "0"})).ok());
}

TEST(QueueMessageTest, StreamEntriesSkipWhatIsMalformed) {
  using F = FakeRedis;
  RedisReply reply = F::Array({
      F::Array({F::Str("s1"), F::Array({F::Array({F::Str("1-0"), F::Fields({"a", "b"})}),
                                        F::Str("junk"),
                                        F::Array({F::Str("2-0")})})}),
      F::Str("junk"),
      F::Array({F::Str("s2")}),
  });
  std::map<std::string, std::vector<StreamEntry>> got = StreamEntries(reply);
  ASSERT_EQ(got["s1"].size(), 2u);
  EXPECT_EQ(got["s1"][0].id, "1-0");
  EXPECT_EQ(got["s1"][1].id, "2-0");
  EXPECT_TRUE(got["s1"][1].fields.is_nil());
  EXPECT_EQ(got.count("s2"), 0u);
}

}  // namespace
}  // namespace porch
