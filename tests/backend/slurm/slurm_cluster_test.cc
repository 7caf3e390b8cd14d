// The SLURM backend through `porch run --backend slurm`, against the real
// one-node cluster scripts/slurm-up.sh starts (slurmctld + slurmd + munge on
// 127.0.0.1). Skips, saying why, when no controller answers.
//
// The SLURM clients are reached through wrapper scripts (slurm.bin_dir) that
// log each call, so the tests count sbatch/squeue/scancel calls exactly.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "backend/slurm/job_script.h"
#include "backend/slurm/slurm_state.h"
#include "model/run_identity.h"
#include "fakes/fake_llm_server.h"
#include "integration/agent_matrix.h"
#include "integration/porch_process.h"
#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

std::string SlurmConf() {
  const char* env = getenv("SLURM_CONF");
  return env && *env ? env : "/tmp/porch-slurm/slurm.conf";
}

class SlurmClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<ProcessResult> ping = RunProcess({"scontrol", "ping"}, "/", {{"SLURM_CONF", SlurmConf()}});
    if (!ping.ok() || ping->output.find("is UP") == std::string::npos) {
      PORCH_SKIP_OR_FAIL("no SLURM controller answers (SLURM_CONF=" << SlurmConf()
                         << "; start one with scripts/slurm-up.sh)");
    }
    bin_ = dir_.path() + "/bin";
    ASSERT_TRUE(MakeDirs(bin_).ok());
    for (const char* prog : {"sbatch", "squeue", "sacct", "scontrol", "scancel"}) {
      std::string w = bin_ + "/" + prog;
      ASSERT_TRUE(WriteFileAtomic(w, std::string("#!/bin/sh\necho ") + prog + " >> '" + bin_ +
                                         "/calls.log'\nexec " + prog + " \"$@\"\n").ok());
      chmod(w.c_str(), 0755);
    }
    run_prefix_ = "t" + std::to_string(getpid()) + "-";
  }
  std::map<std::string, std::string> Env() {
    return {{"SLURM_CONF", SlurmConf()},
            {"PORCH_BACKEND", "slurm"},
            {"PORCH_SLURM_BIN_DIR", bin_},
            {"PORCH_SLURM_POLL_INTERVAL_SECONDS", "0.5"},
            {"PORCH_SLURM_RESULT_GRACE_SECONDS", "5"},
            // The cluster enforces memory; a sanitized porch exec-task alone
            // takes some 150 MB.
            {"PORCH_SLURM_MEMORY", PORCH_SANITIZED ? "512M" : "64M"},
            {"PORCH_RETRY_RETRY_DELAY_SECONDS", "0.1"},
            {"PORCH_KILL_GRACE_SECONDS", "1"}};
  }
  // Env() for porch's API agent, with no key or endpoint from the
  // environment (the test gives them some other way).
  std::map<std::string, std::string> AgentEnv() {
    auto env = Env();
    env["PORCH_AGENT_EXECUTOR"] = "api";
    env["ANTHROPIC_API_KEY"] = "";
    env["ANTHROPIC_BASE_URL"] = "";
    if (PORCH_SANITIZED) env["PORCH_SLURM_MEMORY"] = "1G";
    return env;
  }
  // `secret` is nowhere in run `id`'s directory (job scripts included).
  void ExpectNotInRun(const std::string& secret, const std::string& id) {
    Result<ProcessResult> grep = RunProcess({"grep", "-rl", secret, Run(id)}, dir_.path());
    ASSERT_TRUE(grep.ok());
    EXPECT_EQ(grep->output, "") << "the key reached the run directory";
  }
  std::string RunId(const std::string& name) { return run_prefix_ + name; }
  // merge.isolate_commands on this backend: two commands, each in its
  // workspace, reach output/ through the merge, which records them.
  void ExpectIsolatedCommandsMerged(const std::string& id, const std::map<std::string, std::string>& env) {
    PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
        Plan("tasks:\n  - {id: gen, command: 'echo data > data.txt'}\n"
             "  - {id: use, command: 'cat data.txt > used.txt', depends_on: [gen]}\n"),
        "--run-id", id, "--set", "merge.isolate_commands=true"}, env);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(*ReadFile(Run(id) + "/output/used.txt"), "data\n");
    json owners = json::parse(*ReadFile(Run(id) + "/merge.json"));
    EXPECT_EQ(owners["data.txt"]["task"], "gen");
    EXPECT_EQ(owners["used.txt"]["task"], "use");
    EXPECT_TRUE(PathExists(Run(id) + "/tasks/use/attempt-1/seed.json"));  // it worked in a workspace
  }
  std::string Plan(const std::string& yaml) {
    std::string path = dir_.path() + "/plan-" + std::to_string(++plans_) + ".yaml";
    EXPECT_TRUE(WriteFileAtomic(path, yaml).ok());
    return path;
  }
  std::string Run(const std::string& id) { return dir_.path() + "/porch-runs/runs/" + id; }
  // The run's unique id (run.json), which its jobs carry.
  std::string Uid(const std::string& id) {
    Result<RunIdentity> r = ReadRunIdentity(RunLayout(Run(id)));
    return r.ok() ? r->uid : "<no uid>";
  }
  json Status(const std::string& id) {
    return json::parse(RunPorch(dir_.path(), {"status", id, "--json"}).out);
  }
  int Calls(const std::string& prog) {
    Result<std::string> log = ReadFile(bin_ + "/calls.log");
    if (!log.ok()) return 0;
    int n = 0;
    std::istringstream in(*log);
    for (std::string line; std::getline(in, line);) n += line == prog;
    return n;
  }
  // The run's jobs SLURM still has queued or running.
  std::vector<SlurmJob> Active(const std::string& run_id) {
    Result<ProcessResult> q = RunProcess({"squeue", "-h", "-r", "-o", "%i|%j|%T|%r|%k"}, "/",
                                         {{"SLURM_CONF", SlurmConf()}});
    std::vector<SlurmJob> out;
    if (!q.ok()) return out;
    const std::string comment = SlurmJobComment(Uid(run_id));
    for (SlurmJob& j : ParseSqueue(q->output, nullptr, /*with_comment=*/true)) {
      if (j.comment == comment && !IsTerminal(j.state)) out.push_back(j);
    }
    return out;
  }
  // n of the run's jobs run, and porch has journaled every one of them: a
  // kill -9 before that is the case of a job porch never recorded, which
  // resume cancels and runs again (tested on its own).
  bool WaitForRunning(const std::string& run_id, int n) {
    return WaitFor([&] {
      std::set<std::string> running;
      for (const SlurmJob& j : Active(run_id)) {
        if (j.state == SlurmState::kRunning) running.insert(j.id);
      }
      if (static_cast<int>(running.size()) != n) return false;
      json s = Status(run_id);
      for (const json& t : s.value("tasks", json::array())) {
        for (const json& a : t.value("attempt_details", json::array())) running.erase(a.value("job_id", ""));
      }
      return running.empty();
    });
  }
  bool WaitFor(const std::function<bool()>& pred, int seconds = 60) {
    for (int i = 0; i < seconds * 10; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  TempDir dir_;
  std::string bin_;
  std::string run_prefix_;
  int plans_ = 0;
};

TEST_F(SlurmClusterTest, TwentyTaskDagWithChainAndFanOut) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 5; ++i) {  // a chain c0 -> c4
    plan << "  - {id: c" << i << ", command: 'echo c" << i << " >> chain.txt'"
         << (i ? ", depends_on: [c" + std::to_string(i - 1) + "]" : std::string()) << "}\n";
  }
  for (int i = 0; i < 14; ++i) {  // fan-out from c4
    plan << "  - {id: f" << i << ", command: 'echo f" << i << " > f" << i
         << ".txt', depends_on: [c4]}\n";
  }
  plan << "  - id: join\n    command: cat f*.txt | wc -l > joined.txt\n    depends_on: [";
  for (int i = 0; i < 14; ++i) plan << (i ? ", " : "") << "f" << i;
  plan << "]\n";
  std::string id = RunId("dag");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", Plan(plan.str()), "-j", "8", "--run-id", id},
                        Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Run(id) + "/output/chain.txt"), "c0\nc1\nc2\nc3\nc4\n");
  EXPECT_EQ(*ReadFile(Run(id) + "/output/joined.txt"), "14\n");
  json s = Status(id);
  EXPECT_EQ(s["run"]["succeeded"], 20);
  // The fan-out went out as arrays: far fewer sbatch calls than tasks.
  EXPECT_LT(Calls("sbatch"), 20);
  EXPECT_TRUE(PathExists(Run(id) + "/tasks/f3/attempt-1/slurm.out"));
}

