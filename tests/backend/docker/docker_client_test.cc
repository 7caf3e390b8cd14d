#include "backend/docker/docker_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "fakes/recording_http.h"
#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

TEST(DockerClientUnitTest, CreateBodyCarriesLimitsLabelsAndBinds) {
  ContainerSpec s;
  s.image = "img:1";
  s.cmd = {"porch", "exec-task"};
  s.env = {"A=1"};
  s.labels = {{"porch.run", "r1"}};
  s.binds = {"/runs/r1:/runs/r1"};
  s.cpus = 1.5;
  s.memory_bytes = 64ull << 20;
  s.pids_limit = 100;
  s.network = "po-network";
  json b = DockerClient::CreateBody(s);
  EXPECT_EQ(b["Image"], "img:1");
  EXPECT_EQ(b["Labels"]["porch.run"], "r1");
  EXPECT_EQ(b["HostConfig"]["NanoCpus"], 1500000000);
  EXPECT_EQ(b["HostConfig"]["Memory"], 64ull << 20);
  EXPECT_EQ(b["HostConfig"]["MemorySwap"], 64ull << 20);
  EXPECT_EQ(b["HostConfig"]["PidsLimit"], 100);
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "po-network");
  EXPECT_EQ(b["HostConfig"]["Binds"][0], "/runs/r1:/runs/r1");
}

TEST(DockerClientUnitTest, RequestsAndErrors) {
  RecordingHttpClient http;
  DockerClient c(&http, "unix:///tmp/x.sock");
  EXPECT_EQ(c.socket(), "/tmp/x.sock");
  ContainerSpec rel;
  rel.image = "i";
  rel.binds = {"runs:/runs"};
  EXPECT_EQ(c.CreateContainer(rel).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(http.requests.empty());  // refused before asking the engine

  http.answers.push_back(RecordingHttpClient::Answer(404, "{\"message\":\"No such image: i:latest\"}"));
  ContainerSpec s;
  s.image = "i";
  Result<std::string> id = c.CreateContainer(s);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kNotFound);
  EXPECT_NE(id.status().message().find("No such image"), std::string::npos);
  EXPECT_EQ(http.requests[0].unix_socket, "/tmp/x.sock");
  EXPECT_EQ(http.requests[0].url, "http://localhost/v1.41/containers/create");

  http.answers.push_back(Status::Unavailable("connection refused"));
  Status ping = c.Ping();
  EXPECT_EQ(ping.code(), Status::Code::kUnavailable);
  EXPECT_NE(ping.message().find("cannot reach the Docker engine at unix:///tmp/x.sock: is dockerd running?"),
            std::string::npos);

  http.answers.push_back(RecordingHttpClient::Answer(200, "OK"));
  http.answers.push_back(RecordingHttpClient::Answer(200, "{\"ApiVersion\":\"1.40\"}"));
  EXPECT_EQ(c.Ping().code(), Status::Code::kInfeasible);

  http.answers.push_back(RecordingHttpClient::Answer(409, "{\"message\":\"exists\"}"));
  EXPECT_TRUE(c.EnsureNetwork("po-network").ok());
  http.answers.push_back(RecordingHttpClient::Answer(200, "[]"));
  ASSERT_TRUE(c.List({{"porch.run", "r 1"}}).ok());
  EXPECT_NE(http.requests.back().url.find("filters=%7B%22label%22%3A%5B%22porch.run%3Dr%201%22%5D%7D"),
            std::string::npos)
      << http.requests.back().url;
}

TEST(DockerClientUnitTest, DemuxSplitsStreams) {
  std::string stream;
  auto frame = [&](char kind, const std::string& data) {
    stream += std::string{kind, 0, 0, 0, 0, 0, 0, static_cast<char>(data.size())} + data;
  };
  frame(1, "out1\n");
  frame(2, "err\n");
  frame(1, "out2\n");
  std::string out, err;
  DockerClient::Demux(stream, &out, &err);
  EXPECT_EQ(out, "out1\nout2\n");
  EXPECT_EQ(err, "err\n");
}

