// End-to-end tests: the real porch binary running real processes.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "integration/porch_process.h"
#include "journal/journal.h"
#include "model/result_file.h"
#include "model/run_layout.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

class CliTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }

  PorchRun Porch(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    return RunPorch(dir_.path(), std::move(args), std::move(env));
  }

  json Status(const std::string& run) {
    PorchRun r = Porch({"status", run, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }

  json TaskOf(const json& status, const std::string& id) {
    for (const json& t : status["tasks"]) {
      if (t["id"] == id) return t;
    }
    ADD_FAILURE() << "no task " << id;
    return json::object();
  }

  int Lines(const std::string& path) {
    Result<std::string> text = ReadFile(path);
    if (!text.ok()) return 0;
    int n = 0;
    for (char c : *text) n += c == '\n';
    return n;
  }

  // Waits until `pred` holds (10 s at most).
  bool WaitFor(const std::function<bool()>& pred) {
    for (int i = 0; i < 1000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string Run(const std::string& id) { return dir_.path() + "/porch-runs/runs/" + id; }

  TempDir dir_;
};

TEST_F(CliTest, ValidateReportsCycleWithFileAndExit2) {
  std::string plan = Write("cyc.yaml",
                           "tasks:\n  - {id: a, command: x, depends_on: [c]}\n"
                           "  - {id: b, command: x, depends_on: [a]}\n"
                           "  - {id: c, command: x, depends_on: [b]}\n");
  PorchRun r = Porch({"validate", plan});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cyc.yaml:2: dependency cycle: a -> c -> b -> a"), std::string::npos) << r.err;
  PorchRun run = Porch({"run", "--plan", plan});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_FALSE(PathExists(dir_.path() + "/porch-runs/runs"));  // nothing was started
}

TEST_F(CliTest, ValidateJson) {
  std::string plan = Write("ok.json", R"({"tasks": [{"id": "a", "command": "true"}]})");
  PorchRun r = Porch({"validate", plan, "--json"});
  EXPECT_EQ(r.exit_code, 0);
  json j = json::parse(r.out);
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["tasks"], 1);
}

TEST_F(CliTest, ThirtyTaskDagRunsInDependencyOrder) {
  // Five layers of six; each task depends on two tasks of the layer before.
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int layer = 0; layer < 5; ++layer) {
    for (int k = 0; k < 6; ++k) {
      plan << "  - id: t" << layer << "_" << k << "\n"
           << "    command: echo \"start $PORCH_TASK_ID\" >> log.txt; sleep 0.02; "
              "echo \"end $PORCH_TASK_ID\" >> log.txt\n";
      if (layer > 0) {
        plan << "    depends_on: [t" << layer - 1 << "_" << k << ", t" << layer - 1 << "_"
             << (k + 1) % 6 << "]\n";
      }
    }
  }
  std::string path = Write("dag.yaml", plan.str());
  PorchRun r = Porch({"run", "--plan", path, "-j", "4", "--run-id", "dag30"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("30/30 tasks succeeded"), std::string::npos) << r.out;

  // Every task started after both of its dependencies ended.
  std::string log = *ReadFile(Run("dag30") + "/output/log.txt");
  std::map<std::string, size_t> pos;
  std::istringstream in(log);
  std::string line;
  for (size_t i = 0; std::getline(in, line); ++i) pos[line] = i;
  EXPECT_EQ(pos.size(), 60u);
  for (int layer = 1; layer < 5; ++layer) {
    for (int k = 0; k < 6; ++k) {
      std::string me = "t" + std::to_string(layer) + "_" + std::to_string(k);
      for (int d : {k, (k + 1) % 6}) {
        std::string dep = "t" + std::to_string(layer - 1) + "_" + std::to_string(d);
        EXPECT_GT(pos["start " + me], pos["end " + dep]) << me << " after " << dep;
      }
    }
  }
  json status = Status("dag30");
  EXPECT_EQ(status["run"]["succeeded"], 30);
  EXPECT_EQ(status["run"]["outcome"], "succeeded");
  EXPECT_LE(status["run"]["slots_used"].get<int>(), 4);
  json metrics = json::parse(*ReadFile(Run("dag30") + "/metrics.json"));
  EXPECT_GT(metrics["run"]["makespan_s"].get<double>(), 0);
  EXPECT_GT(metrics["run"]["speedup"].get<double>(), 1.0);
  EXPECT_EQ(metrics["run"]["critical_path_tasks"].size(), 5u);
  std::string report = *ReadFile(Run("dag30") + "/report.html");
  EXPECT_NE(report.find("<svg class=\"gantt\""), std::string::npos);
  EXPECT_NE(report.find("<svg class=\"dag\""), std::string::npos);
  EXPECT_NE(report.find("data-task=\"t4_5\""), std::string::npos);
  EXPECT_EQ(report.find("http://"), report.find("http://www.w3.org/2000/svg"));  // no network assets
}

TEST_F(CliTest, FlakyTaskFailsTwiceThenSucceeds) {
  std::string plan = Write("flaky.yaml", R"(tasks:
  - id: flaky
    command: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]
  - id: after
    command: echo ok > after.txt
    depends_on: [flaky]
)");
  PorchRun r = Porch({"run", "--plan", plan, "--run-id", "flaky", "--set",
                      "retry.retry_delay_seconds=0.05", "--set", "retry.max_retries=2"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json t = TaskOf(Status("flaky"), "flaky");
  EXPECT_EQ(t["attempts"], 3);
  EXPECT_EQ(t["state"], "succeeded");
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "exit_code");
  EXPECT_EQ(t["attempt_details"][2]["outcome"], "ok");
  // Each attempt's result is a record of the results log (none printed
  // anything, so none has a directory).
  ResultLog log(RunLayout(Run("flaky")).results_log());
  log.Refresh();
  for (int a = 1; a <= 3; ++a) {
    ASSERT_NE(log.Find("flaky", a), nullptr) << "attempt " << a;
    EXPECT_EQ(log.Find("flaky", a)->ok(), a == 3) << "attempt " << a;
  }
  EXPECT_EQ(log.Find("flaky", 4), nullptr);
  EXPECT_FALSE(PathExists(Run("flaky") + "/tasks/flaky/attempt-3"));
  EXPECT_NE(r.err.find("retry   flaky (attempt 1 failed: exit 1"), std::string::npos) << r.err;
}

TEST_F(CliTest, PermanentFailureSkipsDependentsAndExits1) {
  std::string plan = Write("fail.yaml", R"(tasks:
  - {id: bad, command: "echo broken >&2; exit 5", retries: 0}
  - {id: child, command: "true", depends_on: [bad]}
  - {id: free, command: "true"}
)");
  PorchRun r = Porch({"run", "--plan", plan, "--run-id", "fail"});
  EXPECT_EQ(r.exit_code, 1);
  json s = Status("fail");
  EXPECT_EQ(TaskOf(s, "bad")["state"], "failed");
  EXPECT_EQ(TaskOf(s, "bad")["exit_code"], 5);
  EXPECT_EQ(TaskOf(s, "child")["state"], "skipped");
  EXPECT_EQ(TaskOf(s, "child")["skip_reason"], "dependency 'bad' failed");
  EXPECT_EQ(TaskOf(s, "free")["state"], "succeeded");
  PorchRun logs = Porch({"logs", "fail", "bad", "--stderr"});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_EQ(logs.out, "broken\n");
  PorchRun table = Porch({"status", "fail"});
  EXPECT_NE(table.out.find("dependency 'bad' failed"), std::string::npos) << table.out;
}

TEST_F(CliTest, ACommandThatDoesNotCreateItsDeclaredOutputsFails) {
  // The second try creates what the first forgot: a missing output is
  // retried per policy like any failure.
  std::string plan = Write("outs.yaml", R"(tasks:
  - id: gen
    command: if [ -e tried ]; then echo x > made.txt; echo y > sub/also.txt; else mkdir -p sub; touch tried; fi
    outputs: [made.txt, sub/also.txt]
  - {id: lazy, command: "true", outputs: [never.txt], retries: 0}
)");
  PorchRun r = Porch({"run", "--plan", plan, "--run-id", "outs", "--set", "retry.retry_delay_seconds=0.05"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json s = Status("outs");
  json gen = TaskOf(s, "gen");
  EXPECT_EQ(gen["state"], "succeeded");
  EXPECT_EQ(gen["attempts"], 2);
  EXPECT_EQ(gen["attempt_details"][0]["outcome"], "missing_outputs");
  EXPECT_NE(gen["attempt_details"][0]["detail"].get<std::string>().find("'made.txt', 'sub/also.txt'"),
            std::string::npos)
      << gen["attempt_details"][0]["detail"];
  json lazy = TaskOf(s, "lazy");
  EXPECT_EQ(lazy["state"], "failed");
  EXPECT_NE(lazy["attempt_details"][0]["detail"].get<std::string>().find("'never.txt'"), std::string::npos);
  PorchRun logs = Porch({"logs", "outs", "lazy", "--stderr"});
  EXPECT_NE(logs.out.find("declared outputs: 'never.txt'"), std::string::npos) << logs.out;
}

TEST_F(CliTest, OutputsWrittenWithSlashesOrDotsAreFound) {
  std::string plan = Write("dots.yaml", R"(tasks:
  - {id: a, command: "mkdir -p dist && touch dist/x f.txt", outputs: [dist/, ./f.txt, dist//x], retries: 0}
)");
  PorchRun r = Porch({"run", "--plan", plan, "--run-id", "dots"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(CliTest, ALoopbackEndpointWithBridgedContainersIsRefusedAtTheStart) {
  std::string plan = Write("ai-docker.yaml", "tasks:\n  - {id: ai, prompt: 'write a parser', outputs: [p.c]}\n");
  PorchRun r = Porch({"run", "--plan", plan, "--backend", "docker", "--run-id", "loop"},
                     {{"ANTHROPIC_API_KEY", "k"}, {"ANTHROPIC_BASE_URL", "http://127.0.0.1:8080"},
                      {"DOCKER_HOST", "unix:///nonexistent/docker.sock"}});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("http://127.0.0.1:8080"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("docker.network=host"), std::string::npos) << r.err;
  EXPECT_FALSE(PathExists(Run("loop"))) << "refused before anything was made";
  // The same with a requirement: refused before the plan is paid for.
  PorchRun planned = Porch({"run", "Build a parser", "--backend", "docker", "--run-id", "loop2"},
                           {{"ANTHROPIC_API_KEY", "k"}, {"ANTHROPIC_BASE_URL", "http://localhost:8080"}});
  EXPECT_EQ(planned.exit_code, 2) << planned.err;
  EXPECT_NE(planned.err.find("docker.network=host"), std::string::npos) << planned.err;
}

TEST_F(CliTest, TaskOverItsTimeLimitIsKilled) {
  std::string plan = Write("slow.yaml", R"(tasks:
  - {id: slow, command: "sleep 30", retries: 0, resources: {time_limit: 0.5}}
)");
  auto start = std::chrono::steady_clock::now();
  PorchRun r = Porch({"run", "--plan", plan, "--run-id", "slow", "--set", "kill_grace_seconds=0.5"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_LT(secs, 10);
  json t = TaskOf(Status("slow"), "slow");
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "timeout");
}

TEST_F(CliTest, RefusesToReuseARunId) {
  std::string plan = Write("one.yaml", "tasks:\n  - {id: a, command: 'true'}\n");
  EXPECT_EQ(Porch({"run", "--plan", plan, "--run-id", "same"}).exit_code, 0);
  PorchRun again = Porch({"run", "--plan", plan, "--run-id", "same"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("run 'same' already exists"), std::string::npos) << again.err;
}

TEST_F(CliTest, AiTaskWithoutTheCliFailsClearly) {
  std::string plan = Write("ai.yaml", "tasks:\n  - {id: ai, prompt: 'write a parser'}\n");
  PorchRun r = Porch({"run", "--plan", plan, "--run-id", "ai", "--set",
                      "agent.claude_path=/nonexistent/claude"});
  EXPECT_EQ(r.exit_code, 1);
  json t = TaskOf(Status("ai"), "ai");
  EXPECT_EQ(t["attempts"], 1);  // not retried: it cannot succeed
  EXPECT_NE(t["attempt_details"][0]["detail"].get<std::string>().find(
                "Claude Code CLI is not installed"),
            std::string::npos);
}

TEST_F(CliTest, ConfigShowLayers) {
  Write("porch.yaml", "max_executors: 7\nretry:\n  max_retries: 4\n");
  PorchRun r = Porch({"config", "show", "--set", "retry.jitter=0"},
                     {{"PORCH_RETRY_MAX_RETRIES", "6"}, {"PORCH_LLM_API_KEY", "sk-secret-1"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("max_executors = 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# file porch.yaml:1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("retry.max_retries = 6"), std::string::npos);
  EXPECT_NE(r.out.find("# env PORCH_RETRY_MAX_RETRIES"), std::string::npos);
  EXPECT_NE(r.out.find("retry.jitter = 0"), std::string::npos);
  EXPECT_NE(r.out.find("# flag --set"), std::string::npos);
  EXPECT_EQ(r.out.find("sk-secret-1"), std::string::npos);
  Write("porch.yaml", "max_executor: 7\n");
  PorchRun bad = Porch({"config", "show"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("porch.yaml:1: unknown key 'max_executor'"), std::string::npos) << bad.err;
}

TEST_F(CliTest, SigintCancelsThenResumeFinishes) {
  std::ostringstream plan;
  plan << "tasks:\n";
  for (int i = 0; i < 8; ++i) {
    plan << "  - id: s" << i
         << "\n    command: touch ../started-$PORCH_TASK_ID; sleep 0.4; "
            "echo run >> ../markers-$PORCH_TASK_ID\n";
    if (i >= 2) plan << "    depends_on: [s" << i - 2 << "]\n";
  }
  std::string path = Write("int.yaml", plan.str());
  PorchProcess p(dir_.path(), {"run", "--plan", path, "-j", "2", "--run-id", "int"});
  // s2 is certainly running once it touched its start marker.
  ASSERT_TRUE(WaitFor([&] { return PathExists(Run("int") + "/started-s2"); }));
  p.Signal(SIGINT);
  PorchRun r = p.Wait();
  EXPECT_EQ(r.exit_code, 130) << r.out << r.err;
  json s = Status("int");
  EXPECT_EQ(s["run"]["outcome"], "interrupted");
  EXPECT_LT(s["run"]["succeeded"].get<int>(), 8);
  EXPECT_GE(s["run"]["cancelled"].get<int>(), 1);
  std::vector<std::string> done_before;
  for (const json& t : s["tasks"]) {
    if (t["state"] == "succeeded") done_before.push_back(t["id"]);
  }
  PorchRun resumed = Porch({"resume", "int"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(Status("int")["run"]["succeeded"], 8);
  for (const std::string& id : done_before) {
    EXPECT_EQ(Lines(Run("int") + "/markers-" + id), 1) << id << " ran again after resume";
  }
}

// After Ctrl-C, `porch status` says which tasks run again on resume, and
// resume then runs exactly those: interrupted tasks are not shown as failed
// and their dependents are not shown as skipped.
TEST_F(CliTest, StatusAfterCtrlCAgreesWithWhatResumeDoes) {
  std::string plan = Write("agree.yaml",
      "tasks:\n"
      "  - {id: quick, command: 'true'}\n"
      "  - {id: slow1, command: 'touch ../started-slow1; [ -f ../fast ] || sleep 30', depends_on: [quick]}\n"
      "  - {id: slow2, command: 'touch ../started-slow2; [ -f ../fast ] || sleep 30', depends_on: [quick]}\n"
      "  - {id: after, command: 'true', depends_on: [slow1]}\n");
  PorchProcess p(dir_.path(), {"run", "--plan", plan, "-j", "3", "--run-id", "agree"});
  ASSERT_TRUE(WaitFor([&] {
    return PathExists(Run("agree") + "/started-slow1") && PathExists(Run("agree") + "/started-slow2");
  }));
  p.Signal(SIGINT);
  ASSERT_EQ(p.Wait().exit_code, 130);
  json s = Status("agree");
  std::set<std::string> will_run;
  for (const json& t : s["tasks"]) {
    EXPECT_NE(t["state"], "failed") << t.dump();
    EXPECT_NE(t["state"], "skipped") << t.dump();
    if (t["runs_on_resume"].get<bool>()) will_run.insert(t["id"]);
  }
  EXPECT_EQ(will_run, (std::set<std::string>{"slow1", "slow2", "after"}));
  PorchRun text = Porch({"status", "agree"});
  EXPECT_NE(text.out.find("interrupted; runs again on resume"), std::string::npos) << text.out;

  // Resume, the commands now finishing at once: exactly those tasks launch.
  ASSERT_TRUE(WriteFileAtomic(Run("agree") + "/fast", "").ok());
  PorchRun resumed = Porch({"resume", "agree"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  Result<ReplayResult> journal = ReadJournal(Run("agree") + "/journal.log");
  ASSERT_TRUE(journal.ok());
  bool after_resume = false;
  std::set<std::string> launched;
  for (const JournalRecord& rec : journal->records) {
    if (rec.type == JournalRecord::Type::kResumed) after_resume = true;
    if (after_resume && rec.type == JournalRecord::Type::kLaunching) launched.insert(rec.task);
  }
  EXPECT_EQ(launched, will_run) << resumed.out << resumed.err;
}

TEST_F(CliTest, KillNineThenResumeRunsEveryTaskExactlyOnce) {
  std::ostringstream plan;
  plan << "tasks:\n";
  // Each task marks its start, then holds until ../go exists (created by the
  // test once porch is dead), so the second wave is certainly in flight
  // when porch is killed.
  for (int i = 0; i < 12; ++i) {
    plan << "  - id: k" << i << "\n    command: touch ../started-$PORCH_TASK_ID;"
         << (i >= 3 && i < 6 ? " while [ ! -f ../go ]; do sleep 0.01; done;" : "")
         << " echo run >> ../markers-$PORCH_TASK_ID\n";
    if (i >= 3) plan << "    depends_on: [k" << i - 3 << "]\n";
  }
  std::string path = Write("kill.yaml", plan.str());
  PorchProcess p(dir_.path(), {"run", "--plan", path, "-j", "3", "--run-id", "kill"});
  ASSERT_TRUE(WaitFor([&] {
    return PathExists(Run("kill") + "/started-k3") && PathExists(Run("kill") + "/started-k4") &&
           PathExists(Run("kill") + "/started-k5");
  }));
  p.Signal(SIGKILL);
  PorchRun killed = p.Wait();
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  ASSERT_TRUE(WriteFileFast(Run("kill") + "/go", "").ok());

  PorchRun resumed = Porch({"resume", "kill"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  json s = Status("kill");
  EXPECT_EQ(s["run"]["succeeded"], 12);
  for (int i = 0; i < 12; ++i) {
    std::string id = "k" + std::to_string(i);
    EXPECT_EQ(Lines(Run("kill") + "/markers-" + id), 1) << id;
    EXPECT_EQ(TaskOf(s, id)["attempts"], 1) << id << " was started again";
  }
  // k3..k5 were running when porch died: the resumed porch re-adopted them
  // (their attempt 1 finished under it) instead of launching them again.
  Result<ReplayResult> journal = ReadJournal(Run("kill") + "/journal.log");
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  bool after_resume = false;
  std::set<std::string> finished_after, launched_after;
  for (const JournalRecord& rec : journal->records) {
    if (rec.type == JournalRecord::Type::kResumed) after_resume = true;
    if (!after_resume) continue;
    if (rec.type == JournalRecord::Type::kFinished) finished_after.insert(rec.task);
    if (rec.type == JournalRecord::Type::kLaunching) launched_after.insert(rec.task);
  }
  ASSERT_TRUE(after_resume);
  for (const char* id : {"k3", "k4", "k5"}) {
    EXPECT_TRUE(finished_after.count(id)) << id << " was not re-adopted";
    EXPECT_FALSE(launched_after.count(id)) << id << " was launched again";
  }
  // Resuming a finished run does nothing and succeeds.
  PorchRun again = Porch({"resume", "kill"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  for (int i = 0; i < 12; ++i) EXPECT_EQ(Lines(Run("kill") + "/markers-k" + std::to_string(i)), 1);
}

TEST_F(CliTest, ExecTaskWritesResultAndExitCode) {
  std::string plan = Write("ex.yaml", "tasks:\n  - {id: a, command: 'echo hi'}\n  - {id: b, command: 'exit 2', retries: 0}\n");
  ASSERT_EQ(Porch({"run", "--plan", plan, "--run-id", "ex"}).exit_code, 1);
  PorchRun ok = Porch({"exec-task", "--run-dir", Run("ex"), "--task-id", "a", "--attempt", "9"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(*ReadFile(Run("ex") + "/tasks/a/attempt-9/stdout"), "hi\n");
  EXPECT_TRUE(PathExists(Run("ex") + "/tasks/a/attempt-9/result.json"));
  EXPECT_EQ(Porch({"exec-task", "--run-dir", Run("ex"), "--task-id", "b", "--attempt", "9"}).exit_code, 1);
  EXPECT_EQ(Porch({"exec-task", "--run-dir", Run("ex"), "--task-id", "zz", "--attempt", "1"}).exit_code, 2);
}

TEST_F(CliTest, EveryCommandsHelpHasAnExample) {
  std::vector<std::vector<std::string>> commands = {
      {"run"},  {"plan"},     {"resume"},         {"status"},         {"runs"},
      {"logs"}, {"validate"}, {"config", "show"}, {"config", "keys"}, {"serve"},
      {"report"}, {"s3"},     {"exec-task"}};
  for (std::vector<std::string> args : commands) {
    args.push_back("--help");
    PorchRun r = Porch(args);
    EXPECT_EQ(r.exit_code, 0) << args[0];
    EXPECT_NE(r.out.find("Example"), std::string::npos) << args[0] << " --help:\n" << r.out;
  }
}

TEST_F(CliTest, RunsListsRunsAndHelpTeaches) {
  std::string plan = Write("one.yaml", "tasks:\n  - {id: a, command: 'true'}\n");
  ASSERT_EQ(Porch({"run", "--plan", plan, "--run-id", "r1", "--json"}).exit_code, 0);
  PorchRun runs = Porch({"runs", "--json"});
  json list = json::parse(runs.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["run_id"], "r1");
  PorchRun help = Porch({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
  EXPECT_NE(help.out.find("porch run --plan examples/quickstart.yaml"), std::string::npos);
  EXPECT_EQ(Porch({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Porch({"status", "nope"}).exit_code, 2);
}

}  // namespace
}  // namespace porch