TEST_F(SlurmClusterTest, ReadyTasksWithEqualResourcesAreOneArray) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 8; ++i) plan << "  - {id: a" << i << ", command: 'echo $SLURM_ARRAY_TASK_ID > a" << i << ".txt'}\n";
  std::string id = RunId("array");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", Plan(plan.str()), "-j", "8", "--run-id", id},
                        Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Calls("sbatch"), 1);
  Result<std::vector<std::string>> scripts = ListDir(Run(id) + "/slurm");
  ASSERT_TRUE(scripts.ok());
  bool array_script = false;
  for (const std::string& f : *scripts) array_script |= f.find("-array8.sh") != std::string::npos;
  EXPECT_TRUE(array_script);
  std::set<std::string> indices;
  for (int i = 0; i < 8; ++i) indices.insert(*ReadFile(Run(id) + "/output/a" + std::to_string(i) + ".txt"));
  EXPECT_EQ(indices.size(), 8u);  // each element ran its own task

  auto env = Env();
  env["PORCH_SLURM_ARRAYS"] = "false";
  std::string id2 = RunId("noarray");
  int before = Calls("sbatch");
  r = RunPorch(dir_.path(), {"run", "--plan", Plan(plan.str()), "-j", "8", "--run-id", id2}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Calls("sbatch") - before, 8);
}

