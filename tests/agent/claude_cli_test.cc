// The real Claude Code CLI (installed by scripts/install-claude-code.sh)
// against the project's fake API server: proves the fake speaks the Messages
// API faithfully enough for a real client. Skips with a reason when the CLI
// is not installed; CI installs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_llm_server.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

std::string ClaudeBinary() {
  const char* env = getenv("PORCH_CLAUDE_BIN");
  if (env && *env) return env;
  return std::string(PORCH_SOURCE_DIR) + "/.deps/claude-code/node_modules/.bin/claude";
}

TEST(ClaudeCliTest, CompletesASessionThatWritesFiles) {
  std::string claude = ClaudeBinary();
  if (access(claude.c_str(), X_OK) != 0) {
    PORCH_SKIP_OR_FAIL("Claude Code CLI not installed at " << claude
                 << " (run scripts/install-claude-code.sh)");
  }
  TempDir dir;
  std::string work = dir.path() + "/work", home = dir.path() + "/home";
  EXPECT_TRUE(MakeDirs(work).ok());
  EXPECT_TRUE(MakeDirs(home).ok());
  json rules = {
      {{"match", "Wrote notes.md"}, {"responses", {{{"text", "Both files are written."}}}}},
      {{"match", "File created"},
       {"responses",
        {{{"tool_use", {{"name", "Write"}, {"input", {{"file_path", work + "/notes.md"}, {"content", "# notes\n"}}}}}}}},
       {"once", true}},
      {{"match", "PORCH-CLI-TEST"},
       {"responses",
        {{{"tool_use",
           {{"name", "Write"}, {"input", {{"file_path", work + "/hello.txt"}, {"content", "hello\n"}}}}}}}}}};
  // After the second Write, Claude Code reports "File created ... notes.md":
  // answer that with the final text.
  rules[0]["match"] = "notes.md";
  FakeLlmServer server(dir.path(), json{{"rules", rules}});
  ASSERT_TRUE(server.ok());
  std::string cmd = "cd '" + work + "' && HOME='" + home + "' ANTHROPIC_BASE_URL=" + server.url() +
                    " ANTHROPIC_API_KEY=dummy CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"
                    " CLAUDE_CODE_MAX_RETRIES=0 timeout 120 '" + claude +
                    "' -p 'PORCH-CLI-TEST: write two files' --output-format json"
                    " --permission-mode acceptEdits --no-session-persistence < /dev/null > '" +
                    dir.path() + "/result.json' 2> '" + dir.path() + "/stderr.txt'";
  int rc = system(cmd.c_str());
  Result<std::string> out = ReadFile(dir.path() + "/result.json");
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(WEXITSTATUS(rc), 0) << *out << *ReadFile(dir.path() + "/stderr.txt");
  json result = json::parse(*out);
  EXPECT_EQ(result["type"], "result");
  EXPECT_EQ(result["is_error"], false);
  EXPECT_EQ(result["result"], "Both files are written.");
  EXPECT_EQ(result["num_turns"], 3);
  EXPECT_TRUE(result["permission_denials"].empty());
  EXPECT_GT(result["usage"]["output_tokens"].get<int>(), 0);
  EXPECT_EQ(*ReadFile(work + "/hello.txt"), "hello\n");
  EXPECT_EQ(*ReadFile(work + "/notes.md"), "# notes\n");
  // It streamed, sent the API version, and every tool_result matched a tool_use
  // (the fake rejects anything else).
  auto posts = server.Posts();
  ASSERT_EQ(posts.size(), 3u);
  for (const json& p : posts) {
    EXPECT_EQ(p["headers"]["anthropic-version"], "2023-06-01");
    EXPECT_EQ(p["body"]["stream"], true);
  }
}

}  // namespace
}  // namespace porch

// porch's Claude Code executor, driving the real CLI through `porch run`.
#include "integration/porch_process.h"

namespace porch {
namespace {

class ClaudeCliExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    claude_ = ClaudeBinary();
    if (access(claude_.c_str(), X_OK) != 0) {
      PORCH_SKIP_OR_FAIL("Claude Code CLI not installed at " << claude_
                   << " (run scripts/install-claude-code.sh)");
    }
  }
  void Serve(json rules) {
    server_ = std::make_unique<FakeLlmServer>(server_dir_.path(), json{{"rules", rules}});
    ASSERT_TRUE(server_->ok());
  }
  // Absolute path of `rel` in the workspace of the task's first attempt.
  std::string InWorkspace(const std::string& run, const std::string& task, const std::string& rel) {
    return dir_.path() + "/porch-runs/runs/" + run + "/tasks/" + task + "/attempt-1/workspace/" + rel;
  }
  PorchRun Run(const std::string& run, const std::string& plan, std::vector<std::string> extra = {}) {
    std::string path = dir_.path() + "/" + run + ".yaml";
    EXPECT_TRUE(WriteFileAtomic(path, plan).ok());
    std::vector<std::string> args = {"run", "--plan", path, "--run-id", run, "--set",
                                     "agent.claude_path=" + claude_};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunPorch(dir_.path(), args,
                    {{"ANTHROPIC_API_KEY", "dummy"}, {"ANTHROPIC_BASE_URL", server_->url()},
                     {"CLAUDE_CODE_MAX_RETRIES", "0"}, {"PORCH_AGENT_EXECUTOR", "claude-cli"}});
  }
  json Task0(const std::string& run) {
    return json::parse(RunPorch(dir_.path(), {"status", run, "--json"}).out)["tasks"][0];
  }
  std::string claude_;
  TempDir dir_, server_dir_;
  std::unique_ptr<FakeLlmServer> server_;
};

