// The Docker backend through `porch run --backend docker`, against the real
// engine scripts/docker-up.sh starts, with a registry-free test image built
// from this build's porch binary (scripts/make-test-rootfs.sh).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "backend/docker/docker_client.h"
#include "backend/docker/docker_test_env.h"
#include "fakes/fake_llm_server.h"
#include "integration/agent_matrix.h"
#include "integration/porch_process.h"
#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

std::string Socket() { return DockerTestSocket(); }

class DockerBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_client_ = std::make_unique<DockerClient>(&suite_http_, Socket());
    if (!suite_client_->Ping().ok()) return;
    image_ = std::make_unique<DockerTestImage>(*suite_client_);
  }
  static void TearDownTestSuite() {
    image_.reset();
    suite_client_.reset();
  }
  void SetUp() override {
    if (!image_) PORCH_SKIP_OR_FAIL("no Docker engine at " << Socket() << " (run scripts/docker-up.sh)");
    if (!image_->ok()) PORCH_SKIP_OR_FAIL("no Docker test image: " << image_->error());
    client_ = std::make_unique<DockerClient>(&http_, Socket());
    network_ = UniqueName("porch-test-net");
  }
  void TearDown() override {
    // Networks are the one thing porch leaves on the engine (runs share
    // them); this test's own goes with it.
    if (client_) {
      Result<std::vector<NetworkInfo>> nets = client_->NetworksNamed(network_);
      if (nets.ok()) for (const NetworkInfo& n : *nets) client_->RemoveNetwork(n.id).IgnoreError();
    }
  }
  static std::string Image() { return image_->name(); }
  // A run id of this test process's own: containers are labelled with it.
  static std::string Id(const std::string& base) { return base + "-" + std::to_string(getpid()); }
  std::map<std::string, std::string> Env() {
    return {{"DOCKER_HOST", "unix://" + Socket()}, {"PORCH_BACKEND", "docker"},
            {"PORCH_DOCKER_IMAGE", Image()}, {"PORCH_DOCKER_NETWORK", network_},
            {"PORCH_RETRY_RETRY_DELAY_SECONDS", "0.05"}, {"PORCH_KILL_GRACE_SECONDS", "1"}};
  }
  std::string Plan(const std::string& yaml) {
    std::string path = dir_.path() + "/plan.yaml";
    EXPECT_TRUE(WriteFileAtomic(path, yaml).ok());
    return path;
  }
  std::string Run(const std::string& id) { return dir_.path() + "/porch-runs/runs/" + id; }
  json Status(const std::string& id) {
    return json::parse(RunPorch(dir_.path(), {"status", id, "--json"}).out);
  }
  size_t Containers(const std::string& run_id) {
    Result<std::vector<ContainerState>> l = client_->List({{"porch.run", run_id}});
    return l.ok() ? l->size() : 999;
  }
  int Lines(const std::string& path) {
    Result<std::string> t = ReadFile(path);
    int n = 0;
    if (t.ok()) for (char c : *t) n += c == '\n';
    return n;
  }
  bool WaitFor(const std::function<bool()>& pred) {  // up to about 30 s
    for (int i = 0; i < 3000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  static inline CurlHttpClient suite_http_;
  static inline std::unique_ptr<DockerClient> suite_client_;
  static inline std::unique_ptr<DockerTestImage> image_;
  std::string network_;
  TempDir dir_;
  CurlHttpClient http_;
  std::unique_ptr<DockerClient> client_;
};

TEST_F(DockerBackendTest, TenTaskDagAtFourExecutors) {
  std::ostringstream plan;
  plan << "tasks:\n  - {id: root, command: 'echo root > root.txt'}\n";
  for (int i = 0; i < 8; ++i) {
    plan << "  - {id: w" << i << ", command: 'cat root.txt > w" << i << ".txt', depends_on: [root]}\n";
  }
  plan << "  - {id: join, command: 'cat w*.txt > all.txt', depends_on: [w0, w1, w2, w3, w4, w5, w6, w7]}\n";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", Plan(plan.str()), "-j", "4", "--run-id", Id("dag")}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string eight_roots;
  for (int i = 0; i < 8; ++i) eight_roots += "root\n";
  EXPECT_EQ(*ReadFile(Run(Id("dag")) + "/output/all.txt"), eight_roots);
  json s = Status(Id("dag"));
  EXPECT_EQ(s["run"]["succeeded"], 10);
  EXPECT_LE(s["run"]["slots_used"].get<int>(), 4);
  EXPECT_EQ(s["run"]["backend"], "docker");
  EXPECT_EQ(s["tasks"][0]["job_id"].get<std::string>().size(), 64u);  // a container id
  EXPECT_EQ(Containers(Id("dag")), 0u);  // every container was removed once collected
}

// With looks 60 s apart, only the engine's event stream can tell porch that
// a container ended: a chain of four tasks that finishes well inside one
// poll interval was driven by the events (by polls it would take four).
TEST_F(DockerBackendTest, ContainersThatEndAreSeenThroughTheEnginesEvents) {
  auto env = Env();
  env["PORCH_DOCKER_POLL_SECONDS"] = "60";
  const auto start = std::chrono::steady_clock::now();
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n"
           "  - {id: a, command: 'echo a > a.txt'}\n"
           "  - {id: b, command: 'cat a.txt > b.txt', depends_on: [a]}\n"
           "  - {id: c, command: 'cat b.txt > c.txt', depends_on: [b]}\n"
           "  - {id: d, command: 'cat c.txt > d.txt', depends_on: [c]}\n"),
      "--run-id", Id("events")}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Run(Id("events")) + "/output/d.txt"), "a\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60))
      << "the containers' ends were noticed by polls, not by events";
  EXPECT_EQ(Containers(Id("events")), 0u);
}

