// The queue backend end to end: a real redis-server per test (127.0.0.1, a
// free port, AOF on), real `porch worker` processes and `porch run
// --backend queue`, on one machine standing in for many (the run directory
// is "shared" because it is local). Skips without redis-server, except in
// CI, where that fails.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "backend/queue/redis_server.h"
#include "queue/queue_protocol.h"
#include "fakes/fake_llm_server.h"
#include "integration/porch_process.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

class QueueClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServer::Binary().empty()) PORCH_SKIP_OR_FAIL("redis-server is not installed (scripts/install-redis.sh)");
    ASSERT_TRUE(MakeDirs(dir_.path() + "/redis").ok());
    ASSERT_TRUE(MakeDirs(marks()).ok());
    redis_ = std::make_unique<RedisServer>(dir_.path() + "/redis");
    ASSERT_TRUE(redis_->Start()) << redis_->error();
  }

  std::string marks() const { return dir_.path() + "/marks"; }
  std::string prefix() const { return prefix_; }

  std::vector<std::string> Sets() const {
    return {"--set", "queue.url=" + redis_->url(), "--set", "queue.prefix=" + prefix_, "--set",
            "queue.poll_seconds=0.02", "--set", "queue.visibility_timeout=5", "--set", "kill_grace_seconds=0.5",
            "--output-dir", dir_.path() + "/runs"};
  }

  std::unique_ptr<PorchProcess> Worker(const std::string& name, int slots, const std::string& labels = "") {
    std::vector<std::string> args = {"worker", "--queue", redis_->url(), "--slots", std::to_string(slots),
                                     "--name", name, "--set", "queue.prefix=" + prefix_, "--set",
                                     "queue.visibility_timeout=5"};
    if (!labels.empty()) {
      args.push_back("--labels");
      args.push_back(labels);
    }
    return std::make_unique<PorchProcess>(dir_.path(), args);
  }

  std::string Plan(const std::string& yaml) {
    const std::string path = dir_.path() + "/" + UniqueName("plan") + ".yaml";
    EXPECT_TRUE(WriteFileAtomic(path, yaml).ok());
    return path;
  }

  std::vector<std::string> RunArgs(const std::string& plan, const std::string& run_id, int m) {
    std::vector<std::string> args = {"run", "--plan", plan, "--backend", "queue", "--run-id", run_id, "-j",
                                     std::to_string(m), "-q"};
    for (const std::string& s : Sets()) args.push_back(s);
    return args;
  }

  json Status(const std::string& run_id) {
    PorchRun r = RunPorch(dir_.path(), {"status", run_id, "--json", "--output-dir", dir_.path() + "/runs"});
    return json::parse(r.out, nullptr, false);
  }

  std::vector<std::string> Lines(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(line);
    }
    return out;
  }

  // Waits up to `seconds` for `done` to hold.
  static bool Eventually(const std::function<bool()>& done, double seconds) {
    for (int i = 0; i < seconds * 50; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  }

  // Stops a worker with SIGTERM; it exits 0 once its attempts are done.
  static void StopWorker(PorchProcess* w) {
    w->Signal(SIGTERM);
    PorchRun r = w->Wait(30);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }

  TempDir dir_;
  std::unique_ptr<RedisServer> redis_;
  std::string prefix_ = UniqueName("porchtest");
};

// Each task appends "<task> <worker> <start> <end>" to one file (a short
// append is atomic): how often, where and how concurrently each ran.
std::string MarkedCommand(const std::string& marks, const std::string& id, const std::string& work) {
  return "s=$(date +%s.%N); " + work + "; echo \"" + id + " $PORCH_WORKER_NAME $s $(date +%s.%N)\" >> " + marks +
         "/runs.txt";
}

