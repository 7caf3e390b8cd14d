// AI tasks end to end through `porch run`: porch's API agent against the
// fake LLM server, merging into output/, conflicts, git history, budget, and
// a planned C project built and tested by its integration task.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_llm_server.h"
#include "integration/porch_process.h"
#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

// One write_file call, answered once `gate` holds (see the gates below).
json Write(const std::string& path, const std::string& content, const json& gate = json::object()) {
  json r = {{"tool_use", {{"name", "write_file"}, {"input", {{"path", path}, {"content", content}}}}}};
  r.update(gate);
  return r;
}

// Gates of the fake server that order concurrent agents without timing:
// until a request holding `text` arrived (its agent's workspace is seeded
// by then), or until the file `path` exists and holds `text`.
json AfterRequest(const std::string& text) { return {{"after_request", text}}; }
json AfterFile(const std::string& path, const std::string& text = "") {
  return {{"after_file", path}, {"after_text", text}};
}

json Rule(const std::string& match, json response) {
  return {{"match", match}, {"responses", json::array({response})}};
}

class AgentRunTest : public ::testing::Test {
 protected:
  void Serve(json rules) {
    rules.insert(rules.begin(), Rule("wrote ", {{"text", "Done."}}));
    server_ = std::make_unique<FakeLlmServer>(server_dir_.path(), json{{"rules", rules}});
    ASSERT_TRUE(server_->ok());
  }
  std::map<std::string, std::string> Env() {
    return {{"ANTHROPIC_API_KEY", "sk-test"}, {"ANTHROPIC_BASE_URL", server_->url()},
            {"PORCH_AGENT_EXECUTOR", "api"}, {"PORCH_LLM_RETRY_BASE_SECONDS", "0.05"},
            {"PORCH_RETRY_RETRY_DELAY_SECONDS", "0.05"}};
  }
  std::string PlanFile(const std::string& yaml) {
    std::string path = dir_.path() + "/plan.yaml";
    EXPECT_TRUE(WriteFileAtomic(path, yaml).ok());
    return path;
  }
  json Status(const std::string& run) {
    return json::parse(RunPorch(dir_.path(), {"status", run, "--json"}).out);
  }
  std::string Out(const std::string& run) { return dir_.path() + "/porch-runs/runs/" + run + "/output"; }

  TempDir dir_, server_dir_;
  std::unique_ptr<FakeLlmServer> server_;
};

// Neither declares shared.txt (only one task could own it): `outputs: []`
// says they need create nothing in particular.
const char* kTwoWriters = R"(tasks:
  - {id: a, title: A, prompt: "TASK-A", outputs: [], retries: 0}
  - {id: b, title: B, prompt: "TASK-B", outputs: [], retries: 0}
)";

TEST_F(AgentRunTest, ConflictingFilesFailTheLaterTaskByDefault) {
  // Both agents also write shared.txt, differently, from the same seed.
  // Both are seeded before a lands, and b answers after it.
  Serve({Rule("TASK-A", Write("shared.txt", "from a\n", AfterRequest("TASK-B"))),
         Rule("TASK-B", Write("shared.txt", "from b\n", AfterFile(Out("c1") + "/shared.txt")))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(kTwoWriters), "-j", "2", "--run-id", "c1"}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json s = Status("c1");
  EXPECT_EQ(s["tasks"][0]["state"], "succeeded");
  EXPECT_EQ(s["tasks"][1]["state"], "failed");
  std::string detail = s["tasks"][1]["attempt_details"][0]["detail"];
  EXPECT_NE(detail.find("conflicting files: shared.txt (also changed by task 'a')"), std::string::npos) << detail;
  EXPECT_EQ(*ReadFile(Out("c1") + "/shared.txt"), "from a\n");  // never silently overwritten
}

// lib.c as task `base` writes it, with function f1 or f2 changed as given.
std::string Lib(const std::string& f1 = "return 1;", const std::string& f2 = "return 2;") {
  return "int f1(void) {\n  " + f1 + "\n}\n\n/* between */\n/* the */\n/* two */\n\nint f2(void) {\n  " +
         f2 + "\n}\n";
}

const char* kEditors = R"(tasks:
  - {id: base, title: Base, prompt: "TASK-BASE", outputs: [lib.c]}
  - {id: one, title: One, prompt: "TASK-ONE", depends_on: [base], outputs: [], retries: 1}
  - {id: two, title: Two, prompt: "TASK-TWO", depends_on: [base], outputs: [], retries: 1}
)";