TEST_F(DockerBackendTest, AgentsInContainersUseTheConfiguredKeyAndEndpointOnTheHostNetwork) {
  TempDir server_dir;
  FakeLlmServer server(server_dir.path(), AgentWritesFile("DOCKER-AGENT", "page.txt", "hi\n"),
                       {"--api-key", "sk-only-in-porch-yaml"});
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/porch.yaml", "llm:\n  api_key: sk-only-in-porch-yaml\n  base_url: " +
                                                               server.url() + "\n").ok());
  auto env = Env();
  env["PORCH_DOCKER_NETWORK"] = "host";  // the fake listens on the host's 127.0.0.1
  env["PORCH_AGENT_EXECUTOR"] = "api";
  env["ANTHROPIC_API_KEY"] = "";
  env["ANTHROPIC_BASE_URL"] = "";
  env["PORCH_LLM_RETRY_BASE_SECONDS"] = "0.05";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: page, prompt: DOCKER-AGENT, outputs: [page.txt], retries: 0}\n"),
      "--run-id", Id("agent")}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Status(Id("agent")).dump();
  EXPECT_EQ(*ReadFile(Run(Id("agent")) + "/output/page.txt"), "hi\n");
  auto posts = server.Posts();
  ASSERT_EQ(posts.size(), 2u);
  for (const json& p : posts) EXPECT_EQ(p["headers"]["x-api-key"], "sk-only-in-porch-yaml");
  Result<ProcessResult> grep = RunProcess({"grep", "-rl", "sk-only-in-porch-yaml", Run(Id("agent"))}, dir_.path());
  ASSERT_TRUE(grep.ok());
  EXPECT_EQ(grep->output, "") << "the key was written into the run directory";
}

TEST_F(DockerBackendTest, IsolatedCommandsReachOutputThroughTheMerge) {
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: gen, command: 'echo data > data.txt'}\n"
           "  - {id: use, command: 'cat data.txt > used.txt', depends_on: [gen]}\n"),
      "--run-id", Id("isolated"), "--set", "merge.isolate_commands=true"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Run(Id("isolated")) + "/output/used.txt"), "data\n");
  // Each worked in its workspace; the merge put their files in output/.
  json owners = json::parse(*ReadFile(Run(Id("isolated")) + "/merge.json"));
  EXPECT_EQ(owners["data.txt"]["task"], "gen");
  EXPECT_EQ(owners["used.txt"]["task"], "use");
}