TEST_F(SlurmClusterTest, FailingTaskIsRetriedThenSucceeds) {
  std::string id = RunId("retry");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - id: flaky\n    command: test -f ../tried || { touch ../tried; exit 3; }\n"),
      "--run-id", id}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json s = Status(id);
  ASSERT_EQ(s["tasks"][0]["attempt_details"].size(), 2u) << s.dump();
  EXPECT_EQ(s["tasks"][0]["attempt_details"][0]["exit_code"], 3);
  EXPECT_EQ(s["tasks"][0]["state"], "succeeded");
}

TEST_F(SlurmClusterTest, AnAgentOnANodeReadsItsKeyFromTheKeyFile) {
  // The cluster exports only PATH to jobs: the key reaches the node through
  // llm.api_key_file (a path in the run's configuration), never a script.
  TempDir server_dir;
  FakeLlmServer server(server_dir.path(), AgentWritesFile("SLURM-AGENT", "a.txt", "a\n"),
                       {"--api-key", "sk-from-the-key-file"});
  ASSERT_TRUE(server.ok());
  const std::string key = dir_.path() + "/anthropic.key";
  ASSERT_TRUE(WriteFileAtomic(key, "sk-from-the-key-file\n").ok());
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/porch.yaml", "llm:\n  api_key_file: " + key +
                                                               "\n  base_url: " + server.url() + "\n").ok());
  auto env = AgentEnv();
  env["PORCH_SLURM_EXPORT_ENV"] = "PATH";
  std::string id = RunId("keyfile");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: a, prompt: SLURM-AGENT, outputs: [a.txt], retries: 0}\n"), "--run-id", id}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Status(id).dump();
  EXPECT_EQ(*ReadFile(Run(id) + "/output/a.txt"), "a\n");
  for (const json& p : server.Posts()) EXPECT_EQ(p["headers"]["x-api-key"], "sk-from-the-key-file");
  ExpectNotInRun("sk-from-the-key-file", id);
  // A key file others can read is refused at the start.
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);
  PorchRun open = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: a, prompt: SLURM-AGENT, outputs: [a.txt]}\n"), "--run-id", RunId("keyfile2")}, env);
  EXPECT_EQ(open.exit_code, 2) << open.err;
  EXPECT_NE(open.err.find("chmod 600"), std::string::npos) << open.err;
}

TEST_F(SlurmClusterTest, AKeyOnlyInTheConfigFileReachesAnAgentOnANode) {
  // Exported by sbatch (slurm.export_env ALL) from the environment porch
  // resolved, never written into the job script.
  TempDir server_dir;
  FakeLlmServer server(server_dir.path(), AgentWritesFile("SLURM-YAML", "y.txt", "y\n"),
                       {"--api-key", "sk-in-porch-yaml"});
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/porch.yaml", "llm:\n  api_key: sk-in-porch-yaml\n  base_url: " +
                                                               server.url() + "\n").ok());
  auto env = AgentEnv();
  std::string id = RunId("yamlkey");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: y, prompt: SLURM-YAML, outputs: [y.txt], retries: 0}\n"), "--run-id", id}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Status(id).dump();
  EXPECT_EQ(*ReadFile(Run(id) + "/output/y.txt"), "y\n");
  ExpectNotInRun("sk-in-porch-yaml", id);
}

TEST_F(SlurmClusterTest, ThePromptPlanSucceedsOnNodesWithEveryKeySourceForBothExecutors) {
  const std::string claude = ClaudeTestBinary();
  if (access(claude.c_str(), X_OK) != 0) {
    PORCH_SKIP_OR_FAIL("Claude Code CLI not installed at " << claude << " (run scripts/install-claude-code.sh)");
  }
  auto env = Env();
  env["PORCH_SLURM_MEMORY"] = "1G";  // the CLI alone takes some 300 MB
  // The node is this host: the CLI is where it is installed here.
  AgentMatrix matrix(dir_.path(), "slurm.claude_path=" + claude);
  matrix.RunAll(env, RunId(""), {KeyWay::kAnthropicEnv, KeyWay::kPorchEnv, KeyWay::kPorchYaml, KeyWay::kKeyFile});
}

TEST_F(SlurmClusterTest, IsolatedCommandsReachOutputThroughTheMerge) {
  ExpectIsolatedCommandsMerged(RunId("isolated"), Env());
}