// Against the engine scripts/docker-up.sh starts (CI starts it).
class DockerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = getenv("PORCH_DOCKER_SOCKET");
    socket_ = env && *env ? env : "/tmp/porch-docker/docker.sock";
    client_ = std::make_unique<DockerClient>(&http_, socket_);
    if (!client_->Ping().ok()) GTEST_SKIP() << "no Docker engine at " << socket_ << " (run scripts/docker-up.sh)";
    Result<bool> have = client_->ImageExists("porch-busybox:test");
    ASSERT_TRUE(have.ok());
    if (!*have) {
      // A registry-free image: Debian's static busybox as /bin/sh.
      TempDir dir;
      std::string root = dir.path() + "/rootfs";
      MakeDirs(root + "/bin");
      ASSERT_TRUE(RunProcess({"cp", "/bin/busybox", root + "/bin/busybox"}, dir.path()).ok());
      for (const char* tool : {"sh", "echo", "head", "tr", "sleep", "cat"}) {
        symlink("busybox", (root + "/bin/" + tool).c_str());
      }
      ASSERT_EQ(RunProcess({"tar", "-C", root, "-cf", dir.path() + "/image.tar", "."}, dir.path())->exit_code, 0);
      ASSERT_TRUE(client_->ImportImage(*ReadFile(dir.path() + "/image.tar"), "porch-busybox", "test").ok());
    }
  }
  ContainerState WaitExit(const std::string& id) {
    for (int i = 0; i < 300; ++i) {
      Result<ContainerState> s = client_->Inspect(id);
      if (s.ok() && !s->running && s->status == "exited") return *s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "container did not exit";
    return {};
  }
  std::string socket_;
  CurlHttpClient http_;
  std::unique_ptr<DockerClient> client_;
};

TEST_F(DockerClientTest, RunsAContainerToItsExitAndReadsItsLogs) {
  ContainerSpec s;
  s.image = "porch-busybox:test";
  s.cmd = {"/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"};
  s.labels = {{"porch.test", "logs"}};
  Result<std::string> id = client_->CreateContainer(s);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(client_->StartContainer(*id).ok());
  ContainerState st = WaitExit(*id);
  EXPECT_EQ(st.exit_code, 3);
  EXPECT_FALSE(st.oom_killed);
  EXPECT_EQ(st.labels["porch.test"], "logs");
  std::string out, err;
  ASSERT_TRUE(client_->Logs(*id, &out, &err).ok());
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(err, "oops\n");
  Result<std::vector<ContainerState>> listed = client_->List({{"porch.test", "logs"}});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  ASSERT_TRUE(client_->RemoveContainer(*id).ok());
  EXPECT_EQ(client_->List({{"porch.test", "logs"}})->size(), 0u);
  EXPECT_EQ(client_->Inspect(*id).status().code(), Status::Code::kNotFound);
}

TEST_F(DockerClientTest, MemoryLimitEndsInOomKilled) {
  ContainerSpec s;
  s.image = "porch-busybox:test";
  s.cmd = {"/bin/sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}"};
  s.memory_bytes = 32ull << 20;
  Result<std::string> id = client_->CreateContainer(s);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(client_->StartContainer(*id).ok());
  ContainerState st = WaitExit(*id);
  EXPECT_TRUE(st.oom_killed);
  EXPECT_EQ(st.exit_code, 137);
  client_->RemoveContainer(*id);
}

TEST_F(DockerClientTest, MissingImageIsAClearError) {
  ContainerSpec s;
  s.image = "porch-no-such-image:none";
  Result<std::string> id = client_->CreateContainer(s);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kNotFound);
  EXPECT_NE(id.status().message().find("porch-no-such-image:none"), std::string::npos);
}

}  // namespace
}  // namespace porch