TEST_F(DockerBackendTest, ProxiesReachTheContainers) {
  // Behind a proxy, what runs in a container needs it as much as porch does
  // (agents reach the API through it, commands fetch packages).
  auto env = Env();
  env["HTTPS_PROXY"] = "http://proxy.invalid:3128";
  env["no_proxy"] = "127.0.0.1,localhost";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: p, command: 'echo \"$HTTPS_PROXY|$no_proxy\" > p.txt'}\n"), "--run-id", Id("proxy")},
      env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Run(Id("proxy")) + "/output/p.txt"), "http://proxy.invalid:3128|127.0.0.1,localhost\n");
}

TEST_F(DockerBackendTest, ThePromptPlanSucceedsInContainersWithEveryKeySourceForBothExecutors) {
  const std::string claude = ClaudeTestBinary();
  if (access(claude.c_str(), X_OK) != 0) {
    PORCH_SKIP_OR_FAIL("Claude Code CLI not installed at " << claude << " (run scripts/install-claude-code.sh)");
  }
  DockerTestImage image(*client_, /*use_shared=*/false, claude);  // the suite's image has no CLI
  ASSERT_TRUE(image.ok()) << image.error();
  auto env = Env();
  env["PORCH_DOCKER_IMAGE"] = image.name();
  env["PORCH_DOCKER_NETWORK"] = "host";  // the fake listens on the host's 127.0.0.1
  AgentMatrix matrix(dir_.path(), "docker.claude_path=/usr/local/bin/claude");
  matrix.RunAll(env, Id("matrix"), {KeyWay::kAnthropicEnv, KeyWay::kPorchEnv, KeyWay::kPorchYaml, KeyWay::kKeyFile});
}