TEST_F(SlurmClusterTest, TimeLimitStopsTheTaskAndTheRetryGetsTwiceTheTime) {
  std::string id = RunId("timeout");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: slow, command: 'sleep 60', retries: 1, resources: {time_limit: 2s}}\n"),
      "--run-id", id}, Env());
  EXPECT_NE(r.exit_code, 0) << r.out << r.err;
  json s = Status(id);
  ASSERT_EQ(s["tasks"][0]["attempt_details"].size(), 2u) << s.dump();
  for (const json& a : s["tasks"][0]["attempt_details"]) EXPECT_EQ(a["outcome"], "timeout") << a.dump();
  Result<std::string> second = ReadFile(Run(id) + "/slurm/porch-" + Uid(id) + "-slow-2.sh");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->find("limit=4\n"), std::string::npos) << *second;
}

TEST_F(SlurmClusterTest, GpuTaskSeesItsGpu) {
  std::string id = RunId("gpu");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - id: train\n    command: echo \"$CUDA_VISIBLE_DEVICES|$SLURM_JOB_GPUS|$SLURM_JOB_PARTITION\" > gpu.txt\n"
           "    resources: {gpus: 1}\n"),
      "--run-id", id}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Result<std::string> seen = ReadFile(Run(id) + "/output/gpu.txt");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, "0|0|gpu\n");
}

TEST_F(SlurmClusterTest, CtrlCCancelsEveryJob) {
  std::string id = RunId("ctrlc");
  PorchProcess p(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: s1, command: 'sleep 120'}\n  - {id: s2, command: 'sleep 120'}\n"
           "  - {id: s3, command: 'sleep 120'}\n  - {id: later, command: 'true', depends_on: [s1]}\n"),
      "--run-id", id}, Env());
  ASSERT_TRUE(WaitForRunning(id, 3)) << p.ErrSoFar();
  p.Signal(SIGINT);
  PorchRun r = p.Wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_TRUE(WaitFor([&] { return Active(id).empty(); }, 30)) << "jobs left in the queue";
  json s = Status(id);
  EXPECT_EQ(s["run"]["cancelled"], 3) << s.dump();
  EXPECT_GE(Calls("scancel"), 1);
}

TEST_F(SlurmClusterTest, KillNineThenResumeAdoptsJobsWithoutResubmitting) {
  std::string id = RunId("kill");
  PorchProcess p(dir_.path(), {"run", "--plan",
      Plan("tasks:\n"
           "  - {id: k0, command: 'sleep 10; echo k0 >> ../ran-k0'}\n"
           "  - {id: k1, command: 'sleep 10; echo k1 >> ../ran-k1'}\n"
           "  - {id: k2, command: 'sleep 10; echo k2 >> ../ran-k2'}\n"
           "  - {id: after, command: 'echo after >> ../ran-after', depends_on: [k0, k1, k2]}\n"),
      "-j", "3", "--run-id", id}, Env());
  ASSERT_TRUE(WaitForRunning(id, 3)) << p.ErrSoFar();
  p.Signal(SIGKILL);
  p.Wait();
  int sbatch_before = Calls("sbatch");
  EXPECT_EQ(Active(id).size(), 3u);  // the jobs run on without porch
  PorchRun r = RunPorch(dir_.path(), {"resume", id}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Calls("sbatch") - sbatch_before, 1);  // only `after`
  for (const char* t : {"k0", "k1", "k2", "after"}) {
    Result<std::string> ran = ReadFile(Run(id) + "/ran-" + t);
    ASSERT_TRUE(ran.ok()) << t;
    EXPECT_EQ(*ran, std::string(t) + "\n") << t << " ran more than once";
  }
  json s = Status(id);
  for (const json& t : s["tasks"]) EXPECT_EQ(t["attempt_details"].size(), 1u) << t.dump();
}