// The most attempts that ran at once, from runs.txt's start and end times.
int MostAtOnce(const std::vector<std::string>& lines) {
  std::vector<std::pair<double, int>> edges;  // (time, +1 start / -1 end)
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string id, worker;
    double start = 0, end = 0;
    in >> id >> worker >> start >> end;
    edges.push_back({start, +1});
    edges.push_back({end, -1});
  }
  std::sort(edges.begin(), edges.end());
  int now = 0, most = 0;
  for (const auto& e : edges) most = std::max(most, now += e.second);
  return most;
}

TEST_F(QueueClusterTest, AHundredTasksOverThreeWorkersRunOnceWithinMAndGpuTasksOnTheGpuWorker) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 100; ++i) {
    const std::string id = "t" + std::to_string(i);
    plan << "  - id: " << id << "\n    command: '" << MarkedCommand(marks(), id, "sleep 0.02") << "'\n";
    if (i >= 3) plan << "    depends_on: [t" << (i - 3) << (i % 7 == 0 && i >= 7 ? ", t" + std::to_string(i - 7) : "") << "]\n";
    if (i % 10 == 5) plan << "    resources: {gpus: 1}\n";
  }
  auto w1 = Worker("w1", 2);
  auto w2 = Worker("w2", 2);
  auto w3 = Worker("gpu1", 2, "gpu");
  std::unique_ptr<HiredisClient> c = redis_->Client();
  ASSERT_TRUE(Eventually([&] {
    Result<RedisReply> n = c->Command({"ZCARD", prefix() + ":workers"});
    return n.ok() && n->integer == 3;
  }, 30)) << "the workers did not register";
  const int m = 4;
  PorchRun r = RunPorch(dir_.path(), RunArgs(Plan(plan.str()), "hundred", m));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // porch status shows the workers the run saw.
  PorchRun st = RunPorch(dir_.path(), {"status", "hundred", "--output-dir", dir_.path() + "/runs"});
  EXPECT_NE(st.out.find("workers (as the run last saw them)"), std::string::npos) << st.out;
  for (const char* name : {"w1 ", "w2 ", "gpu1 "}) EXPECT_NE(st.out.find(name), std::string::npos) << st.out;
  json workers = Status("hundred")["workers"];
  ASSERT_EQ(workers.size(), 3u) << workers.dump();
  for (const json& w : workers) {
    EXPECT_EQ(w["slots"], 2);
    EXPECT_EQ(w["labels"], w["name"] == "gpu1" ? json::array({"gpu"}) : json::array()) << w.dump();
  }
  std::map<std::string, int> runs;
  const std::vector<std::string> lines = Lines(marks() + "/runs.txt");
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string id, worker;
    in >> id >> worker;
    ++runs[id];
    if (std::stoi(id.substr(1)) % 10 == 5) {
      EXPECT_EQ(worker, "gpu1") << id << " needs a GPU";
    }
  }
  EXPECT_EQ(runs.size(), 100u);
  for (const auto& [id, count] : runs) EXPECT_EQ(count, 1) << id << " ran " << count << " times";
  const int most = MostAtOnce(lines);
  EXPECT_LE(most, m) << "more attempts at once than -j " << m;
  EXPECT_GE(most, 2) << "the workers never ran two at once";
  for (auto* w : {w1.get(), w2.get(), w3.get()}) StopWorker(w);
}