TEST_F(DockerBackendTest, ARunnersOwnUserCanDeleteTheWholeRunDirectory) {
  // porch as an unprivileged user who may use the engine (as a member of
  // the docker group would): everything its containers leave is that user's.
  if (geteuid() != 0) GTEST_SKIP() << "runs porch as another user, which needs root (as a user it is the normal case)";
  const uid_t nobody = 65534;
  // A directory that user can reach (the test's own may sit under a
  // private TMPDIR).
  std::string home = "/tmp/porch-nonroot-XXXXXX";
  ASSERT_NE(mkdtemp(home.data()), nullptr);
  struct stat sock;
  ASSERT_EQ(stat(Socket().c_str(), &sock), 0);
  // Whatever happens below, the socket, the directories above it and /tmp
  // are left as they were.
  struct Restore {
    std::string socket, home;
    struct stat st;
    std::vector<std::pair<std::string, mode_t>> dirs;  // made searchable for the test
    ~Restore() {
      if (chown(socket.c_str(), st.st_uid, st.st_gid) != 0 || chmod(socket.c_str(), st.st_mode & 07777) != 0) {
        ADD_FAILURE() << "could not restore " << socket;
      }
      for (const auto& [dir, mode] : dirs) {
        if (chmod(dir.c_str(), mode) != 0) ADD_FAILURE() << "could not restore " << dir;
      }
      Result<ProcessResult> cleaned = RunProcess({"rm", "-rf", home}, "/");
      cleaned.IgnoreError();
    }
  } restore{Socket(), home, sock, {}};
  ASSERT_EQ(chown(home.c_str(), nobody, nobody), 0);
  ASSERT_EQ(chown(Socket().c_str(), sock.st_uid, nobody), 0);
  ASSERT_EQ(chmod(Socket().c_str(), (sock.st_mode & 07777) | 0060), 0);
  // The engine's socket may sit in a private directory (the test script's
  // TMPDIR): the user must be able to pass through to reach it.
  for (std::string dir = DirName(Socket()); dir.size() > 1; dir = DirName(dir)) {
    struct stat d;
    if (stat(dir.c_str(), &d) != 0 || (d.st_mode & S_IXOTH)) continue;
    restore.dirs.emplace_back(dir, d.st_mode & 07777);
    ASSERT_EQ(chmod(dir.c_str(), (d.st_mode & 07777) | S_IXOTH), 0);
  }
  // porch itself from where that user can run it.
  const std::string porch = home + "/porch";
  Result<std::string> binary = ReadFile(PORCH_BINARY);
  ASSERT_TRUE(binary.ok());
  ASSERT_TRUE(WriteFileAtomic(porch, *binary).ok());
  ASSERT_EQ(chmod(porch.c_str(), 0755), 0);
  const std::string plan = home + "/plan.yaml";
  // An AI task too (porch's API agent, against the fake on the host's
  // network): its workspace, base/, seed.json and merge are the user's.
  TempDir server_dir;
  FakeLlmServer server(server_dir.path(), AgentWritesFile("NONROOT-AGENT", "agent.txt", "a\n"));
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(WriteFileAtomic(plan, "tasks:\n  - {id: a, command: 'mkdir -p d && echo x > d/f.txt && echo \"$USER $LOGNAME\" > d/u.txt'}\n"
                                    "  - {id: ai, prompt: NONROOT-AGENT, outputs: [agent.txt], depends_on: [a]}\n").ok());
  ASSERT_EQ(chown(plan.c_str(), nobody, nobody), 0);
  std::vector<std::pair<std::string, std::string>> env;
  auto base = Env();
  base["PORCH_DOCKER_NETWORK"] = "host";  // the agent reaches the fake on the host's 127.0.0.1
  for (const auto& [k, v] : base) env.emplace_back(k, v);
  env.emplace_back("HOME", home);
  env.emplace_back("TMPDIR", home);
  env.emplace_back("PORCH_AGENT_EXECUTOR", "api");
  env.emplace_back("ANTHROPIC_API_KEY", "sk-test");
  env.emplace_back("ANTHROPIC_BASE_URL", server.url());
  const std::vector<std::string> as_nobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  std::vector<std::string> argv = as_nobody;
  for (const std::string& a : {porch, std::string("run"), std::string("--plan")}) argv.push_back(a);
  for (const std::string& a : {plan, std::string("--run-id"), Id("mine")}) argv.push_back(a);
  Result<ProcessResult> run = RunProcess(argv, home, env);
  const std::string run_dir = home + "/porch-runs/runs/" + Id("mine");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->exit_code, 0) << run->output;
  Result<std::string> made = ReadFile(run_dir + "/output/d/f.txt");
  EXPECT_EQ(made.ok() ? *made : "<missing>", "x\n");
  EXPECT_TRUE(PathExists(run_dir + "/tasks/ai/attempt-1/workspace/agent.txt"));
  EXPECT_EQ(*ReadFile(run_dir + "/output/agent.txt"), "a\n");
  // No passwd entry for the uid in the image, but its name in the environment.
  Result<std::string> name = ReadFile(run_dir + "/output/d/u.txt");
  EXPECT_EQ(name.ok() ? *name : "<missing>", UserName(nobody) + " " + UserName(nobody) + "\n");
  std::vector<std::string> rm = as_nobody;
  for (const std::string& a : {std::string("rm"), std::string("-rf"), run_dir}) rm.push_back(a);
  Result<ProcessResult> removed = RunProcess(rm, home);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->exit_code, 0) << removed->output;
  EXPECT_FALSE(PathExists(run_dir)) << "the user could not delete its own run directory";
}

TEST_F(DockerBackendTest, FailingContainerIsRetried) {
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - id: flaky\n    retries: 2\n    command: n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 3 ]\n"),
      "--run-id", Id("flaky")}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Status(Id("flaky"))["tasks"][0]["attempts"], 3);
}

TEST_F(DockerBackendTest, MemoryLimitOomIsDetected) {
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - id: hog\n    retries: 0\n    resources: {memory: 32M}\n"
           "    command: x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}\n"),
      "--run-id", Id("oom")}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json t = Status(Id("oom"))["tasks"][0];
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "oom") << t.dump();
}