// Two runs on one cluster: `exp` is killed (-9) and resumed while `exp-2`
// (its run id starts with exp's) goes on. The resumed run must not take the
// other's jobs for orphans of its own; both finish, every task once. Then
// the same for run ids with a space.
TEST_F(SlurmClusterTest, AResumedRunNeverTouchesAnotherRunsJobs) {
  for (const std::string& base : {std::string("exp"), std::string("my exp")}) {
    SCOPED_TRACE(base);
    const std::string a = RunId(base), b = RunId(base) + "-2";
    std::string plan = Plan("tasks:\n"
        "  - {id: k0, retries: 0, command: 'touch ../started-k0; sleep 6; echo k0 >> ../ran-k0'}\n"
        "  - {id: k1, retries: 0, command: 'touch ../started-k1; sleep 6; echo k1 >> ../ran-k1'}\n"
        "  - {id: after, retries: 0, command: 'echo after >> ../ran-after', depends_on: [k0, k1]}\n");
    PorchProcess first(dir_.path(), {"run", "--plan", plan, "-j", "2", "--run-id", a}, Env());
    PorchProcess second(dir_.path(), {"run", "--plan", plan, "-j", "2", "--run-id", b}, Env());
    ASSERT_TRUE(WaitFor([&] {
      return PathExists(Run(a) + "/started-k1") && PathExists(Run(b) + "/started-k1") &&
             PathExists(Run(a) + "/started-k0") && PathExists(Run(b) + "/started-k0");
    })) << first.ErrSoFar() << second.ErrSoFar();
    first.Signal(SIGKILL);
    first.Wait();
    PorchRun resumed = RunPorch(dir_.path(), {"resume", a}, Env());
    PorchRun other = second.Wait();
    EXPECT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
    EXPECT_EQ(other.exit_code, 0) << other.out << other.err;
    for (const std::string& id : {a, b}) {
      for (const char* t : {"k0", "k1", "after"}) {
        Result<std::string> ran = ReadFile(Run(id) + "/ran-" + t);
        ASSERT_TRUE(ran.ok()) << id << " " << t;
        EXPECT_EQ(*ran, std::string(t) + "\n") << id << ": " << t << " ran more or less than once";
      }
      json st = Status(id);
      EXPECT_EQ(st["run"]["succeeded"], 3) << st.dump();
    }
  }
}

// With the test cluster enforcing memory, a task over its limit is killed
// by SLURM, classified oom, and its retry asks for twice the memory.
TEST_F(SlurmClusterTest, OutOfMemoryIsClassifiedAndRetriedWithMoreMemory) {
  std::string id = RunId("oom");
  // A sanitized porch exec-task takes some 150 MB of the job's memory itself.
  const int limit_mb = PORCH_SANITIZED ? 256 : 64, hog_mb = PORCH_SANITIZED ? 200 : 90;
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - id: hog\n    retries: 2\n    resources: {memory: " + std::to_string(limit_mb) +
           "M}\n    command: python3 -c \"import time; b = bytearray(" + std::to_string(hog_mb) +
           " << 20); b[::4096] = b'x' * len(b[::4096]);"
           " time.sleep(3); open('hog.txt', 'w').write('ok')\"\n"),
      "--run-id", id}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json t = Status(id)["tasks"][0];
  ASSERT_GE(t["attempt_details"].size(), 2u) << t.dump();
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "oom") << t.dump();
  EXPECT_EQ(t["attempt_details"].back()["outcome"], "ok") << t.dump();
  Result<std::string> second = ReadFile(Run(id) + "/slurm/porch-" + Uid(id) + "-hog-2.sh");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->find("--mem=" + std::to_string(2 * limit_mb) + "M"), std::string::npos) << *second;
  EXPECT_EQ(*ReadFile(Run(id) + "/output/hog.txt"), "ok");
}

// Ctrl-C while jobs are still pending: porch's own cancellations need no
// result grace (30 s here), so porch exits within a poll interval and a few seconds.
TEST_F(SlurmClusterTest, CtrlCWithPendingJobsExitsPromptly) {
  std::string id = RunId("pending");
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 6; ++i) {  // 8 CPUs each on a 16-CPU node: two run, four wait
    plan << "  - {id: p" << i << ", command: 'sleep 120', resources: {cpus: 8}}\n";
  }
  auto env = Env();
  env["PORCH_SLURM_RESULT_GRACE_SECONDS"] = "30";
  PorchProcess p(dir_.path(), {"run", "--plan", Plan(plan.str()), "-j", "6", "--run-id", id}, env);
  ASSERT_TRUE(WaitForRunning(id, 2)) << p.ErrSoFar();
  const auto start = std::chrono::steady_clock::now();
  p.Signal(SIGINT);
  PorchRun r = p.Wait();
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  // Well under the 30 s result grace even on a loaded machine: porch did not wait it out.
  EXPECT_LT(took, 20) << "porch waited for results of jobs it cancelled itself";
  EXPECT_TRUE(WaitFor([&] { return Active(id).empty(); }, 30));
}