// kill -9 of a worker while it runs attempts: they are reclaimed after the
// visibility timeout and run on the other worker as new attempts, not
// charged (retries: 0 and the run still succeeds), and the dead worker's
// copies died with it (the lock each copy holds is never found taken).
TEST_F(QueueClusterTest, AKilledWorkersAttemptsRunElsewhereUnchargedNeverTwiceAtOnce) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 3; ++i) {
    const std::string id = "k" + std::to_string(i);
    const std::string lock = marks() + "/" + id + ".lock";
    plan << "  - id: " << id << "\n    retries: 0\n    command: 'echo $PORCH_WORKER_NAME >> " << marks() << "/" << id
         << ".starts; flock -n " << lock << " sleep 4 || { echo " << id << " >> " << marks()
         << "/overlap; exit 1; }; echo $PORCH_WORKER_NAME >> " << marks() << "/" << id << ".done'\n";
  }
  auto doomed = Worker("doomed", 3);
  PorchProcess run(dir_.path(), RunArgs(Plan(plan.str()), "killed-worker", 3));
  ASSERT_TRUE(Eventually([&] {
    for (int i = 0; i < 3; ++i) {
      if (Lines(marks() + "/k" + std::to_string(i) + ".starts").empty()) return false;
    }
    return true;
  }, 30)) << run.ErrSoFar();
  auto survivor = Worker("survivor", 3);
  doomed->Signal(SIGKILL);
  doomed->Wait();
  PorchRun r = run.Wait(90);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(PathExists(marks() + "/overlap")) << *ReadFile(marks() + "/overlap");
  json st = Status("killed-worker");
  for (int i = 0; i < 3; ++i) {
    const std::string id = "k" + std::to_string(i);
    EXPECT_EQ(Lines(marks() + "/" + id + ".starts"), std::vector<std::string>({"doomed", "survivor"})) << id;
    EXPECT_EQ(Lines(marks() + "/" + id + ".done"), std::vector<std::string>({"survivor"})) << id;
  }
  for (const json& t : st["tasks"]) {
    ASSERT_EQ(t["attempt_details"].size(), 2u) << t.dump();
    EXPECT_EQ(t["attempt_details"][0]["outcome"], "lost") << t.dump();
    EXPECT_NE(t["attempt_details"][0]["detail"].get<std::string>().find("doomed"), std::string::npos) << t.dump();
    EXPECT_EQ(t["state"], "succeeded");
  }
  StopWorker(survivor.get());
}

// A worker serving several streams (default and gpu) reads up to its free
// slots from each: what does not fit waits in its backlog, never runs
// beyond --slots.
TEST_F(QueueClusterTest, AWorkerOnSeveralStreamsNeverRunsMoreThanItsSlots) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 6; ++i) {
    const std::string id = "s" + std::to_string(i);
    plan << "  - id: " << id << "\n    command: '" << MarkedCommand(marks(), id, "sleep 0.3") << "'\n";
    if (i % 2 == 1) plan << "    resources: {gpus: 1}\n";
  }
  auto w = Worker("one-slot", 1, "gpu");
  PorchRun r = RunPorch(dir_.path(), RunArgs(Plan(plan.str()), "slots", 6));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = Lines(marks() + "/runs.txt");
  ASSERT_EQ(lines.size(), 6u);
  const int most = MostAtOnce(lines);
  EXPECT_EQ(most, 1) << "a worker with --slots 1 ran " << most << " at once";
  StopWorker(w.get());
}

// A second SIGTERM stops the running attempts: they run again on another
// worker, not charged (retries: 0 and the run succeeds).
TEST_F(QueueClusterTest, ASecondSigtermHandsTheAttemptsBack) {
  auto leaving = Worker("leaving", 2);
  PorchProcess run(dir_.path(), RunArgs(Plan("tasks:\n  - id: long\n    retries: 0\n    command: 'echo $PORCH_WORKER_NAME >> " +
                                             marks() + "/long.starts; [ $PORCH_WORKER_NAME = staying ] || sleep 60'\n"),
                                        "handed-back", 2));
  ASSERT_TRUE(Eventually([&] { return Lines(marks() + "/long.starts").size() == 1; }, 30)) << run.ErrSoFar();
  auto staying = Worker("staying", 2);
  leaving->Signal(SIGTERM);
  // Two SIGTERMs pending at once count as one: the second goes only after
  // the worker took the first (a loaded machine may not run it for a while).
  ASSERT_TRUE(Eventually([&] { return leaving->ErrSoFar().find("asked to stop") != std::string::npos; }, 30))
      << leaving->ErrSoFar();
  EXPECT_NE(leaving->ErrSoFar().find("finishing 1 running attempt(s)"), std::string::npos) << leaving->ErrSoFar();
  leaving->Signal(SIGTERM);
  PorchRun left = leaving->Wait(30);
  EXPECT_EQ(left.exit_code, 0) << left.err;
  PorchRun r = run.Wait(60);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Lines(marks() + "/long.starts"), std::vector<std::string>({"leaving", "staying"}));
  json t = Status("handed-back")["tasks"][0];
  ASSERT_EQ(t["attempt_details"].size(), 2u) << t.dump();
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "lost") << t.dump();
  StopWorker(staying.get());
}

