// The real Claude Code CLI (installed by scripts/install-claude-code.sh)
// against the project's fake API server: proves the fake speaks the Messages
// API faithfully enough for a real client. Skips with a reason when the CLI
// is not installed; CI installs it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_llm_server.h"
#include "integration/agent_matrix.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

TEST(ClaudeCliTest, CompletesASessionThatWritesFiles) {
  std::string claude = ClaudeTestBinary();
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
#include "platform/process.h"

namespace porch {
namespace {

json WriteTool(const std::string& path, const std::string& content) {
  return {{"tool_use", {{"name", "Write"}, {"input", {{"file_path", path}, {"content", content}}}}}};
}

class ClaudeCliExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    claude_ = ClaudeTestBinary();
    if (access(claude_.c_str(), X_OK) != 0) {
      PORCH_SKIP_OR_FAIL("Claude Code CLI not installed at " << claude_
                   << " (run scripts/install-claude-code.sh)");
    }
  }
  void Serve(json rules, std::vector<std::string> args = {}) {
    server_ = std::make_unique<FakeLlmServer>(server_dir_.path(), json{{"rules", rules}}, args);
    ASSERT_TRUE(server_->ok());
  }
  // One task that writes hello.txt in one turn.
  json HelloRules(const std::string& run) {
    return json::array({{{"match", "hello.txt"}, {"responses", json::array({{{"text", "Done."}}})}},
                        {{"match", "CLI-HELLO"},
                         {"responses", json::array({WriteTool(InWorkspace(run, "t", "hello.txt"), "hi\n")})}}});
  }
  PorchRun RunWith(const std::string& run, std::map<std::string, std::string> env,
                   std::vector<std::string> extra = {}) {
    std::string path = dir_.path() + "/" + run + ".yaml";
    EXPECT_TRUE(WriteFileAtomic(path, "tasks:\n  - {id: t, prompt: CLI-HELLO, outputs: [hello.txt], retries: 0}\n").ok());
    std::vector<std::string> args = {"run", "--plan", path, "--run-id", run, "--set",
                                     "agent.claude_path=" + claude_};
    args.insert(args.end(), extra.begin(), extra.end());
    env["CLAUDE_CODE_MAX_RETRIES"] = "0";
    env["PORCH_AGENT_EXECUTOR"] = "claude-cli";
    return RunPorch(dir_.path(), args, env);
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

TEST_F(ClaudeCliExecutorTest, AKeyOnlyInTheConfigFileReachesTheCli) {
  Serve(HelloRules("yaml-key"), {"--api-key", "sk-from-porch-yaml"});
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/porch.yaml",
                              "llm:\n  api_key: sk-from-porch-yaml\n  base_url: " + server_->url() + "\n")
                  .ok());
  PorchRun r = RunWith("yaml-key", {{"ANTHROPIC_API_KEY", ""}, {"ANTHROPIC_BASE_URL", ""}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(dir_.path() + "/porch-runs/runs/yaml-key/output/hello.txt"), "hi\n");
  for (const json& p : server_->Posts()) EXPECT_EQ(p["headers"]["x-api-key"], "sk-from-porch-yaml");
  // Never written into the run directory.
  Result<ProcessResult> grep = RunProcess({"grep", "-rl", "sk-from-porch-yaml", dir_.path() + "/porch-runs"}, dir_.path());
  ASSERT_TRUE(grep.ok());
  EXPECT_EQ(grep->output, "") << grep->output;
}

TEST_F(ClaudeCliExecutorTest, ThePromptPlanSucceedsLocallyWithEveryKeySourceForBothExecutors) {
  AgentMatrix matrix(dir_.path(), "agent.claude_path=" + claude_);
  matrix.RunAll({}, "local-", {KeyWay::kAnthropicEnv, KeyWay::kPorchEnv, KeyWay::kPorchYaml, KeyWay::kKeyFile});
}

TEST_F(ClaudeCliExecutorTest, PorchLlmApiKeyWinsOverAnthropicApiKeyForTheCliToo) {
  Serve(HelloRules("env-key"), {"--api-key", "sk-porch"});
  PorchRun r = RunWith("env-key", {{"ANTHROPIC_API_KEY", "sk-stale"}, {"PORCH_LLM_API_KEY", "sk-porch"},
                                   {"ANTHROPIC_BASE_URL", server_->url()}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const json& p : server_->Posts()) EXPECT_EQ(p["headers"]["x-api-key"], "sk-porch");
}

TEST_F(ClaudeCliExecutorTest, BedrockCredentialsOnlyInAnAwsProfileFileReachTheCli) {
  Serve(HelloRules("profile"));
  ASSERT_TRUE(MakeDirs(dir_.path() + "/home/.aws").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/home/.aws/credentials",
                              "[default]\naws_access_key_id = AKIDFROMPROFILE\n"
                              "aws_secret_access_key = profile-secret\n").ok());
  PorchRun r = RunWith("profile", {{"HOME", dir_.path() + "/home"}, {"AWS_ACCESS_KEY_ID", ""},
                                   {"AWS_SECRET_ACCESS_KEY", ""}, {"AWS_PROFILE", "default"},
                                   {"ANTHROPIC_API_KEY", ""},
                                   {"PORCH_LLM_BEDROCK_ENDPOINT", server_->url()}},
                       {"--use-bedrock"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(*ReadFile(dir_.path() + "/porch-runs/runs/profile/output/hello.txt"), "hi\n");
  auto posts = server_->Posts();
  ASSERT_FALSE(posts.empty());
  int task_turns = 0;
  for (const json& p : posts) {
    std::string auth = p["headers"].value("authorization", "");
    EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDFROMPROFILE/", 0), 0u) << auth;
    // The agent's own turns use the configured Bedrock model
    // (llm.bedrock_model); the CLI also probes models of its own choosing.
    if (p["body"].dump().find("CLI-HELLO") == std::string::npos) continue;
    ++task_turns;
    EXPECT_NE(p["path"].get<std::string>().find("global.anthropic.claude-sonnet-4-5"), std::string::npos)
        << p["path"];
  }
  EXPECT_GT(task_turns, 0);
}

TEST_F(ClaudeCliExecutorTest, BedrockCredentialsFromInstanceMetadataReachBothExecutors) {
  // No keys in the environment or in profile files: an EC2 instance's role,
  // from its metadata service (the fake answers as one, IMDSv2).
  json rules = HelloRules("imds-cli");
  rules.push_back({{"match", "IMDS-API"},
                   {"responses", json::array({{{"tool_use", {{"name", "write_file"},
                                                             {"input", {{"path", "hello.txt"}, {"content", "hi\n"}}}}}}})}});
  rules.insert(rules.begin(), json{{"match", "wrote "}, {"responses", json::array({{{"text", "Done."}}})}});
  Serve(rules, {"--imds-role", "porch-test-role"});
  ASSERT_TRUE(MakeDirs(dir_.path() + "/empty-home").ok());
  std::map<std::string, std::string> env = {
      {"HOME", dir_.path() + "/empty-home"}, {"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""},
      {"AWS_PROFILE", ""}, {"ANTHROPIC_API_KEY", ""}, {"AWS_EC2_METADATA_SERVICE_ENDPOINT", server_->url()},
      {"PORCH_LLM_BEDROCK_ENDPOINT", server_->url()}};
  PorchRun cli = RunWith("imds-cli", env, {"--use-bedrock"});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  const std::string plan = dir_.path() + "/imds-api.yaml";
  ASSERT_TRUE(WriteFileAtomic(plan, "tasks:\n  - {id: t, prompt: IMDS-API, outputs: [hello.txt], retries: 0}\n").ok());
  env["PORCH_AGENT_EXECUTOR"] = "api";
  PorchRun api = RunPorch(dir_.path(), {"run", "--plan", plan, "--run-id", "imds-api", "--use-bedrock"}, env);
  ASSERT_EQ(api.exit_code, 0) << api.out << api.err;
  for (const char* run : {"imds-cli", "imds-api"}) {
    EXPECT_EQ(*ReadFile(dir_.path() + "/porch-runs/runs/" + run + "/output/hello.txt"), "hi\n") << run;
  }
  int signed_turns = 0, token_gets = 0;
  for (const json& r : server_->Requests()) {
    const std::string path = r["path"];
    if (path.rfind("/latest/meta-data/iam/security-credentials/", 0) == 0) ++token_gets;
    if (r["method"] != "POST" || path.rfind("/model/", 0) != 0) continue;
    ++signed_turns;
    std::string auth = r["headers"].value("authorization", "");
    EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=ASIAFAKEIMDS/", 0), 0u) << auth;
    EXPECT_EQ(r["headers"].value("x-amz-security-token", ""), "imds-session-token");
  }
  EXPECT_GE(signed_turns, 4);  // two turns per run, at least
  EXPECT_GE(token_gets, 2);    // each agent asked the service itself
  // The role's keys were never written into the runs.
  Result<ProcessResult> grep = RunProcess({"grep", "-rl", "imds-secret", dir_.path() + "/porch-runs"}, dir_.path());
  ASSERT_TRUE(grep.ok());
  EXPECT_EQ(grep->output, "");
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
  EXPECT_TRUE(IsDirectory(dir_.path() + "/porch-runs/runs/w/tasks/t/attempt-1/.agent-home"));  // its own
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