// The node goes down under a running job (as a failed or preempted node
// does): the job ends NODE_FAIL, and the task runs again as a new attempt
// without charging a retry (retries are off). Takes the cluster's only node
// down, so ctest runs it alone (RUN_SERIAL, CMakeLists.txt). The node's
// slurmd kills the first job's processes when it registers again after
// the resume, which took more than 3.5 s once under ASan: the command
// sleeps long enough that the kill always comes first.
using SlurmSerialTest = SlurmClusterTest;
TEST_F(SlurmSerialTest, ANodeThatFailsUnderAJobMeansALostAttempt) {
  std::string id = RunId("nodefail");
  PorchProcess p(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: n, retries: 0, command: 'touch ../started; sleep 20; echo run >> ../ran'}\n"),
      "--run-id", id}, Env());
  ASSERT_TRUE(WaitFor([&] { return PathExists(Run(id) + "/started"); })) << p.ErrSoFar();
  auto node = [&](const char* state) {
    Result<ProcessResult> r = RunProcess(
        {"scontrol", "update", "nodename=localhost", std::string("state=") + state, "reason=porch-test"},
        "/", {{"SLURM_CONF", SlurmConf()}});
    return r.ok() && r->exit_code == 0;
  };
  ASSERT_TRUE(node("down"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  // Back in service (slurmd may have re-registered it already: ReturnToService=2).
  if (!node("resume")) {
    ASSERT_TRUE(WaitFor([&] {
      Result<ProcessResult> st = RunProcess({"sinfo", "-h", "-N", "-o", "%T"}, "/",
                                            {{"SLURM_CONF", SlurmConf()}});
      return st.ok() && st->output.find("down") == std::string::npos;
    }));
  }
  PorchRun r = p.Wait();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json t = Status(id)["tasks"][0];
  ASSERT_EQ(t["attempt_details"].size(), 2u) << t.dump();
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "lost") << t.dump();
  EXPECT_EQ(t["attempt_details"][1]["outcome"], "ok") << t.dump();
  EXPECT_EQ(*ReadFile(Run(id) + "/ran"), "run\n");  // the killed attempt never finished its command
}

TEST_F(SlurmClusterTest, SlurmHoldsDependentsWithAfterok) {
  auto env = Env();
  env["PORCH_SLURM_DEPENDENCIES"] = "slurm";
  std::string id = RunId("afterok");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n"
           "  - {id: first, command: 'test -f ../tried || { touch ../tried; exit 3; }; echo 1 > first.txt'}\n"
           "  - {id: second, command: 'cat first.txt > second.txt', depends_on: [first]}\n"
           "  - {id: third, command: 'cat second.txt > third.txt', depends_on: [second]}\n"),
      "-j", "3", "--run-id", id}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Run(id) + "/output/third.txt"), "1\n");
  // second and third were submitted held behind first's failing attempt,
  // cancelled when it failed, and held again behind its retry.
  Result<std::string> held = ReadFile(Run(id) + "/slurm/porch-" + Uid(id) + "-second-1.sh");
  ASSERT_TRUE(held.ok());
  EXPECT_NE(held->find("--dependency=afterok:"), std::string::npos) << *held;
  json s = Status(id);
  EXPECT_EQ(s["run"]["succeeded"], 3);
  EXPECT_EQ(s["tasks"][1]["attempt_details"][0]["outcome"], "lost") << s.dump();
}

TEST_F(SlurmClusterTest, NoControllerIsAClearError) {
  auto env = Env();
  env["SLURM_CONF"] = dir_.path() + "/missing.conf";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", Plan("tasks:\n  - {id: a, command: 'true'}\n")}, env);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no SLURM controller answers"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("SLURM_CONF"), std::string::npos) << r.err;
}

// The aws backend: the same cluster, with nothing shared between porch and
// the nodes but an S3 bucket (the signature-checking server of
// scripts/s3-up.sh). Nodes work in directories of their own
// (PORCH_NODE_DIR), never in the run directory.
class AwsClusterTest : public SlurmClusterTest {
 protected:
  void SetUp() override {
    SlurmClusterTest::SetUp();
    if (IsSkipped()) return;
    const char* url = getenv("PORCH_S3_SIGV4_ENDPOINT");
    if (!url || !*url) PORCH_SKIP_OR_FAIL("PORCH_S3_SIGV4_ENDPOINT is not set (run scripts/s3-up.sh)");
    endpoint_ = url;
    nodes_ = dir_.path() + "/nodes";
    bucket_ = UniqueName("porch-aws");
    PorchRun mb = RunPorch(dir_.path(), {"s3", "mb", "s3://" + bucket_}, AwsEnv());
    if (mb.exit_code != 0) PORCH_SKIP_OR_FAIL("no S3 server answers at " << endpoint_ << ": " << mb.err);
  }
  std::map<std::string, std::string> AwsEnv() {
    auto env = Env();
    env["PORCH_BACKEND"] = "aws";
    env["AWS_ACCESS_KEY_ID"] = "S3RVER";
    env["AWS_SECRET_ACCESS_KEY"] = "S3RVER";
    env["PORCH_AWS_REGION"] = "us-east-1";
    env["PORCH_AWS_ENDPOINT"] = endpoint_;
    env["PORCH_AWS_S3_BUCKET"] = bucket_;
    env["PORCH_AWS_CLUSTER_NAME"] = "test-cluster";
    env["PORCH_NODE_DIR"] = nodes_;
    env["PORCH_KEEP_NODE_DIR"] = "1";
    return env;
  }
  std::string endpoint_, nodes_, bucket_;
};