TEST_F(DockerBackendTest, OomRetryGetsMoreMemory) {
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - id: grow\n    retries: 4\n    resources: {memory: 16M}\n"
           "    command: x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo ${#x} > size.txt\n"),
      "--run-id", Id("grow")}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Status(Id("grow")).dump();
  json t = Status(Id("grow"))["tasks"][0];
  ASSERT_GE(t["attempt_details"].size(), 2u) << t.dump();
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "oom") << t.dump();
  EXPECT_EQ(*ReadFile(Run(Id("grow")) + "/output/size.txt"), "40000000\n");
}

TEST_F(DockerBackendTest, CtrlCLeavesNoContainerBehind) {
  PorchProcess p(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: s1, command: 'touch ../started-s1; sleep 30'}\n  - {id: s2, command: 'sleep 30'}\n"),
      "--run-id", Id("int")}, Env());
  ASSERT_TRUE(WaitFor([&] { return PathExists(Run(Id("int")) + "/started-s1"); }));
  p.Signal(SIGINT);
  PorchRun r = p.Wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_EQ(Containers(Id("int")), 0u);
  EXPECT_EQ(Status(Id("int"))["run"]["cancelled"], 2);
}

TEST_F(DockerBackendTest, KillNineThenResumeAdoptsContainers) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 6; ++i) {
    plan << "  - {id: k" << i << ", command: 'touch ../started-k" << i
         << "; sleep 1; echo run >> ../markers-k" << i << "'"
         << (i >= 2 ? ", depends_on: [k" + std::to_string(i - 2) + "]" : std::string()) << "}\n";
  }
  PorchProcess p(dir_.path(), {"run", "--plan", Plan(plan.str()), "-j", "2", "--run-id", Id("kill")}, Env());
  ASSERT_TRUE(WaitFor([&] { return PathExists(Run(Id("kill")) + "/started-k2"); }));
  p.Signal(SIGKILL);
  p.Wait();
  EXPECT_GE(Containers(Id("kill")), 1u);  // still there without porch
  PorchRun r = RunPorch(dir_.path(), {"resume", Id("kill")}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json s = Status(Id("kill"));
  for (int i = 0; i < 6; ++i) {
    std::string id = "k" + std::to_string(i);
    EXPECT_EQ(Lines(Run(Id("kill")) + "/markers-" + id), 1) << id;
    // An attempt whose container was created but never started when porch
    // died is "lost" and runs again; no attempt that ran is repeated.
    int ran = 0;
    for (const json& a : s["tasks"][i]["attempt_details"]) ran += a["outcome"] != "lost";
    EXPECT_EQ(ran, 1) << id << " ran twice: " << s["tasks"][i].dump();
  }
  EXPECT_EQ(Containers(Id("kill")), 0u);
}

TEST_F(DockerBackendTest, MissingImageAndMissingEngineAreClearErrors) {
  std::string plan = Plan("tasks:\n  - {id: a, command: 'true'}\n");
  auto env = Env();
  env["PORCH_DOCKER_IMAGE"] = "porch-no-such-image:none";
  PorchRun img = RunPorch(dir_.path(), {"run", "--plan", plan}, env);
  EXPECT_EQ(img.exit_code, 3);  // the engine's state, not the plan: porch could not do its job
  EXPECT_NE(img.err.find("image 'porch-no-such-image:none' is not in the engine, and porch never pulls"),
            std::string::npos) << img.err;
  env = Env();
  env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock";
  PorchRun eng = RunPorch(dir_.path(), {"run", "--plan", plan}, env);
  EXPECT_EQ(eng.exit_code, 3);
  EXPECT_NE(eng.err.find("cannot reach the Docker engine at unix:///nonexistent/docker.sock: is dockerd running?"),
            std::string::npos) << eng.err;
}

