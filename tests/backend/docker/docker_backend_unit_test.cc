// The Docker backend against a scripted engine (no dockerd): what happens
// while the engine is restarting, on a fake clock.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "backend/docker/docker_backend.h"
#include "model/result_file.h"
#include "fakes/fake_clock.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

// Answers the few endpoints the backend uses; `down` makes every call fail
// as a stopped dockerd does (connection refused).
class ScriptedEngine : public HttpClient {
 public:
  explicit ScriptedEngine(FakeClock* clock) : clock_(clock) {}
  bool down = false;
  double down_until = 0;      // down until this time on the fake clock
  std::string state = "running";
  int calls_while_down = 0;
  int creates = 0;
  int exit_code = 0;
  int inspects_before_oom = -1;  // >= 0: OOMKilled shows from this many inspects on
  int inspects = 0;
  Result<HttpResponse> Send(const HttpRequest& req, const BodySink&) override {
    if (down || clock_->Now() < down_until) {
      ++calls_while_down;
      return Status::Unavailable("Couldn't connect to server");
    }
    const std::string& u = req.url;
    if (u.find("/_ping") != std::string::npos) return Answer(200, "OK");
    if (u.find("/version") != std::string::npos) return Answer(200, R"({"ApiVersion":"1.41"})");
    if (u.find("/containers/create") != std::string::npos) ++creates;
    if (u.find("/containers/create") != std::string::npos) return Answer(201, R"({"Id":"c1"})");
    if (u.find("/start") != std::string::npos) return Answer(204, "");
    if (u.find("/containers/json") != std::string::npos) {
      return Answer(200, json::array({{{"Id", "c1"}, {"State", state}}}).dump());
    }
    if (u.find("/containers/c1/json") != std::string::npos) {
      const bool oom = inspects_before_oom >= 0 && inspects++ >= inspects_before_oom;
      return Answer(200, json({{"Id", "c1"},
                               {"State", {{"Status", state}, {"ExitCode", exit_code}, {"OOMKilled", oom}}}})
                             .dump());
    }
    if (u.find("/logs") != std::string::npos) return Answer(200, "");
    return Answer(204, "");
  }
  static HttpResponse Answer(long status, std::string body) { return {status, {}, std::move(body)}; }

 private:
  FakeClock* clock_;
};

class DockerBackendUnitTest : public ::testing::Test {
 protected:
  DockerBackendUnitTest() : layout_(tmp_.path() + "/run") {
    task_.id = "t";
    task_.command = "true";
    auto engine = std::make_unique<ScriptedEngine>(&clock_);
    engine_ = engine.get();
    DockerBackendOptions o;
    o.run_id = "r";
    o.uid = "0123456789abcdef";
    o.poll_s = 1;
    o.engine_wait_s = 120;
    backend_ = std::make_unique<DockerBackend>(std::move(engine), "/tmp/none.sock", layout_, &clock_, o);
  }
  void WriteResult(FailureReason reason) {
    AttemptResult r;
    r.task_id = "t";
    r.attempt = 1;
    r.reason = reason;
    ASSERT_TRUE(MakeDirs(layout_.attempt_dir("t", 1)).ok());
    ASSERT_TRUE(WriteFileAtomic(layout_.result_path("t", 1), AttemptResultToJson(r)).ok());
  }
  std::vector<BackendEvent> Finished(double seconds) {
    std::vector<BackendEvent> out;
    double end = clock_.Now() + seconds;
    while (clock_.Now() < end && out.empty()) {
      for (const BackendEvent& ev : backend_->Wait(clock_.Now() + 1)) {
        if (ev.kind == BackendEvent::Kind::kFinished) out.push_back(ev);
      }
    }
    return out;
  }
  TempDir tmp_;
  RunLayout layout_;
  Task task_;
  FakeClock clock_;
  ScriptedEngine* engine_;
  std::unique_ptr<DockerBackend> backend_;
};

TEST_F(DockerBackendUnitTest, EngineRestartingIsWaitedForThenTheAttemptIsCollected) {
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  engine_->down = true;  // dockerd restarts
  EXPECT_TRUE(Finished(100).empty());
  EXPECT_GT(engine_->calls_while_down, 10);
  engine_->down = false;  // back; the container ended meanwhile
  engine_->state = "exited";
  AttemptResult r;
  r.task_id = "t";
  r.attempt = 1;
  ASSERT_TRUE(MakeDirs(layout_.attempt_dir("t", 1)).ok());
  ASSERT_TRUE(WriteFileAtomic(layout_.result_path("t", 1), AttemptResultToJson(r)).ok());
  std::vector<BackendEvent> done = Finished(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kNone);
}

// The engine may record the OOM kill a moment after the exit: a
// memory-limited container SIGKILLed without OOMKilled is looked at again,
// and its attempt fails `oom` (so the retry gets more memory), not
// backend_error.
TEST_F(DockerBackendUnitTest, AnOomKillTheEngineRecordsLateIsStillAnOom) {
  task_.resources.memory_bytes = 16 << 20;
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  engine_->state = "exited";
  engine_->exit_code = 137;
  engine_->inspects_before_oom = 3;
  std::vector<BackendEvent> done = Finished(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kOom) << done[0].detail;
  EXPECT_EQ(engine_->inspects, 4);
}

// Answers GET /events for the event follower: the first window carries
// `lines`, the later ones are empty (after a short pause, as a real window).
class ScriptedEvents : public HttpClient {
 public:
  explicit ScriptedEvents(std::string lines) : lines_(std::move(lines)) {}
  Result<HttpResponse> Send(const HttpRequest& req, const BodySink& sink) override {
    if (req.url.find("/events") == std::string::npos) return HttpResponse{404, {}, ""};
    ++windows_;
    if (sent_.exchange(true)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return HttpResponse{200, {}, ""};
    }
    sink(lines_);
    return HttpResponse{200, {}, ""};
  }
  // How many windows the follower asked for: at 2, it has read the first.
  int windows() const { return windows_; }