TEST_F(AgentRunTest, TwoTasksEditingDifferentFunctionsOfOneFileBothLand) {
  Serve({Rule("TASK-BASE", Write("lib.c", Lib())),
         Rule("TASK-ONE", Write("lib.c", Lib("return 10;"), AfterRequest("TASK-TWO"))),
         Rule("TASK-TWO", Write("lib.c", Lib("return 1;", "return 20;"),
                                 AfterFile(Out("m3") + "/lib.c", "return 10;")))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(kEditors), "-j", "2", "--run-id", "m3"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Out("m3") + "/lib.c"), Lib("return 10;", "return 20;"));
  json cases = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/m3/conflicts.json"));
  ASSERT_EQ(cases.size(), 1u) << cases.dump();
  EXPECT_EQ(cases[0]["task"], "two");
  EXPECT_EQ(cases[0]["with"], json::array({"one"}));
  EXPECT_EQ(cases[0]["resolution"], "three-way");
  EXPECT_EQ(Status("m3")["tasks"][2]["attempts"], 1);
}

TEST_F(AgentRunTest, OverlappingEditsAreHandedBackAndMergedOnTheRetry) {
  Serve({Rule("conflict markers", Write("lib.c", Lib("return 10 + 11;"))),
         Rule("TASK-BASE", Write("lib.c", Lib())),
         Rule("TASK-ONE", Write("lib.c", Lib("return 10;"), AfterRequest("TASK-TWO"))),
         Rule("TASK-TWO", Write("lib.c", Lib("return 11;"),
                                 AfterFile(Out("m4") + "/lib.c", "return 10;")))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(kEditors), "-j", "2", "--run-id", "m4",
                                      "--set", "retry.retry_delay_seconds=0.05"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Out("m4") + "/lib.c"), Lib("return 10 + 11;"));
  json two = Status("m4")["tasks"][2];
  ASSERT_EQ(two["attempts"], 2);
  EXPECT_EQ(two["attempt_details"][0]["outcome"], "conflict");
  json cases = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/m4/conflicts.json"));
  ASSERT_EQ(cases.size(), 1u) << cases.dump();
  EXPECT_EQ(cases[0]["with"], json::array({"one"}));
  EXPECT_EQ(cases[0]["resolution"], "failed");
  // The retry saw both versions with conflict markers, and started from
  // task one's merged version.
  bool shown = false;
  for (const json& p : server_->Posts()) {
    std::string first = p["body"]["messages"][0]["content"].dump();
    if (first.find("TASK-TWO") == std::string::npos) continue;
    shown |= first.find("<<<<<<< this task") != std::string::npos &&
             first.find("return 10;") != std::string::npos && first.find("return 11;") != std::string::npos;
  }
  EXPECT_TRUE(shown);
  Result<std::string> base = ReadFile(dir_.path() + "/porch-runs/runs/m4/tasks/two/attempt-2/base/lib.c");
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_EQ(*base, Lib("return 10;"));
}

TEST_F(AgentRunTest, ACommandCannotSilentlyOverwriteWhatAnAiTaskMerged) {
  // The command started before the agent's file was merged, so it never saw
  // it: its write is put back and it fails, naming both.
  Serve({Rule("TASK-A", Write("shared.txt", "from the agent\n"))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(R"(tasks:
  - {id: a, title: A, prompt: "TASK-A", outputs: [shared.txt]}
  - {id: clobber, command: "for i in $(seq 400); do [ -f $PORCH_RUN_DIR/merge.json ] && break; sleep 0.05; done; echo from the command > shared.txt"}
)"), "-j", "2", "--run-id", "cw", "--set", "merge.isolate_commands=false"}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json s = Status("cw");
  EXPECT_EQ(s["tasks"][0]["state"], "succeeded");
  EXPECT_EQ(s["tasks"][1]["state"], "failed");
  EXPECT_EQ(s["tasks"][1]["attempts"], 1);  // not retried: it would do the same again
  std::string detail = s["tasks"][1]["attempt_details"][0]["detail"];
  EXPECT_NE(detail.find("shared.txt (merged from task 'a')"), std::string::npos) << detail;
  EXPECT_EQ(*ReadFile(Out("cw") + "/shared.txt"), "from the agent\n");  // put back
  json cases = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/cw/conflicts.json"));
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0]["task"], "clobber");
  EXPECT_EQ(cases[0]["with"], json::array({"a"}));
  EXPECT_EQ(cases[0]["resolution"], "put-back");
}