// kill -9 of porch mid-run, then resume: the attempts the workers ran
// meanwhile are adopted from the result stream, none runs twice.
TEST_F(QueueClusterTest, PorchKilledMidRunResumesWithoutRunningAnAttemptTwice) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 8; ++i) {
    const std::string id = "p" + std::to_string(i);
    plan << "  - id: " << id << "\n    command: '" << MarkedCommand(marks(), id, "sleep 0.6") << "'\n";
    if (i >= 4) plan << "    depends_on: [p" << (i - 4) << "]\n";
  }
  auto w1 = Worker("w1", 2);
  auto w2 = Worker("w2", 2);
  const std::string plan_path = Plan(plan.str());
  PorchProcess run(dir_.path(), RunArgs(plan_path, "killed-porch", 4));
  ASSERT_TRUE(Eventually([&] { return Lines(marks() + "/runs.txt").size() >= 1; }, 30)) << run.ErrSoFar();
  run.Signal(SIGKILL);
  run.Wait();
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // results come in while porch is down
  std::vector<std::string> resume = {"resume", "killed-porch"};
  resume.push_back("--output-dir");
  resume.push_back(dir_.path() + "/runs");
  PorchRun r = RunPorch(dir_.path(), resume);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, int> runs;
  for (const std::string& line : Lines(marks() + "/runs.txt")) ++runs[line.substr(0, line.find(' '))];
  EXPECT_EQ(runs.size(), 8u);
  for (const auto& [id, count] : runs) EXPECT_EQ(count, 1) << id << " ran " << count << " times";
  StopWorker(w1.get());
  StopWorker(w2.get());
}

// Redis stops and starts again mid-run (its AOF keeps the streams): the
// workers and porch wait, and the run completes.
TEST_F(QueueClusterTest, RedisRestartedMidRunTheRunCompletes) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 6; ++i) {
    const std::string id = "r" + std::to_string(i);
    plan << "  - id: " << id << "\n    command: '" << MarkedCommand(marks(), id, "sleep 0.4") << "'\n";
    if (i > 0) plan << "    depends_on: [r" << (i - 1) << "]\n";
  }
  auto w1 = Worker("w1", 2);
  PorchProcess run(dir_.path(), RunArgs(Plan(plan.str()), "restarted", 2));
  ASSERT_TRUE(Eventually([&] { return Lines(marks() + "/runs.txt").size() >= 2; }, 30)) << run.ErrSoFar();
  ASSERT_TRUE(redis_->Restart()) << redis_->error();
  PorchRun r = run.Wait(120);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, int> runs;
  for (const std::string& line : Lines(marks() + "/runs.txt")) ++runs[line.substr(0, line.find(' '))];
  EXPECT_EQ(runs.size(), 6u);
  for (const auto& [id, count] : runs) EXPECT_EQ(count, 1) << id;
  StopWorker(w1.get());
}