 private:
  std::string lines_;
  std::atomic<bool> sent_{false};
  std::atomic<int> windows_{0};
};

// Under load the engine's inspect may never show OOMKilled for a container
// the kernel killed at its limit; the engine's "oom" event still makes the
// attempt an `oom` failure.
TEST_F(DockerBackendUnitTest, AnOomEventMakesAnOomWhenInspectNeverShowsIt) {
  DockerBackendOptions o;
  o.run_id = "r";
  o.uid = "0123456789abcdef";
  o.poll_s = 1;
  auto engine = std::make_unique<ScriptedEngine>(&clock_);
  ScriptedEngine* e = engine.get();
  auto scripted = std::make_unique<ScriptedEvents>(
      "{\"Type\":\"container\",\"Action\":\"oom\",\"Actor\":{\"ID\":\"c1\"}}\n"
      "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c1\"}}\n");
  ScriptedEvents* events = scripted.get();
  backend_ = std::make_unique<DockerBackend>(std::move(engine), "/tmp/none.sock", layout_, &clock_, o,
                                             std::move(scripted));
  task_.resources.memory_bytes = 16 << 20;
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  e->state = "exited";
  e->exit_code = 137;  // and OOMKilled stays false
  // The follower's thread has read the first window once it asks for a second.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (events->windows() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(events->windows(), 2) << "the event follower never asked for a second window";
  std::vector<BackendEvent> done = Finished(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kOom) << done[0].detail;
}

// Without the event and without OOMKilled, a SIGKILLed container is not
// called an OOM: the attempt fails as the backend's error.
TEST_F(DockerBackendUnitTest, ASigkillWithoutAnyOomWitnessIsNotAnOom) {
  task_.resources.memory_bytes = 16 << 20;
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  engine_->state = "exited";
  engine_->exit_code = 137;
  std::vector<BackendEvent> done = Finished(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(done[0].reason, FailureReason::kOom) << done[0].detail;
}

TEST_F(DockerBackendUnitTest, EngineGoneTooLongStopsTheRunWithoutFailingAttempts) {
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  engine_->down = true;
  double t0 = clock_.Now();
  EXPECT_TRUE(Finished(100).empty());
  EXPECT_TRUE(backend_->health().ok());  // still waiting
  EXPECT_TRUE(Finished(30).empty());     // no attempt fails: its retries are not spent
  Status h = backend_->health();
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.code(), Status::Code::kUnavailable);
  EXPECT_NE(h.message().find("has not answered for 120s"), std::string::npos) << h.message();
  EXPECT_GE(clock_.Now() - t0, 120);
}

TEST_F(DockerBackendUnitTest, AContainerTheEngineStoppedIsLostNotCancelled) {
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  engine_->down = true;  // dockerd restarts; it stops the container (SIGTERM to exec-task)
  EXPECT_TRUE(Finished(20).empty());
  engine_->down = false;
  engine_->state = "exited";
  WriteResult(FailureReason::kCancelled);  // exec-task took the engine's SIGTERM for a cancel
  std::vector<BackendEvent> done = Finished(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kLost) << done[0].detail;  // runs again, uncharged
  EXPECT_NE(done[0].detail.find("without porch asking"), std::string::npos) << done[0].detail;
}

TEST_F(DockerBackendUnitTest, PorchsOwnCancelStaysACancel) {
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  backend_->Cancel(0, 1);
  engine_->state = "exited";
  WriteResult(FailureReason::kCancelled);
  std::vector<BackendEvent> done = Finished(10);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kCancelled);
}

TEST_F(DockerBackendUnitTest, SubmitWaitsOutAShortOutage) {
  engine_->down_until = clock_.Now() + 30;  // the engine restarts as the attempt is submitted
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  std::vector<Result<std::string>> ids = backend_->Submit(ls);
  ASSERT_TRUE(ids[0].ok()) << ids[0].status().ToString();
  EXPECT_GE(clock_.Now(), engine_->down_until);
  EXPECT_EQ(engine_->creates, 1);
}

TEST_F(DockerBackendUnitTest, SubmitDuringALongOutageSaysTheEngineIsGone) {
  engine_->down_until = clock_.Now() + 1000;
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  std::vector<Result<std::string>> ids = backend_->Submit(ls);
  ASSERT_FALSE(ids[0].ok());
  // Unavailable: the scheduler stops the run instead of charging the task.
  EXPECT_EQ(ids[0].status().code(), Status::Code::kUnavailable);
  EXPECT_NE(ids[0].status().message().find("did not answer for 120s"), std::string::npos)
      << ids[0].status().message();
  EXPECT_EQ(engine_->creates, 0);
}

TEST(DockerContainerNameTest, DistinctTaskIdsGetDistinctNames) {
  const std::string uid = "0123456789abcdef";
  EXPECT_EQ(DockerBackend::ContainerName(uid, "build", 2), "porch-0123456789abcdef-build-2");
  EXPECT_NE(DockerBackend::ContainerName(uid, "x y", 1), DockerBackend::ContainerName(uid, "x_y", 1));
  EXPECT_NE(DockerBackend::ContainerName(uid, "x/y", 1), DockerBackend::ContainerName(uid, "x y", 1));
  EXPECT_NE(DockerBackend::ContainerName(uid, "t", 1),
            DockerBackend::ContainerName("fedcba9876543210", "t", 1));
  EXPECT_LE(DockerBackend::ContainerName(uid, std::string(500, 'x'), 1).size(), 140u);
}

}  // namespace
}  // namespace porch