// The default (merge.isolate_commands: auto): beside an AI task the command
// works in a workspace of its own, and its write meets the agent's in the
// merge: a conflict naming both tasks, never a silent overwrite.
TEST_F(AgentRunTest, ByDefaultACommandBesideAnAiTaskReachesOutputThroughTheMerge) {
  Serve({Rule("TASK-A", Write("shared.txt", "from the agent\n"))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(R"(tasks:
  - {id: a, title: A, prompt: "TASK-A", outputs: [shared.txt]}
  - {id: clobber, retries: 0, command: "for i in $(seq 400); do [ -f $PORCH_RUN_DIR/merge.json ] && break; sleep 0.05; done; echo from the command > shared.txt"}
)"), "-j", "2", "--run-id", "cd"}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(PathExists(dir_.path() + "/porch-runs/runs/cd/tasks/clobber/attempt-1/workspace/shared.txt"));
  EXPECT_EQ(*ReadFile(Out("cd") + "/shared.txt"), "from the agent\n");
  json cases = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/cd/conflicts.json"));
  ASSERT_EQ(cases.size(), 1u) << cases.dump();
  EXPECT_EQ(cases[0]["task"], "clobber");
  EXPECT_EQ(cases[0]["with"], json::array({"a"}));
}

TEST_F(AgentRunTest, ACommandThatSawTheMergedFileMayChangeIt) {
  // A formatter after the agent: it depends on it, so it saw its version.
  Serve({Rule("TASK-A", Write("shared.txt", "from the agent\n"))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(R"(tasks:
  - {id: a, title: A, prompt: "TASK-A", outputs: [shared.txt]}
  - {id: fmt, command: "sed -i s/agent/formatter/ shared.txt", depends_on: [a]}
)"), "--run-id", "fmt"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Out("fmt") + "/shared.txt"), "from the formatter\n");
  json owners = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/fmt/merge.json"));
  EXPECT_EQ(owners["shared.txt"]["task"], "fmt");
}

TEST_F(AgentRunTest, AFailedCommandsWriteToAMergedFileIsPutBackToo) {
  Serve({Rule("TASK-A", Write("shared.txt", "from the agent\n"))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(R"(tasks:
  - {id: a, title: A, prompt: "TASK-A", outputs: [shared.txt]}
  - {id: bad, command: "for i in $(seq 400); do [ -f $PORCH_RUN_DIR/merge.json ] && break; sleep 0.05; done; echo clobbered > shared.txt; exit 3", retries: 0}
)"), "-j", "2", "--run-id", "fb", "--set", "merge.isolate_commands=false"}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Out("fb") + "/shared.txt"), "from the agent\n");
  std::string detail = Status("fb")["tasks"][1]["attempt_details"][0]["detail"];
  EXPECT_NE(detail.find("exit 3"), std::string::npos) << detail;
  EXPECT_NE(detail.find("put back: shared.txt"), std::string::npos) << detail;
}

TEST_F(AgentRunTest, KeepLaterStillMergesNonOverlappingEdits) {
  Serve({Rule("TASK-BASE", Write("lib.c", Lib())),
         Rule("TASK-ONE", Write("lib.c", Lib("return 10;"), AfterRequest("TASK-TWO"))),
         Rule("TASK-TWO", Write("lib.c", Lib("return 1;", "return 20;"),
                                 AfterFile(Out("kl") + "/lib.c", "return 10;")))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(kEditors), "-j", "2", "--run-id", "kl",
                                      "--set", "merge.conflict_policy=keep-later"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Out("kl") + "/lib.c"), Lib("return 10;", "return 20;"));
}

TEST_F(AgentRunTest, AnAiConflictWithACommandNamesTheCommand) {
  // The command writes gen.txt only once b has been seeded without it: b's
  // agent asks the model (the fake server logs the request as it comes)
  // only after its workspace is seeded.
  Serve({Rule("TASK-B", Write("gen.txt", "from the agent\n", AfterFile(Out("cb") + "/gen.txt")))});
  const std::string asked = server_->RequestLog();
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile("tasks:\n"
  "  - {id: gen, command: \"for i in $(seq 600); do grep -qs TASK-B " + asked + " && break; sleep 0.05; done;"
  " echo generated > gen.txt\", outputs: [gen.txt]}\n"
  "  - {id: b, title: B, prompt: \"TASK-B\", outputs: [], retries: 0}\n"), "-j", "2", "--run-id", "cb"}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  std::string detail = Status("cb")["tasks"][1]["attempt_details"][0]["detail"];
  EXPECT_NE(detail.find("gen.txt (also changed by task 'gen')"), std::string::npos) << detail;
  EXPECT_EQ(*ReadFile(Out("cb") + "/gen.txt"), "generated\n");
}

TEST_F(AgentRunTest, AKeyGivenWithSetBeatsPorchLlmApiKeyForTheAgentsToo) {
  server_ = std::make_unique<FakeLlmServer>(server_dir_.path(), AgentWritesFile("TASK-K", "k.txt", "k"),
                                            std::vector<std::string>{"--api-key", "sk-new"});
  ASSERT_TRUE(server_->ok());
  auto env = Env();
  env["ANTHROPIC_API_KEY"] = "";
  env["PORCH_LLM_API_KEY"] = "sk-old";
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile("tasks:\n  - {id: k, prompt: TASK-K, outputs: [k.txt]}\n"),
                                      "--run-id", "flagkey", "--set", "llm.api_key=sk-new"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const json& p : server_->Posts()) EXPECT_EQ(p["headers"]["x-api-key"], "sk-new");
}

TEST_F(AgentRunTest, AResumedRunKeepsTheEndpointItWasStartedWith) {
  // Started with --set llm.base_url (a flag beats ANTHROPIC_BASE_URL); the
  // resume, in the same shell, must not fall back to the environment's.
  Serve({Rule("TASK-R", Write("r.txt", "r\n"))});
  auto env = Env();
  env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9";  // nothing there
  const std::string gate = dir_.path() + "/open";
  PorchRun first = RunPorch(dir_.path(), {"run", "--plan", PlanFile(
      "tasks:\n  - {id: gate, command: 'test -f " + gate + "', retries: 0}\n"
      "  - {id: r, prompt: TASK-R, outputs: [r.txt], depends_on: [gate], retries: 0}\n"),
      "--run-id", "res", "--set", "llm.base_url=" + server_->url()}, env);
  ASSERT_EQ(first.exit_code, 1) << first.out << first.err;
  ASSERT_TRUE(WriteFileAtomic(gate, "").ok());
  PorchRun resumed = RunPorch(dir_.path(), {"resume", "res"}, env);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  EXPECT_EQ(*ReadFile(Out("res") + "/r.txt"), "r\n");
  EXPECT_EQ(server_->Posts().size(), 2u);  // the task's turns went to the endpoint it was given
}

TEST_F(AgentRunTest, KeepLaterPolicyKeepsTheLaterVersionAndRecordsIt) {
  Serve({Rule("TASK-A", Write("shared.txt", "from a\n", AfterRequest("TASK-B"))),
         Rule("TASK-B", Write("shared.txt", "from b\n", AfterFile(Out("c2") + "/shared.txt")))});
  PorchRun r = RunPorch(dir_.path(), {"run", "--plan", PlanFile(kTwoWriters), "-j", "2", "--run-id", "c2",
                                      "--set", "merge.conflict_policy=keep-later"}, Env());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(Out("c2") + "/shared.txt"), "from b\n");
  json conflicts = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/c2/conflicts.json"));
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0]["task"], "b");
  // Each merged task is a commit authored by its id.
  Result<ProcessResult> log = RunProcess({"git", "log", "--format=%an"}, Out("c2"));
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->output.find("a\n"), std::string::npos) << log->output;
  EXPECT_NE(log->output.find("b\n"), std::string::npos) << log->output;
}