TEST_F(QueueClusterTest, UnreachableRedisOrAWrongPasswordIsExit3AtTheStart) {
  const std::string plan = Plan("tasks:\n  - id: a\n    command: 'true'\n");
  redis_->Stop();  // nothing listens on its port now
  std::vector<std::string> args = RunArgs(plan, "unreachable", 1);
  PorchRun r = RunPorch(dir_.path(), args);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot reach Redis at redis://127.0.0.1:" + std::to_string(redis_->port())),
            std::string::npos) << r.err;
  PorchRun w = RunPorch(dir_.path(), {"worker", "--queue", redis_->url(), "--once"});
  EXPECT_EQ(w.exit_code, 3) << w.err;
  EXPECT_NE(w.err.find("cannot reach Redis"), std::string::npos) << w.err;

  TempDir other;
  RedisServer locked(other.path(), "right-password");
  ASSERT_TRUE(locked.Start()) << locked.error();
  args = RunArgs(plan, "refused-1", 1);
  for (std::string& a : args) {
    if (a == "queue.url=" + redis_->url()) a = "queue.url=" + locked.url();
  }
  r = RunPorch(dir_.path(), args, {{"PORCH_QUEUE_PASSWORD", "wrong-password"}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("password"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("wrong-password"), std::string::npos) << "the password was printed: " << r.err;
  args = RunArgs(plan, "refused-2", 1);
  for (std::string& a : args) {
    if (a == "queue.url=" + redis_->url()) a = "queue.url=" + locked.url();
  }
  r = RunPorch(dir_.path(), args);  // none at all
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // In the URL: refused before anything is written.
  PorchRun inline_pw = RunPorch(dir_.path(), {"worker", "--queue", "redis://:right-password@127.0.0.1:1/0"});
  EXPECT_EQ(inline_pw.exit_code, 2) << inline_pw.err;
  EXPECT_EQ(inline_pw.err.find("right-password"), std::string::npos) << inline_pw.err;
  // The right one, from a file: a worker with nothing to do exits 0.
  ASSERT_TRUE(WriteFileAtomic(other.path() + "/pw", "right-password\n").ok());
  PorchRun ok = RunPorch(dir_.path(), {"worker", "--queue", locked.url(), "--password-file", other.path() + "/pw",
                                       "--once", "--set", "queue.prefix=" + prefix()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// Task ids a plan allows (spaces, non-ASCII) are ids a worker accepts: a
// message a worker refused would leave porch waiting.
TEST_F(QueueClusterTest, TaskIdsWithSpacesAndUnicodeRun) {
  auto w = Worker("w1", 2);
  PorchRun r = RunPorch(dir_.path(), RunArgs(Plan("tasks:\n  - id: 'make docs'\n    command: 'true'\n"
                                                  "  - id: 'übersetzen'\n    command: 'true'\n"),
                                             "odd-ids", 2));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  StopWorker(w.get());
}

// A message a worker cannot read, but which names a run, its task and
// attempt and that run's own result stream: the run is told (a result with
// the reason), instead of waiting for an attempt that will never run.
TEST_F(QueueClusterTest, AnUnreadableAttemptOfARunIsReportedToThatRun) {
  std::unique_ptr<HiredisClient> c = redis_->Client();
  const std::string stream = prefix() + ":q:default";
  const std::string results = prefix() + ":run:0123456789abcdef:results";
  ASSERT_TRUE(c->Command({"XGROUP", "CREATE", stream, "porch-workers", "0", "MKSTREAM"}).ok());
  ASSERT_TRUE(c->Command({"XADD", results, "*", "type", "open"}).ok());
  ASSERT_TRUE(c->Command({"XADD", stream, "*", "v", "1", "uid", "0123456789abcdef", "dir", "/nowhere", "task", "t",
                          "attempt", "1", "limit", "soon", "grace", "1", "gpus", "0", "results", results, "prefix",
                          prefix()}).ok());
  auto w = Worker("w1", 1);
  ASSERT_TRUE(Eventually([&] {
    Result<RedisReply> n = c->Command({"XLEN", results});
    return n.ok() && n->integer == 2;
  }, 30));
  Result<RedisReply> all = c->Command({"XRANGE", results, "-", "+"});
  ASSERT_TRUE(all.ok());
  Result<ResultMessage> told = DecodeResult(all->elements[1].elements[1]);
  ASSERT_TRUE(told.ok()) << told.status().message();
  EXPECT_EQ(told->task_id, "t");
  EXPECT_EQ(told->exit_code, -3);
  EXPECT_NE(told->detail.find("time limit"), std::string::npos) << told->detail;
  StopWorker(w.get());
}

// Garbage in a class stream is logged and moved to the dead-letter stream;
// the worker goes on and runs a real attempt after it.
TEST_F(QueueClusterTest, AMalformedMessageIsDeadLetteredAndTheWorkerGoesOn) {
  std::unique_ptr<HiredisClient> c = redis_->Client();
  const std::string stream = prefix() + ":q:default";
  ASSERT_TRUE(c->Command({"XGROUP", "CREATE", stream, "porch-workers", "0", "MKSTREAM"}).ok());
  ASSERT_TRUE(c->Command({"XADD", stream, "*", "v", "1", "task", "../../etc/passwd", "attempt", "x"}).ok());
  ASSERT_TRUE(c->Command({"XADD", stream, "*", "hello", "world"}).ok());
  auto w = Worker("w1", 1);
  PorchRun r = RunPorch(dir_.path(), RunArgs(Plan("tasks:\n  - id: a\n    command: 'echo ok > a.txt'\n"), "after-garbage", 1));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Result<RedisReply> dead = c->Command({"XLEN", prefix() + ":dead"});
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(dead->integer, 2);
  Result<RedisReply> left = c->Command({"XLEN", stream});
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->integer, 0) << "every entry acknowledged and deleted";
  w->Signal(SIGTERM);
  PorchRun wr = w->Wait(30);
  EXPECT_EQ(wr.exit_code, 0);
  EXPECT_NE(wr.err.find("dead-lettered"), std::string::npos) << wr.err;
}

// queue.staging: s3. Two workers in work directories of their own, with
// nothing shared with porch but Redis and a bucket on the S3 server of
// scripts/s3-up.sh: the messages name no directory, the tasks run in the
// workers' node directories, a task's output reaches its dependent through
// S3, a failing task's logs come home, and the run's output is in the
// bucket at the end.
TEST_F(QueueClusterTest, AStagedRunGoesThroughS3WithNoSharedRunDirectory) {
  const char* url = getenv("PORCH_S3_SIGV4_ENDPOINT");
  if (!url || !*url) PORCH_SKIP_OR_FAIL("PORCH_S3_SIGV4_ENDPOINT is not set (run scripts/s3-up.sh)");
  const std::string bucket = UniqueName("porch-queue");
  // An agent on the API too: its workspace goes up and its merge happens home.
  TempDir server_dir;
  json write = {{"tool_use", {{"name", "write_file"}, {"input", {{"path", "ai.txt"}, {"content", "agent\n"}}}}}};
  FakeLlmServer server(server_dir.path(), json{{"rules", {{{"match", "wrote "}, {"responses", {{{"text", "Done."}}}}},
                                                          {{"match", "QUEUE-AI"}, {"responses", {write}}}}}});
  ASSERT_TRUE(server.ok());
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
                                            {"PORCH_AWS_REGION", "us-east-1"}, {"PORCH_AWS_ENDPOINT", url},
                                            {"PORCH_KEEP_NODE_DIR", "1"}, {"PORCH_AWS_S3_BUCKET", bucket},
                                            {"ANTHROPIC_API_KEY", "sk-test"},
                                            {"ANTHROPIC_BASE_URL", server.url()}, {"PORCH_AGENT_EXECUTOR", "api"}};
  PorchRun mb = RunPorch(dir_.path(), {"s3", "mb", "s3://" + bucket}, env);
  if (mb.exit_code != 0) PORCH_SKIP_OR_FAIL("no S3 server answers at " << url << ": " << mb.err);
  std::vector<std::unique_ptr<PorchProcess>> workers;
  for (const char* name : {"s1", "s2"}) {
    workers.push_back(std::make_unique<PorchProcess>(
        dir_.path(), std::vector<std::string>{"worker", "--queue", redis_->url(), "--slots", "2", "--name", name,
                                              "--work-dir", dir_.path() + "/" + name, "--set",
                                              "queue.prefix=" + prefix_, "--set", "queue.visibility_timeout=5"},
        env));
  }
  std::vector<std::string> args = RunArgs(Plan("tasks:\n"
      "  - {id: gen, command: 'echo data > data.txt; pwd > where-gen.txt'}\n"
      "  - {id: use, command: 'cat data.txt > used.txt; pwd > where-use.txt', depends_on: [gen]}\n"
      "  - {id: bad, command: 'echo oops >&2; exit 4', retries: 0}\n"
      "  - {id: p1, command: 'echo 1 > p1.txt'}\n"
      "  - {id: p2, command: 'echo 2 > p2.txt'}\n"
      "  - {id: ai, prompt: QUEUE-AI, outputs: [ai.txt], depends_on: [gen]}\n"), "staged", 4);
  for (const char* s : {"--set", "queue.staging=s3"}) args.push_back(s);
  PorchRun r = RunPorch(dir_.path(), args, env);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // `bad` fails, on purpose
  const std::string run = dir_.path() + "/runs/runs/staged";
  auto read = [](const std::string& path) {
    Result<std::string> text = ReadFile(path);
    return text.ok() ? *text : "(missing: " + path + ")";
  };
  EXPECT_EQ(read(run + "/output/used.txt"), "data\n");  // gen's output reached use through S3
  EXPECT_EQ(read(run + "/output/p2.txt"), "2\n");
  for (const char* task : {"gen", "use"}) {
    const std::string where = read(run + "/output/where-" + std::string(task) + ".txt");
    const bool on_a_worker = where.rfind(dir_.path() + "/s1/porch-", 0) == 0 ||
                             where.rfind(dir_.path() + "/s2/porch-", 0) == 0;
    EXPECT_TRUE(on_a_worker) << task << " ran in " << where;
    EXPECT_NE(where.find("/" + std::string(task) + "-1/"), std::string::npos) << where;
  }
  EXPECT_EQ(read(run + "/output/ai.txt"), "agent\n");
  EXPECT_EQ(read(run + "/tasks/bad/attempt-1/stderr"), "oops\n");  // a failure's logs come home
  json st = Status("staged");
  EXPECT_EQ(st["run"]["succeeded"], 5) << st.dump();
  env["PORCH_JSON"] = "1";
  PorchRun ls = RunPorch(dir_.path(), {"s3", "ls", "s3://" + bucket + "/porch/runs/", "--json"}, env);
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  std::string keys;
  for (const json& k : json::parse(ls.out)) keys += k["key"].get<std::string>() + "\n";
  for (const char* key : {"/run.json", "/input/plan.json", "/results/gen/attempt-1.json", "/results/bad/attempt-1.json",
                          "/tasks/use/attempt-1/workspace/used.txt", "/tasks/ai/attempt-1/workspace/ai.txt",
                          "/output/ai.txt"}) {
    EXPECT_NE(keys.find(key), std::string::npos) << key << "\n" << keys;
  }
  EXPECT_EQ(keys.find("/.git/"), std::string::npos) << "the output's repository never goes up\n" << keys;
  // Beside an agent, commands are isolated too (merge.isolate_commands
  // auto): each sent back only what it made.
  EXPECT_EQ(keys.find("/tasks/use/attempt-1/workspace/data.txt"), std::string::npos) << keys;
  // A bucket that is not there: refused at the start, saying which.
  env["PORCH_AWS_S3_BUCKET"] = "porch-no-such-bucket";
  args = RunArgs(Plan("tasks:\n  - {id: a, command: 'true'}\n"), "nobucket", 1);
  for (const char* s : {"--set", "queue.staging=s3"}) args.push_back(s);
  PorchRun bad = RunPorch(dir_.path(), args, env);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;  // the configuration names no usable bucket
  EXPECT_NE(bad.err.find("bucket 'porch-no-such-bucket' does not exist"), std::string::npos) << bad.err;
  for (auto& w : workers) StopWorker(w.get());
}

}  // namespace
}  // namespace porch