TEST_F(AwsClusterTest, JobsStageThroughS3IntoNodeLocalDirectories) {
  std::string id = RunId("aws");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n"
           "  - {id: gen, command: 'echo data > data.txt; pwd > where-gen.txt'}\n"
           "  - {id: use, command: 'cat data.txt > used.txt; pwd > where-use.txt', depends_on: [gen]}\n"
           "  - {id: bad, command: 'echo oops >&2; exit 4', retries: 0}\n"),
      "--run-id", id}, AwsEnv());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // `bad` fails, on purpose
  std::string run = Run(id);
  EXPECT_EQ(*ReadFile(run + "/output/used.txt"), "data\n");  // gen's output reached use via S3
  // The tasks ran in node-local directories, not in the run directory.
  const std::string node_run = nodes_ + "/porch-" + Uid(id);
  EXPECT_EQ(*ReadFile(run + "/output/where-gen.txt"), node_run + "/gen-1/output\n");
  EXPECT_EQ(*ReadFile(run + "/output/where-use.txt"), node_run + "/use-1/output\n");
  EXPECT_TRUE(PathExists(node_run + "/use-1/plan.json"));  // fetched from S3
  // A failing task's logs still arrive.
  EXPECT_EQ(*ReadFile(run + "/tasks/bad/attempt-1/stderr"), "oops\n");
  json s = Status(id);
  EXPECT_EQ(s["run"]["succeeded"], 2);
  EXPECT_EQ(s["run"]["backend"], "aws");
  // S3 holds the run marker, the results and, at the end, the output.
  const std::string base = id + "." + Uid(id);  // two runs of one id never share a prefix
  PorchRun ls = RunPorch(dir_.path(), {"s3", "ls", "s3://" + bucket_ + "/porch/runs/" + base + "/"}, AwsEnv());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  for (const char* key : {"/run.json", "/results/bad/attempt-1.json", "/output/used.txt",
                          "/tasks/bad/attempt-1/stderr", "/input/plan.json"}) {
    EXPECT_NE(ls.out.find(base + key), std::string::npos) << key << "\n" << ls.out;
  }
  json metrics = json::parse(*ReadFile(run + "/metrics.json"));
  EXPECT_EQ(metrics["run"]["aws"]["cluster_name"], "test-cluster");
  EXPECT_EQ(metrics["run"]["aws"]["region"], "us-east-1");
}

TEST_F(AwsClusterTest, AnAiAttemptUploadsOnlyWhatItChangedAndNoGitGoesUp) {
  TempDir server_dir;
  auto write = [](const char* path) {
    return json{{"tool_use", {{"name", "write_file"}, {"input", {{"path", path}, {"content", "new\n"}}}}}};
  };
  json rules = {{"rules", {{{"match", "wrote "}, {"responses", {{{"text", "Done."}}}}},
                           {{"match", "AWS-ONE"}, {"responses", {write("one.txt")}}},
                           {{"match", "AWS-TWO"}, {"responses", {write("two.txt")}}}}}};
  FakeLlmServer server(server_dir.path(), rules);
  ASSERT_TRUE(server.ok());
  auto env = AwsEnv();
  env["PORCH_AGENT_EXECUTOR"] = "api";
  env["ANTHROPIC_API_KEY"] = "sk-test";
  env["ANTHROPIC_BASE_URL"] = server.url();
  if (PORCH_SANITIZED) env["PORCH_SLURM_MEMORY"] = "1G";
  std::string id = RunId("awsai");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n"
           "  - {id: gen, command: 'head -c 200000 /dev/zero | tr \"\\\\0\" x > big.txt'}\n"
           "  - {id: one, prompt: AWS-ONE, outputs: [one.txt], depends_on: [gen]}\n"
           "  - {id: two, prompt: AWS-TWO, outputs: [two.txt], depends_on: [one]}\n"),
      "--run-id", id}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err << Status(id).dump();
  EXPECT_EQ(ReadFile(Run(id) + "/output/big.txt")->size(), 200000u);
  EXPECT_EQ(*ReadFile(Run(id) + "/output/two.txt"), "new\n");
  EXPECT_TRUE(PathExists(Run(id) + "/output/.git"));  // one's merge made the repository...
  const std::string base = "s3://" + bucket_ + "/porch/runs/" + id + "." + Uid(id) + "/";
  env["PORCH_JSON"] = "1";
  PorchRun ls = RunPorch(dir_.path(), {"s3", "ls", base, "--json"}, AwsEnv());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  json keys = json::parse(ls.out);
  uint64_t workspace_bytes = 0;
  std::vector<std::string> workspace_keys;
  for (const json& k : keys) {
    const std::string key = k["key"];
    EXPECT_EQ(key.find("/.git/"), std::string::npos) << "...which never goes up: " << key;
    EXPECT_EQ(key.find("/base/"), std::string::npos) << key;
    if (key.find("/tasks/two/attempt-1/workspace/") != std::string::npos) {
      workspace_keys.push_back(key.substr(key.find("/workspace/") + 11));
      workspace_bytes += k["size"].get<uint64_t>();
    }
  }
  // two was seeded with big.txt and one.txt; it sent back only its own file.
  EXPECT_EQ(workspace_keys, std::vector<std::string>{"two.txt"});
  EXPECT_EQ(workspace_bytes, 4u);
  std::printf("the AI attempt uploaded %llu bytes of workspace\n", static_cast<unsigned long long>(workspace_bytes));
}