TEST_F(AgentRunTest, BudgetStopsNewAgentWork) {
  Serve({Rule("TASK-", Write("x.txt", "x"))});
  PorchRun r = RunPorch(dir_.path(),
                        {"run", "--plan",
                         PlanFile("tasks:\n  - {id: a, prompt: TASK-A, outputs: [x.txt]}\n"
                                  "  - {id: b, prompt: TASK-B, outputs: [], depends_on: [a]}\n"),
                         "-j", "1", "--run-id", "bud", "--budget", "0.000001"},
                        Env());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("budget exhausted"), std::string::npos) << r.out;
  json s = Status("bud");
  EXPECT_EQ(s["tasks"][0]["state"], "succeeded");
  EXPECT_EQ(s["tasks"][1]["state"], "pending");
  EXPECT_GT(s["run"]["cost_usd"].get<double>(), 0);
  EXPECT_GT(s["tasks"][0]["tokens"].get<int>(), 0);
}

TEST_F(AgentRunTest, PlannedCProjectIsBuiltAndTestedByItsIntegrationTask) {
  auto task = [](const char* id, const char* prompt, std::vector<std::string> deps, std::string out) {
    return json{{"id", id}, {"title", prompt}, {"prompt", prompt}, {"depends_on", deps}, {"outputs", {out}}};
  };
  json plan = {{"tasks", json::array({task("header", "WRITE-HEADER", {}, "include/mathx.h"),
                                      task("add", "WRITE-ADD", {"header"}, "src/add.c"),
                                      task("mul", "WRITE-MUL", {"header"}, "src/mul.c"),
                                      task("cli", "WRITE-MAIN", {"header"}, "src/main.c"),
                                      task("tests", "WRITE-TESTS", {"header"}, "tests/test.c"),
                                      task("build", "WRITE-MAKEFILE", {}, "Makefile")})},
               {"test_command", "make test"}};
  Serve({Rule("How complex", {{"tool_use", {{"name", "report_complexity"},
                                            {"input", {{"score", 5}, {"rationale", "a small C library"}, {"recommended_tasks", 6}}}}}}),
         Rule("Plan it as", {{"tool_use", {{"name", "submit_plan"}, {"input", plan}}}}),
         Rule("WRITE-HEADER", Write("include/mathx.h", "#pragma once\nint mathx_add(int, int);\nint mathx_mul(int, int);\n")),
         Rule("WRITE-ADD", Write("src/add.c", "#include \"mathx.h\"\nint mathx_add(int a, int b) { return a + b; }\n")),
         Rule("WRITE-MUL", Write("src/mul.c", "#include \"mathx.h\"\nint mathx_mul(int a, int b) { return a * b; }\n")),
         Rule("WRITE-MAIN", Write("src/main.c", "#include <stdio.h>\n#include \"mathx.h\"\nint main(void) { printf(\"%d\\n\", mathx_add(2, mathx_mul(3, 4))); return 0; }\n")),
         Rule("WRITE-TESTS", Write("tests/test.c", "#include <assert.h>\n#include \"mathx.h\"\nint main(void) { assert(mathx_add(2, 3) == 5); assert(mathx_mul(4, 5) == 20); return 0; }\n")),
         Rule("WRITE-MAKEFILE", Write("Makefile",
              "CFLAGS = -Wall -Werror -Iinclude\n"
              "mathx: src/main.c src/add.c src/mul.c\n\tcc $(CFLAGS) -o $@ $^\n"
              "tests/run: tests/test.c src/add.c src/mul.c\n\tcc $(CFLAGS) -o $@ $^\n"
              "test: mathx tests/run\n\t./tests/run && ./mathx > result.txt && echo tests passed\n"))});
  PorchRun r = RunPorch(dir_.path(), {"run", "Build a tiny C math library with a CLI and tests", "-j", "3", "--run-id", "e2e"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json s = Status("e2e");
  EXPECT_EQ(s["run"]["succeeded"], 7);  // six planned tasks + the integration task
  EXPECT_EQ(s["tasks"][6]["id"], "integration");
  EXPECT_EQ(*ReadFile(Out("e2e") + "/result.txt"), "14\n");
  Result<std::string> integration = ReadFile(dir_.path() + "/porch-runs/runs/e2e/tasks/integration/attempt-1/stdout");
  ASSERT_TRUE(integration.ok());
  EXPECT_NE(integration->find("tests passed"), std::string::npos);
  Result<ProcessResult> log = RunProcess({"git", "log", "--format=%an"}, Out("e2e"));
  ASSERT_TRUE(log.ok());
  int commits = 0;
  for (char c : log->output) commits += c == '\n';
  EXPECT_EQ(commits, 7);  // the integration command too: isolated, beside AI tasks, it is merged
  EXPECT_GT(s["run"]["cost_usd"].get<double>(), 0);
  // Planning is part of the run's usage: the run's total is the planner's
  // plus every task's.
  const int64_t planner = s["run"]["planner_tokens"].get<int64_t>();
  EXPECT_GT(planner, 0);
  int64_t tasks = 0;
  for (const json& t : s["tasks"]) tasks += t["tokens"].get<int64_t>();
  EXPECT_EQ(s["run"]["tokens"].get<int64_t>(), planner + tasks);
  EXPECT_GT(s["run"]["planner_cost_usd"].get<double>(), 0);
}

TEST_F(AgentRunTest, ThePlannersSpendingCountsAgainstTheBudget) {
  json plan = {{"tasks", json::array({{{"id", "a"}, {"title", "A"}, {"prompt", "TASK-A"},
                                       {"depends_on", json::array()}, {"outputs", {"a.txt"}}}})}};
  Serve({Rule("How complex", {{"tool_use", {{"name", "report_complexity"},
                                            {"input", {{"score", 1}, {"rationale", "tiny"}, {"recommended_tasks", 1}}}}}}),
         Rule("Plan it as", {{"tool_use", {{"name", "submit_plan"}, {"input", plan}}}}),
         Rule("TASK-A", Write("a.txt", "a"))});
  // A budget smaller than planning alone costs: no agent may start.
  PorchRun r = RunPorch(dir_.path(), {"run", "Write a.txt", "--run-id", "pb", "--budget", "0.000001"}, Env());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("budget exhausted"), std::string::npos) << r.out;
  json s = Status("pb");
  EXPECT_EQ(s["tasks"][0]["state"], "pending");
  EXPECT_GT(s["run"]["planner_tokens"].get<int64_t>(), 0);
}

// merge.isolate_commands: command tasks work in a workspace of their own and
// reach output/ only through the merge, with the AI tasks' rules.
class IsolatedCommandsTest : public ::testing::Test {
 protected:
  PorchRun Run(const std::string& id, const std::string& yaml) {
    const std::string plan = dir_.path() + "/" + id + ".yaml";
    EXPECT_TRUE(WriteFileAtomic(plan, yaml).ok());
    return RunPorch(dir_.path(), {"run", "--plan", plan, "-j", "2", "--run-id", id, "--set",
                                  "merge.isolate_commands=true"});
  }
  json Status(const std::string& id) { return json::parse(RunPorch(dir_.path(), {"status", id, "--json"}).out); }
  std::string RunDir(const std::string& id) { return dir_.path() + "/porch-runs/runs/" + id; }
  TempDir dir_;
};

// Each of two tasks waits until the other has started (so both were seeded
// with the same output/) before it writes.
// A seed task, then two that each wait until the other has started (so
// both were seeded with the same output/) before running their command.
std::string SeedThenTwo(const std::string& seed, const std::string& a, const std::string& b,
                        const std::string& extra = "") {
  const std::string wait =
      "touch $PORCH_RUN_DIR/$PORCH_TASK_ID.go; for i in $(seq 600); do [ $(ls $PORCH_RUN_DIR/*.go | wc -l) -ge 2 ] "
      "&& break; sleep 0.05; done; ";
  return "tasks:\n  - {id: seed, command: \"" + seed + "\"}\n"
         "  - {id: a, command: \"" + wait + a + "\", depends_on: [seed]" + extra + "}\n"
         "  - {id: b, command: \"" + wait + b + "\", depends_on: [seed]" + extra + "}\n";
}

TEST_F(IsolatedCommandsTest, EditsToDifferentLinesOfOneFileBothLand) {
  PorchRun r = Run("lines", SeedThenTwo("printf 'one\\\\ntwo\\\\nthree\\\\nfour\\\\nfive\\\\n' > f.txt",
                                       "sed -i s/one/ONE/ f.txt", "sed -i s/five/FIVE/ f.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(RunDir("lines") + "/output/f.txt"), "ONE\ntwo\nthree\nfour\nFIVE\n");
  // The later of the two was merged three ways, and that is on record.
  json cases = json::parse(*ReadFile(RunDir("lines") + "/conflicts.json"));
  ASSERT_EQ(cases.size(), 1u) << cases.dump();
  EXPECT_EQ(cases[0]["files"][0].get<std::string>().rfind("f.txt (also changed by task '", 0), 0u) << cases.dump();
  EXPECT_EQ(cases[0]["resolution"], "three-way");
  EXPECT_NE(cases[0]["task"], cases[0]["with"][0]);
  // The commands never wrote output/ themselves: each worked in its workspace.
  EXPECT_TRUE(PathExists(RunDir("lines") + "/tasks/a/attempt-1/workspace/f.txt"));
  json owners = json::parse(*ReadFile(RunDir("lines") + "/merge.json"));
  EXPECT_TRUE(owners["f.txt"]["task"] == "a" || owners["f.txt"]["task"] == "b") << owners.dump();
  // One commit per merged task, authored by the task.
  Result<ProcessResult> log = RunProcess({"git", "log", "--format=%an"}, RunDir("lines") + "/output");
  ASSERT_TRUE(log.ok());
  for (const char* task : {"seed\n", "a\n", "b\n"}) EXPECT_NE(log->output.find(task), std::string::npos) << log->output;
}

TEST_F(IsolatedCommandsTest, OverlappingWritesAreAConflictNamingBothTasks) {
  PorchRun r = Run("clash", SeedThenTwo("echo base > f.txt", "echo A > f.txt", "echo B > f.txt", ", retries: 0"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json s = Status("clash");
  int failed = 0;
  std::string winner, loser;
  for (const json& t : s["tasks"]) {
    if (t["id"] == "seed") continue;
    if (t["state"] == "failed") {
      ++failed;
      loser = t["id"];
      EXPECT_EQ(t["attempt_details"][0]["outcome"], "conflict") << t.dump();
    } else {
      winner = t["id"];
    }
  }
  ASSERT_EQ(failed, 1) << s.dump();
  // What the loser wrote never reached output/.
  EXPECT_EQ(*ReadFile(RunDir("clash") + "/output/f.txt"), (winner == "a" ? "A\n" : "B\n"));
  json cases = json::parse(*ReadFile(RunDir("clash") + "/conflicts.json"));
  ASSERT_EQ(cases.size(), 1u) << cases.dump();
  EXPECT_EQ(cases[0]["task"], loser);
  EXPECT_EQ(cases[0]["with"], json::array({winner}));
}

TEST_F(IsolatedCommandsTest, ALinkACommandMakesNeverLeadsOutsideTheRun) {
  // Links are not merged (regular files only), so the next task finds no
  // link to write through, whatever the first one made.
  TempDir outside;
  PorchRun r = Run("link", "tasks:\n"
      "  - {id: a, command: \"ln -s " + outside.path() + " dlink\", retries: 0}\n"
      "  - {id: b, command: \"mkdir -p dlink && echo pwned > dlink/pwned.txt\", depends_on: [a]}\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  Result<std::vector<std::string>> left = ListDir(outside.path());
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << "something was written outside the run";
  struct stat st;
  ASSERT_EQ(lstat((RunDir("link") + "/output/dlink").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode)) << "b's own directory, not a's link";
  EXPECT_EQ(*ReadFile(RunDir("link") + "/output/dlink/pwned.txt"), "pwned\n");
}

}  // namespace
}  // namespace porch