// Two runs started at the same moment on a network neither has created:
// Docker 20.10 may create it twice; both runs still agree on one and succeed.
TEST_F(DockerBackendTest, TwoRunsStartedTogetherOnANewNetworkBothSucceed) {
  std::string plan = Plan("tasks:\n  - {id: a, command: 'true'}\n  - {id: b, command: 'true'}\n");
  for (int round = 0; round < 5; ++round) {
    network_ = UniqueName("porch-test-newnet");
    std::vector<std::unique_ptr<PorchProcess>> runs;
    for (int k = 0; k < 2; ++k) {
      runs.push_back(std::make_unique<PorchProcess>(
          dir_.path(), std::vector<std::string>{"run", "--plan", plan, "--run-id",
                                                Id("net" + std::to_string(round) + "-" + std::to_string(k))},
          Env()));
    }
    for (auto& r : runs) {
      PorchRun done = r->Wait();
      EXPECT_EQ(done.exit_code, 0) << "round " << round << ": " << done.err;
    }
    Result<std::vector<NetworkInfo>> nets = client_->NetworksNamed(network_);
    ASSERT_TRUE(nets.ok());
    EXPECT_GE(nets->size(), 1u);
    for (const NetworkInfo& n : *nets) client_->RemoveNetwork(n.id).IgnoreError();
  }
}

// Two runs with the same run id, in two output directories, at once: each
// has its own uid, so neither adopts, stops nor removes the other's
// containers. Retries are off: any disturbance fails a run.
TEST_F(DockerBackendTest, TwoRunsWithTheSameRunIdDoNotTouchEachOther) {
  std::string plan = Plan("tasks:\n  - {id: a, command: 'sleep 2; echo a > a.txt', retries: 0}\n"
                          "  - {id: b, command: 'sleep 2; echo b > b.txt', retries: 0}\n");
  TempDir other;
  PorchProcess first(dir_.path(), {"run", "--plan", plan, "--run-id", Id("same")}, Env());
  PorchProcess second(other.path(), {"run", "--plan", plan, "--run-id", Id("same")}, Env());
  PorchRun r1 = first.Wait(), r2 = second.Wait();
  EXPECT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(*ReadFile(Run(Id("same")) + "/output/a.txt"), "a\n");
  EXPECT_EQ(*ReadFile(other.path() + "/porch-runs/runs/" + Id("same") + "/output/b.txt"), "b\n");
}

// Task ids that a container name cannot hold map to distinct names.
TEST_F(DockerBackendTest, TasksWhoseIdsSanitiseAlikeRunSideBySide) {
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: 'x y', command: 'sleep 1; echo 1 > one.txt', retries: 0}\n"
           "  - {id: 'x_y', command: 'sleep 1; echo 2 > two.txt', retries: 0}\n"),
      "-j", "2", "--run-id", Id("names")}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Run(Id("names")) + "/output/one.txt"), "1\n");
  EXPECT_EQ(*ReadFile(Run(Id("names")) + "/output/two.txt"), "2\n");
}

