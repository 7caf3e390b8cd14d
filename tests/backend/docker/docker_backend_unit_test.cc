// The Docker backend against a scripted engine (no dockerd): what happens
// while the engine is restarting, on a fake clock.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
  bool down = false;
  std::string state = "running";
  int calls_while_down = 0;
  Result<HttpResponse> Send(const HttpRequest& req, const BodySink&) override {
    if (down) {
      ++calls_while_down;
      return Status::Unavailable("Couldn't connect to server");
    }
    const std::string& u = req.url;
    if (u.find("/containers/create") != std::string::npos) return Answer(201, R"({"Id":"c1"})");
    if (u.find("/start") != std::string::npos) return Answer(204, "");
    if (u.find("/containers/json") != std::string::npos) {
      return Answer(200, json::array({{{"Id", "c1"}, {"State", state}}}).dump());
    }
    if (u.find("/containers/c1/json") != std::string::npos) {
      return Answer(200, json({{"Id", "c1"}, {"State", {{"Status", state}, {"ExitCode", 0}}}}).dump());
    }
    if (u.find("/logs") != std::string::npos) return Answer(200, "");
    return Answer(204, "");
  }
  static HttpResponse Answer(long status, std::string body) { return {status, {}, std::move(body)}; }
};

class DockerBackendUnitTest : public ::testing::Test {
 protected:
  DockerBackendUnitTest() : layout_(tmp_.path() + "/run") {
    task_.id = "t";
    task_.command = "true";
    auto engine = std::make_unique<ScriptedEngine>();
    engine_ = engine.get();
    DockerBackendOptions o;
    o.run_id = "r";
    o.poll_s = 1;
    o.engine_down_limit_s = 120;
    backend_ = std::make_unique<DockerBackend>(std::move(engine), "/tmp/none.sock", layout_, &clock_, o);
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

TEST_F(DockerBackendUnitTest, EngineGoneTooLongFailsTheAttempts) {
  std::vector<Launch> ls = {{0, &task_, 1, 0, {}}};
  ASSERT_TRUE(backend_->Submit(ls)[0].ok());
  engine_->down = true;
  double t0 = clock_.Now();
  std::vector<BackendEvent> done = Finished(300);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].reason, FailureReason::kBackendError);
  EXPECT_NE(done[0].detail.find("did not answer for 120s"), std::string::npos) << done[0].detail;
  EXPECT_GE(clock_.Now() - t0, 120);
  EXPECT_LE(clock_.Now() - t0, 125);
}

}  // namespace
}  // namespace porch
