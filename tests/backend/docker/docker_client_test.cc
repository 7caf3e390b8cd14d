#include "backend/docker/docker_client.h"
#include "backend/docker/docker_test_env.h"

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

  http.answers.push_back(RecordingHttpClient::Answer(200, "[]"));
  ASSERT_TRUE(c.List({{"porch.run", "r 1"}}).ok());
  EXPECT_NE(http.requests.back().url.find("filters=%7B%22label%22%3A%5B%22porch.run%3Dr%201%22%5D%7D"),
            std::string::npos)
      << http.requests.back().url;
}

TEST(DockerClientUnitTest, EnsureNetworkAgreesOnTheOldestOfDuplicates) {
  RecordingHttpClient http;
  DockerClient c(&http, "/tmp/x.sock");
  // None yet: create, then look again and find that a concurrent creator
  // made a second one; the oldest wins and the empty extra is removed.
  http.answers.push_back(RecordingHttpClient::Answer(200, "[{\"Name\":\"po-network-2\",\"Id\":\"zz\"}]"));
  http.answers.push_back(RecordingHttpClient::Answer(201, "{\"Id\":\"bbb\"}"));
  http.answers.push_back(RecordingHttpClient::Answer(200,
      "[{\"Name\":\"po-network\",\"Id\":\"bbb\",\"Created\":\"2026-12-01T10:00:00.2Z\",\"Containers\":{}},"
      " {\"Name\":\"po-network\",\"Id\":\"aaa\",\"Created\":\"2026-12-01T10:00:00.1Z\",\"Containers\":{}},"
      " {\"Name\":\"po-network-2\",\"Id\":\"zz\",\"Created\":\"2026-12-01T09:00:00Z\"}]"));
  Result<std::string> id = c.EnsureNetwork("po-network");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, "aaa");  // the oldest, exact name only ("po-network-2" is another network)
  ASSERT_EQ(http.requests.size(), 4u);
  EXPECT_EQ(http.requests[1].method, "POST");
  EXPECT_EQ(http.requests[3].method, "DELETE");
  EXPECT_EQ(http.requests[3].url, "http://localhost/v1.41/networks/bbb");

  // An existing network is used as it is: no create, nothing removed.
  http.requests.clear();
  http.answers.push_back(RecordingHttpClient::Answer(200,
      "[{\"Name\":\"po-network\",\"Id\":\"aaa\",\"Created\":\"x\",\"Containers\":{\"c1\":{}}}]"));
  EXPECT_EQ(*c.EnsureNetwork("po-network"), "aaa");
  EXPECT_EQ(http.requests.size(), 1u);

  // Predefined networks are the engine's: never created.
  http.requests.clear();
  for (const char* name : {"host", "bridge", "none"}) EXPECT_EQ(*c.EnsureNetwork(name), name);
  EXPECT_TRUE(http.requests.empty());
}

// The event stream: one JSON object per line, whatever the chunks; the
// window and the run's label filter in the request; old (status/id) and
// new (Action/Actor) field names.
TEST(DockerClientUnitTest, StreamEventsReadsOneEventPerLineAndAsksForTheRunsOwn) {
  RecordingHttpClient http;
  http.answers.push_back(RecordingHttpClient::Answer(
      200, "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"c1\"}}\n"
           "{\"status\":\"die\",\"id\":\"c1\"}\n{not json}\n"
           "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"c2\"}}\n"));
  DockerClient client(&http, "/run/docker.sock");
  std::vector<std::string> seen;
  ASSERT_TRUE(client.StreamEvents(100, 101.5, {{"porch.uid", "u1"}}, [&](const std::string& id, const std::string& a) {
    seen.push_back(id + ":" + a);
    return true;
  }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"c1:start", "c1:die", "c2:die"}));
  ASSERT_EQ(http.requests.size(), 1u);
  const std::string& url = http.requests[0].url;
  EXPECT_NE(url.find("/events?since=100.000&until=101.500"), std::string::npos) << url;
  EXPECT_NE(url.find("porch.uid%3Du1"), std::string::npos) << url;  // exactly the run's own
  // An engine that does not answer is Unavailable (the follower retries).
  http.answers.push_back(Status::Unavailable("connection refused"));
  EXPECT_EQ(client.StreamEvents(0, 1, {}, [](const std::string&, const std::string&) { return true; }).code(),
            Status::Code::kUnavailable);
}