TEST_F(DockerBackendTest, PlannerInDockerPlansInsideAContainer) {
  TempDir server_dir;
  json task = {{"id", "page"}, {"title", "Page"}, {"prompt", "Write index.html"},
               {"depends_on", json::array()}, {"outputs", {"index.html"}}};
  json rules = {{"rules",
      {{{"match", "How complex"},
        {"responses", {{{"tool_use", {{"name", "report_complexity"},
                                       {"input", {{"score", 2}, {"rationale", "tiny"},
                                                  {"recommended_tasks", 1}}}}}}}}},
       {{"match", "Plan it as"},
        {"responses", {{{"tool_use", {{"name", "submit_plan"},
                                       {"input", {{"tasks", json::array({task})}}}}}}}}}}}};
  FakeLlmServer server(server_dir.path(), rules);
  ASSERT_TRUE(server.ok());
  auto env = Env();
  env["ANTHROPIC_API_KEY"] = "sk-test-not-on-disk";
  env["ANTHROPIC_BASE_URL"] = server.url();
  env["PORCH_DOCKER_PLANNER_IN_DOCKER"] = "true";
  env["PORCH_LLM_RETRY_BASE_SECONDS"] = "0.05";
  PorchRun r = RunPorch(dir_.path(), {"plan", "Build a one-page site", "--plan-id", "boxed",
                                      "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  ASSERT_EQ(j["plan_tasks"].size(), 1u);
  EXPECT_EQ(j["plan_tasks"][0]["id"], "page");
  std::string dir = dir_.path() + "/porch-runs/plans/boxed";
  // The planning ran in the container: what it wrote in the mounted
  // directory is there (porch's own planning writes nothing under
  // planner-io/), and the model was asked.
  EXPECT_TRUE(PathExists(dir + "/planner-io/plans/plan/plan.json"));
  EXPECT_TRUE(PathExists(dir + "/planner-io/plans/plan/planner/summary.json"));
  EXPECT_TRUE(PathExists(dir + "/planner/container.log"));
  EXPECT_GE(server.Posts().size(), 2u);
  EXPECT_TRUE(PathExists(dir + "/planner/plan-1.txt"));
  EXPECT_EQ(RunPorch(dir_.path(), {"validate", dir + "/plan.json"}).exit_code, 0);
  // No secret on disk, no planner container left.
  Result<std::string> stored = ReadFile(dir + "/planner-io/config.json");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->find("sk-test-not-on-disk"), std::string::npos);
  Result<std::vector<ContainerState>> left =
      client_->List({{"porch.role", "planner"}, {"porch.plan_dir", AbsolutePath(dir)}});
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST_F(DockerBackendTest, MissingImageIsBuiltFromTheConfiguredContext) {
  std::string ctx = dir_.path() + "/context";
  ASSERT_TRUE(MakeDirs(ctx).ok());
  ASSERT_TRUE(WriteFileAtomic(ctx + "/Dockerfile.porch",
                              "FROM " + Image() + "\nCOPY note.txt /note.txt\n"
                              "RUN cat /note.txt > /built.txt\n").ok());
  ASSERT_TRUE(WriteFileAtomic(ctx + "/note.txt", "built through the API\n").ok());
  auto env = Env();
  std::string image = "porch-built-" + std::to_string(getpid()) + ":ci";
  env["PORCH_DOCKER_IMAGE"] = image;
  env["PORCH_DOCKER_BUILD_CONTEXT"] = ctx;
  env["PORCH_DOCKER_DOCKERFILE"] = "Dockerfile.porch";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: a, command: 'cat /built.txt > seen.txt'}\n"), "--run-id", Id("built")}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("building it from " + ctx), std::string::npos) << r.err;
  EXPECT_EQ(*ReadFile(Run(Id("built")) + "/output/seen.txt"), "built through the API\n");
  Result<bool> have = client_->ImageExists(image);
  ASSERT_TRUE(have.ok());
  EXPECT_TRUE(*have);
  Result<std::string> log = ReadFile(Run(Id("built")) + "/docker-build.log");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("Step 3/3"), std::string::npos) << *log;

  // A failing build step is a clear error naming the step's failure.
  ASSERT_TRUE(WriteFileAtomic(ctx + "/Dockerfile.porch", "FROM " + Image() + "\nRUN exit 7\n").ok());
  env["PORCH_DOCKER_IMAGE"] = "porch-broken-" + std::to_string(getpid()) + ":ci";
  PorchRun bad = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: a, command: 'true'}\n"), "--run-id", Id("broken")}, env);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("building image 'porch-broken-"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("returned a non-zero code: 7"), std::string::npos) << bad.err;
  client_->RemoveImage(image).IgnoreError();
}