TEST_F(AwsClusterTest, ThePromptPlanSucceedsStagedThroughS3WithEveryKeySourceForBothExecutors) {
  const std::string claude = ClaudeTestBinary();
  if (access(claude.c_str(), X_OK) != 0) {
    PORCH_SKIP_OR_FAIL("Claude Code CLI not installed at " << claude << " (run scripts/install-claude-code.sh)");
  }
  auto env = AwsEnv();
  env["PORCH_SLURM_MEMORY"] = "1G";
  AgentMatrix matrix(dir_.path(), "slurm.claude_path=" + claude);
  matrix.RunAll(env, RunId("aws"), {KeyWay::kAnthropicEnv, KeyWay::kPorchEnv, KeyWay::kPorchYaml, KeyWay::kKeyFile});
}

TEST_F(AwsClusterTest, IsolatedCommandsReachOutputThroughTheMerge) {
  ExpectIsolatedCommandsMerged(RunId("awsisolated"), AwsEnv());
}

// Nodes keep nothing of a run: not the attempts' directories, not the run's,
// not SLURM's own output file for the job.
TEST_F(AwsClusterTest, NodesAreLeftClean) {
  std::string id = RunId("clean");
  auto env = AwsEnv();
  env.erase("PORCH_KEEP_NODE_DIR");
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan",
      Plan("tasks:\n  - {id: a, command: 'echo a > a.txt'}\n  - {id: b, command: 'echo b > b.txt'}\n"),
      "--run-id", id}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Result<std::vector<std::string>> left = ListDir(nodes_);
  EXPECT_TRUE(!left.ok() || left->empty()) << "left on the node: " << (left.ok() ? left->front() : "");
  Result<std::vector<std::string>> tmp = ListDir("/tmp");
  ASSERT_TRUE(tmp.ok());
  for (const std::string& name : *tmp) {
    EXPECT_NE(name.rfind("porch-" + Uid(id), 0), 0u) << "SLURM output left in /tmp: " << name;
  }
}

TEST_F(AwsClusterTest, KillNineThenResumeFindsResultsInS3) {
  std::string id = RunId("awskill");
  PorchProcess p(dir_.path(), {"run", "--plan",
      Plan("tasks:\n"
           "  - {id: k0, command: 'sleep 8; echo k0 > k0.txt'}\n"
           "  - {id: k1, command: 'sleep 8; echo k1 > k1.txt'}\n"
           "  - {id: after, command: 'cat k0.txt k1.txt > both.txt', depends_on: [k0, k1]}\n"),
      "-j", "2", "--run-id", id}, AwsEnv());
  ASSERT_TRUE(WaitForRunning(id, 2)) << p.ErrSoFar();
  p.Signal(SIGKILL);
  p.Wait();
  int sbatch_before = Calls("sbatch");
  PorchRun r = RunPorch(dir_.path(), {"resume", id}, AwsEnv());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(Calls("sbatch") - sbatch_before, 1);  // only `after`
  EXPECT_EQ(*ReadFile(Run(id) + "/output/both.txt"), "k0\nk1\n");
  json s = Status(id);
  for (const json& t : s["tasks"]) EXPECT_EQ(t["attempt_details"].size(), 1u) << t.dump();
}

TEST_F(AwsClusterTest, MissingBucketIsAClearError) {
  auto env = AwsEnv();
  env["PORCH_AWS_S3_BUCKET"] = "porch-no-such-bucket";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", Plan("tasks:\n  - {id: a, command: 'true'}\n")}, env);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("bucket 'porch-no-such-bucket' does not exist"), std::string::npos) << r.err;
  env.erase("AWS_ACCESS_KEY_ID");
  env["AWS_SHARED_CREDENTIALS_FILE"] = dir_.path() + "/none";
  env["AWS_CONFIG_FILE"] = dir_.path() + "/none";
  env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9";  // not this machine's own
  r = RunPorch(dir_.path(), {"run", "--plan", Plan("tasks:\n  - {id: a, command: 'true'}\n")}, env);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no AWS credentials found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace porch