json WriteTool(const std::string& path, const std::string& content) {
  return {{"tool_use", {{"name", "Write"}, {"input", {{"file_path", path}, {"content", content}}}}}};
}

TEST_F(ClaudeCliExecutorTest, WritesTwoFilesOverSeveralTurnsAndReportsCost) {
  json rules = json::array();
  rules.push_back({{"match", "b.txt"}, {"responses", json::array({{{"text", "All written."}}})}});
  rules.push_back({{"match", "a.txt"},
                   {"responses", json::array({WriteTool(InWorkspace("w", "t", "b.txt"), "B\n")})}});
  rules.push_back({{"match", "CLI-TASK"},
                   {"responses", json::array({WriteTool(InWorkspace("w", "t", "a.txt"), "A\n")})}});
  Serve(rules);
  PorchRun r = Run("w", "tasks:\n  - {id: t, title: T, prompt: CLI-TASK, outputs: [a.txt, b.txt]}\n");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string out = dir_.path() + "/porch-runs/runs/w/output";
  EXPECT_EQ(*ReadFile(out + "/a.txt"), "A\n");
  EXPECT_EQ(*ReadFile(out + "/b.txt"), "B\n");
  json t = Task0("w");
  EXPECT_GT(t["cost_usd"].get<double>(), 0);
  EXPECT_GT(t["tokens"].get<int>(), 0);
  // The CLI got porch's context and ran with a per-run HOME.
  std::string system = server_->Posts()[0]["body"]["system"].dump();
  EXPECT_NE(system.find("Your task is 't'"), std::string::npos);
  EXPECT_TRUE(IsDirectory(dir_.path() + "/porch-runs/runs/w/.agent-home"));
  // Live progress was followed from the event stream.
  json progress = json::parse(*ReadFile(dir_.path() + "/porch-runs/runs/w/tasks/t/attempt-1/progress.json"));
  EXPECT_EQ(progress["turns"], 3);
  EXPECT_EQ(progress["last_tool"], "Write");
}

TEST_F(ClaudeCliExecutorTest, PermissionDenialIsAFailure) {
  json bash = {{"tool_use",
                {{"name", "Bash"},
                 {"input", {{"command", "curl -s http://127.0.0.1:9/ > x"}, {"description", "fetch"}}}}}};
  Serve({{{"match", "CLI-DENY"}, {"responses", json::array({bash})}, {"once", true}},
         {{"responses", {{{"text", "Gave up."}}}}}});
  PorchRun r = Run("deny", "tasks:\n  - {id: t, prompt: CLI-DENY, outputs: [x]}\n");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json t = Task0("deny");
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "permission_denied");
  EXPECT_NE(t["attempt_details"][0]["detail"].get<std::string>().find("Bash"), std::string::npos);
  EXPECT_EQ(t["attempts"], 1);  // not retried
}

TEST_F(ClaudeCliExecutorTest, MaxTurnsIsAFailure) {
  Serve(json::array(
      {{{"responses", json::array({WriteTool(InWorkspace("turns", "t", "loop.txt"), "again\n")})}}}));
  PorchRun r = Run("turns", "tasks:\n  - {id: t, prompt: CLI-LOOP, outputs: [loop.txt]}\n",
                   {"--set", "agent.max_turns=2"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json t = Task0("turns");
  EXPECT_EQ(t["attempt_details"][0]["outcome"], "max_turns");
  EXPECT_EQ(t["attempts"], 1);
}

TEST_F(ClaudeCliExecutorTest, OverloadThatExhaustsRetriesIsAnAgentError) {
  Serve({{{"responses", {{{"status", 529}}}}}});
  PorchRun r = Run("busy", "tasks:\n  - {id: t, prompt: CLI-BUSY, outputs: [x], retries: 1}\n",
                   {"--set", "retry.retry_delay_seconds=0.05"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  json t = Task0("busy");
  EXPECT_EQ(t["attempts"], 2);  // an agent error is retried per policy
  EXPECT_EQ(t["attempt_details"][1]["outcome"], "agent_error");
  EXPECT_NE(t["attempt_details"][1]["detail"].get<std::string>().find("529"), std::string::npos)
      << t["attempt_details"][1]["detail"];
}

}  // namespace
}  // namespace porch