TEST(DockerClientUnitTest, ALoopbackProxyStaysOutOfBridgedContainers) {
  const std::map<std::string, std::string> env = {
      {"HTTPS_PROXY", "http://127.0.0.1:3128"}, {"http_proxy", "proxy.corp:8080"},
      {"NO_PROXY", "localhost,127.0.0.1"}, {"PATH", "/bin"}};
  EXPECT_EQ(ContainerProxies(env, "host"),
            (std::vector<std::string>{"HTTPS_PROXY=http://127.0.0.1:3128", "http_proxy=proxy.corp:8080",
                                      "NO_PROXY=localhost,127.0.0.1"}));
  EXPECT_EQ(ContainerProxies(env, "porch-net"),
            (std::vector<std::string>{"http_proxy=proxy.corp:8080", "NO_PROXY=localhost,127.0.0.1"}));
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
    socket_ = DockerTestSocket();
    client_ = std::make_unique<DockerClient>(&http_, socket_);
    if (!client_->Ping().ok()) PORCH_SKIP_OR_FAIL("no Docker engine at " << socket_ << " (run scripts/docker-up.sh)");
    image_ = std::make_unique<DockerTestImage>(*client_);
    if (!image_->ok()) PORCH_SKIP_OR_FAIL("no Docker test image: " << image_->error());
    label_ = UniqueName("t");
  }
  void TearDown() override {
    if (!client_) return;
    Result<std::vector<ContainerState>> left = client_->List({{"porch.test", label_}});
    if (left.ok()) for (const ContainerState& c : *left) client_->RemoveContainer(c.id).IgnoreError();
    image_.reset();
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
  std::unique_ptr<DockerTestImage> image_;
  std::string label_;  // every container this test makes carries porch.test=label_
};

TEST_F(DockerClientTest, RunsAContainerToItsExitAndReadsItsLogs) {
  ContainerSpec s;
  s.image = image_->name();
  s.cmd = {"/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"};
  s.labels = {{"porch.test", label_}};
  Result<std::string> id = client_->CreateContainer(s);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(client_->StartContainer(*id).ok());
  ContainerState st = WaitExit(*id);
  EXPECT_EQ(st.exit_code, 3);
  EXPECT_FALSE(st.oom_killed);
  EXPECT_EQ(st.labels["porch.test"], label_);
  std::string out, err;
  ASSERT_TRUE(client_->Logs(*id, &out, &err).ok());
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(err, "oops\n");
  Result<std::vector<ContainerState>> listed = client_->List({{"porch.test", label_}});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  ASSERT_TRUE(client_->RemoveContainer(*id).ok());
  EXPECT_EQ(client_->List({{"porch.test", label_}})->size(), 0u);
  EXPECT_EQ(client_->Inspect(*id).status().code(), Status::Code::kNotFound);
}

TEST_F(DockerClientTest, MemoryLimitEndsInOomKilled) {
  ContainerSpec s;
  s.image = image_->name();
  s.cmd = {"/bin/sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}"};
  s.memory_bytes = 32ull << 20;
  s.labels = {{"porch.test", label_}};
  Result<std::string> id = client_->CreateContainer(s);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(client_->StartContainer(*id).ok());
  ContainerState st = WaitExit(*id);
  EXPECT_TRUE(st.oom_killed);
  EXPECT_EQ(st.exit_code, 137);
  client_->RemoveContainer(*id).IgnoreError();
}

// Docker 20.10 does not serialise network creation: clients that create the
// same network at the same moment must still end up on one network.
TEST_F(DockerClientTest, ConcurrentEnsureNetworkAgreesOnOne) {
  for (int round = 0; round < 5; ++round) {
    const std::string name = UniqueName("porch-test-race");
    constexpr int kClients = 4;
    std::vector<std::string> ids(kClients);
    std::vector<std::thread> threads;
    for (int k = 0; k < kClients; ++k) {
      threads.emplace_back([&, k] {
        CurlHttpClient http;
        DockerClient c(&http, socket_);
        Result<std::string> id = c.EnsureNetwork(name);
        ids[k] = id.ok() ? *id : "error: " + id.status().ToString();
      });
    }
    for (std::thread& t : threads) t.join();
    for (int k = 1; k < kClients; ++k) EXPECT_EQ(ids[k], ids[0]) << "round " << round;
    // A container attaches by that id without "ambiguous" errors.
    ContainerSpec s;
    s.image = image_->name();
    s.cmd = {"/bin/sh", "-c", "exit 0"};
    s.labels = {{"porch.test", label_}};
    s.network = ids[0];
    Result<std::string> cid = client_->CreateContainer(s);
    ASSERT_TRUE(cid.ok()) << cid.status().ToString();
    EXPECT_TRUE(client_->StartContainer(*cid).ok());
    WaitExit(*cid);
    client_->RemoveContainer(*cid).IgnoreError();
    // Once everyone is done, a further EnsureNetwork leaves exactly one.
    ASSERT_TRUE(client_->EnsureNetwork(name).ok());
    Result<std::vector<NetworkInfo>> left = client_->NetworksNamed(name);
    ASSERT_TRUE(left.ok());
    EXPECT_EQ(left->size(), 1u) << "round " << round;
    for (const NetworkInfo& n : *left) client_->RemoveNetwork(n.id).IgnoreError();
  }
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