// An engine of the test's own beside the suite's (a bridge of its own with a
// link-local address, no iptables; its containers use network "none"),
// stopped for 20 s while a run goes on and started again: the run completes,
// no task is charged a retry for the outage (retries are off), and no task's
// command runs twice to its end.
TEST(DockerEngineRestartTest, AnOutageIsWaitedOutAndChargesNoRetry) {
  if (system("command -v dockerd >/dev/null") != 0) PORCH_SKIP_OR_FAIL("no dockerd (scripts/docker-up.sh installs it)");
  TempDir dir;
  const std::string engine = dir.path() + "/engine";
  // `--bridge=none` would make dockerd delete the suite engine's docker0.
  const std::string bridge = "pt" + std::to_string(getpid() % 100000);
  ASSERT_EQ(system(("ip link add " + bridge + " type bridge && ip addr add 169.254.213.1/24 dev " +
                    bridge).c_str()),
            0);
  const std::map<std::string, std::string> engine_env = {
      {"PORCH_DOCKER_DIR", engine},
      {"PORCH_DOCKERD_FLAGS", "--bridge=" + bridge + " --iptables=false --ip-masq=false"}};
  const std::string scripts = std::string(PORCH_SOURCE_DIR) + "/scripts/";
  auto up = [&] {
    Result<ProcessResult> r = RunProcess({scripts + "docker-up.sh"}, dir.path(),
                                         {engine_env.begin(), engine_env.end()});
    return r.ok() && r->exit_code == 0;
  };
  auto down = [&] {
    RunProcess({scripts + "docker-down.sh"}, dir.path(), {engine_env.begin(), engine_env.end()})
        .IgnoreError();
  };
  ASSERT_TRUE(up()) << *ReadFile(engine + "/dockerd.log");
  struct Stop {
    std::function<void()> f;
    ~Stop() { f(); }
  } stop{[&] {
    down();
    RunProcess({scripts + "docker-down.sh"}, dir.path(),
               {{"PORCH_DOCKER_DIR", engine}, {"PORCH_DOCKER_REMOVE", "1"}}).IgnoreError();
    RunProcess({"ip", "link", "delete", bridge}, "/").IgnoreError();
  }};
  CurlHttpClient http;
  DockerClient client(&http, engine + "/docker.sock");
  DockerTestImage image(client, /*use_shared=*/false);
  ASSERT_TRUE(image.ok()) << image.error();

  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 6; ++i) {
    plan << "  - {id: t" << i << ", retries: 0, command: 'touch ../started-t" << i
         << "; sleep 2; echo run >> ../markers-t" << i << "'"
         << (i >= 3 ? ", depends_on: [t" + std::to_string(i - 3) + "]" : std::string()) << "}\n";
  }
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/plan.yaml", plan.str()).ok());
  std::map<std::string, std::string> env = {
      {"DOCKER_HOST", "unix://" + engine + "/docker.sock"}, {"PORCH_BACKEND", "docker"},
      {"PORCH_DOCKER_IMAGE", image.name()}, {"PORCH_DOCKER_NETWORK", "none"},
      {"PORCH_KILL_GRACE_SECONDS", "1"}};
  PorchProcess p(dir.path(), {"run", "--plan", "plan.yaml", "-j", "3", "--run-id", "outage"}, env);
  const std::string run = dir.path() + "/porch-runs/runs/outage";
  for (int i = 0; i < 3000 && !PathExists(run + "/started-t1"); ++i) usleep(10 * 1000);
  ASSERT_TRUE(PathExists(run + "/started-t1")) << p.ErrSoFar();
  down();                         // the engine goes away under running containers
  sleep(20);
  ASSERT_TRUE(up());              // and comes back
  PorchRun r = p.Wait();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json s = json::parse(RunPorch(dir.path(), {"status", "outage", "--json"}).out);
  EXPECT_EQ(s["run"]["succeeded"], 6);
  for (const json& t : s["tasks"]) {
    for (const json& a : t["attempt_details"]) {
      const std::string outcome = a["outcome"];
      EXPECT_TRUE(outcome == "ok" || outcome == "lost") << t.dump();  // nothing charged
    }
    Result<std::string> markers = ReadFile(run + "/markers-" + t["id"].get<std::string>());
    ASSERT_TRUE(markers.ok());
    EXPECT_EQ(*markers, "run\n") << t["id"];  // no command ran twice to its end
  }
}

}  // namespace
}  // namespace porch
