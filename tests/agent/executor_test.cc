// Executors and the attempt runner for AI tasks, against the fake LLM server.
#include "agent/api_agent.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/tree.h"
#include "exec/attempt.h"
#include "fakes/fake_llm_server.h"
#include "llm/anthropic_client.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

json Write(const std::string& path, const std::string& content) {
  return {{"tool_use", {{"name", "write_file"}, {"input", {{"path", path}, {"content", content}}}}}};
}

TEST(WorkspaceTest, PathsAreConfined) {
  TempDir dir;
  std::string ws = dir.path() + "/ws";
  EXPECT_TRUE(MakeDirs(ws + "/src").ok());
  ASSERT_EQ(symlink("/etc", (ws + "/etc-link").c_str()), 0);
  ASSERT_EQ(symlink("/nonexistent/target", (ws + "/dangling").c_str()), 0);
  EXPECT_TRUE(ResolveInWorkspace(ws, "src/a.c").ok());
  EXPECT_TRUE(ResolveInWorkspace(ws, "new/dir/b.c").ok());
  EXPECT_NE(ResolveInWorkspace(ws, "../escape").status().message().find("'..' is not allowed"),
            std::string::npos);
  EXPECT_NE(ResolveInWorkspace(ws, "src/../../x").status().message().find("'..'"), std::string::npos);
  EXPECT_NE(ResolveInWorkspace(ws, "/etc/passwd").status().message().find("is absolute"),
            std::string::npos);
  EXPECT_NE(ResolveInWorkspace(ws, "etc-link/passwd").status().message().find("outside"),
            std::string::npos);
  EXPECT_NE(ResolveInWorkspace(ws, "dangling").status().message().find("outside"), std::string::npos);
}

TEST(WorkspaceTest, ToolsRefuseEscapesAndReportThemAsErrors) {
  TempDir dir;
  std::string ws = dir.path() + "/ws";
  EXPECT_TRUE(MakeDirs(ws).ok());
  ASSERT_EQ(symlink(dir.path().c_str(), (ws + "/up").c_str()), 0);
  bool cancelled = false;
  AgentSettings no_command;
  auto [ok, ok_err] = ApiAgentExecutor::CallTool(ws, "write_file", {{"path", "src/a.c"}, {"content", "int x;"}}, no_command, &cancelled);
  EXPECT_FALSE(ok_err) << ok;
  EXPECT_EQ(*ReadFile(ws + "/src/a.c"), "int x;");
  for (const char* bad : {"../escape.txt", "/etc/passwd", "up/escape.txt"}) {
    auto [msg, is_error] = ApiAgentExecutor::CallTool(ws, "write_file", {{"path", bad}, {"content", "x"}}, no_command, &cancelled);
    EXPECT_TRUE(is_error) << bad;
    EXPECT_EQ(msg.rfind("refused: ", 0), 0u) << msg;
  }
  EXPECT_FALSE(PathExists(dir.path() + "/escape.txt"));
  auto [passwd, read_err] = ApiAgentExecutor::CallTool(ws, "read_file", {{"path", "/etc/passwd"}}, no_command, &cancelled);
  EXPECT_TRUE(read_err);
  auto [listing, list_err] = ApiAgentExecutor::CallTool(ws, "list_files", json::object(), no_command, &cancelled);
  EXPECT_FALSE(list_err);
  EXPECT_NE(listing.find("src/a.c"), std::string::npos);
  auto [cmd, cmd_err] = ApiAgentExecutor::CallTool(ws, "run_command", {{"command", "true"}}, no_command, &cancelled);
  EXPECT_TRUE(cmd_err);  // off unless agent.run_command_tool
  EXPECT_NE(cmd.find("unknown tool"), std::string::npos);
}

TEST(WorkspaceTest, SeedAndChanges) {
  TempDir dir;
  EXPECT_TRUE(MakeDirs(dir.path() + "/out/.git").ok());
  EXPECT_TRUE(WriteFileAtomic(dir.path() + "/out/a.txt", "a").ok());
  EXPECT_TRUE(WriteFileAtomic(dir.path() + "/out/.git/config", "x").ok());
  auto seed = SeedWorkspace(dir.path() + "/out", dir.path() + "/ws");
  ASSERT_TRUE(seed.ok());
  EXPECT_EQ(seed->size(), 1u);
  EXPECT_FALSE(PathExists(dir.path() + "/ws/.git"));
  EXPECT_TRUE(WriteFileAtomic(dir.path() + "/ws/a.txt", "changed").ok());
  EXPECT_TRUE(WriteFileAtomic(dir.path() + "/ws/b.txt", "new").ok());
  auto now = DigestTree(dir.path() + "/ws");
  std::vector<FileDigest> changed = ChangedFiles(*seed, *now);
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].path, "a.txt");
  EXPECT_EQ(changed[1].path, "b.txt");
}

class AgentAttemptTest : public ::testing::Test {
 protected:
  void Serve(json rules) {
    server_ = std::make_unique<FakeLlmServer>(dir_.path(), json{{"rules", rules}});
    ASSERT_TRUE(server_->ok());
  }
  AttemptSpec Spec(const std::string& prompt) {
    Plan plan;
    Task t;
    t.id = "t";
    t.prompt = prompt;
    t.outputs = {"answer.txt"};
    t.outputs_declared = true;
    plan.tasks.push_back(t);
    Config config;
    config.agent.executor = "api";
    config.llm.base_url = server_->url();
    config.llm.retry_base_seconds = 0.05;
    RunLayout layout(dir_.path() + "/run");
    EXPECT_TRUE(MakeDirs(layout.output()).ok());
    EXPECT_TRUE(MakeDirs(layout.attempt_dir("t", 1)).ok());
    // The agent gets porch's environment through its settings, not getenv.
    std::map<std::string, std::string> env = CurrentEnvironment();
    env["ANTHROPIC_API_KEY"] = "sk-test";
    return MakeAttemptSpec(layout, plan, plan.tasks[0], 1, 60, config, env);
  }
  AttemptResult Run(const AttemptSpec& spec) {
    pid_t pid = fork();
    if (pid == 0) _exit(RunAttempt(spec));
    int status = 0;
    waitpid(pid, &status, 0);
    Result<AttemptResult> r = ReadAttemptResult(spec.result_path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AttemptResult{};
  }
  TempDir dir_;
  std::unique_ptr<FakeLlmServer> server_;
};

TEST_F(AgentAttemptTest, ApiAgentWritesFilesAndReportsUsage) {
  json two = {{"tool_uses", json::array({Write("answer.txt", "42\n")["tool_use"],
                                         Write("notes/n.md", "n")["tool_use"]})}};
  Serve({{{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"match", "MAKE-ANSWER"}, {"responses", json::array({two})}}});
  AttemptSpec spec = Spec("MAKE-ANSWER please");
  AttemptResult r = Run(spec);
  EXPECT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.turns, 2);
  EXPECT_GT(r.usage.output_tokens, 0);
  EXPECT_GT(r.cost_usd, 0);
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].path, "answer.txt");
  EXPECT_EQ(*ReadFile(spec.workspace + "/answer.txt"), "42\n");
  json progress = json::parse(*ReadFile(spec.attempt_dir + "/progress.json"));
  EXPECT_EQ(progress["turns"], 2);
  // The agent got the plan context as its system prompt.
  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 2u);
  std::string system = posts[0]["body"]["system"][0]["text"];
  EXPECT_NE(system.find("Your task is 't'"), std::string::npos) << system;
}

TEST_F(AgentAttemptTest, ApiAgentStopsAtMaxTurns) {
  Serve({{{"responses", {Write("answer.txt", "again")}}}});
  AttemptSpec spec = Spec("loop forever");
  spec.agent.max_turns = 3;
  AttemptResult r = Run(spec);
  EXPECT_EQ(r.reason, FailureReason::kMaxTurns);
  EXPECT_EQ(server_->Posts().size(), 3u);
}

TEST_F(AgentAttemptTest, AcceptanceFailureFeedsBackUntilItPasses) {
  Serve({{{"match", "failed the acceptance check"}, {"responses", {Write("answer.txt", "fixed\n")}}, {"once", true}},
         {{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"match", "MAKE-ANSWER"}, {"responses", {Write("answer.txt", "broken\n")}}}});
  AttemptSpec spec = Spec("MAKE-ANSWER");
  spec.acceptance = "grep -q fixed answer.txt || { echo 'answer.txt is still broken'; exit 3; }";
  AttemptResult r = Run(spec);
  EXPECT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.rounds, 2);
  EXPECT_EQ(*ReadFile(spec.workspace + "/answer.txt"), "fixed\n");
  // The check's output reached the model as feedback.
  bool fed_back = false;
  for (const json& p : server_->Posts()) {
    std::string first = p["body"]["messages"][0]["content"].dump();
    if (first.find("answer.txt is still broken") != std::string::npos &&
        first.find("exit 3") != std::string::npos) {
      fed_back = true;
    }
  }
  EXPECT_TRUE(fed_back);
  Result<std::string> log = ReadFile(spec.attempt_dir + "/acceptance.log");
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("round 1"), std::string::npos);
  EXPECT_NE(log->find("round 2"), std::string::npos);
}

TEST_F(AgentAttemptTest, AcceptanceThatNeverPassesFailsTheAttempt) {
  Serve({{{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"responses", {Write("answer.txt", "nope\n")}}}});
  AttemptSpec spec = Spec("MAKE-ANSWER");
  spec.acceptance = "false";
  spec.agent.acceptance_rounds = 1;
  AttemptResult r = Run(spec);
  EXPECT_EQ(r.reason, FailureReason::kAcceptanceFailed);
  EXPECT_EQ(r.rounds, 2);
  EXPECT_NE(r.detail.find("after 2 rounds"), std::string::npos) << r.detail;
}

TEST_F(AgentAttemptTest, ARefusalFailsWithoutRetryingAndSaysSo) {
  Serve({{{"responses", {{{"text", "I can't help with that."}, {"stop_reason", "refusal"}}}}}});
  AttemptResult r = Run(Spec("MAKE-ANSWER"));
  EXPECT_EQ(r.reason, FailureReason::kRefused);
  EXPECT_FALSE(IsRetryable(r.reason));
  EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("I can't help with that."), std::string::npos) << r.detail;
  EXPECT_EQ(server_->Posts().size(), 1u);
  EXPECT_GT(r.usage.input_tokens, 0);  // a refusal is billed, and counted
}

TEST_F(AgentAttemptTest, AToolCallCutOffAtMaxTokensIsAskedAgainWithMoreRoom) {
  // A write_file too large for 8192 output tokens: the stream ends halfway
  // through its input with stop_reason max_tokens.
  const std::string big(30000, 'x');
  json cut = Write("answer.txt", big);
  cut["truncate_below"] = 20000;
  Serve({{{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"match", "MAKE-ANSWER"}, {"responses", {cut}}}});
  AttemptSpec spec = Spec("MAKE-ANSWER");
  AttemptResult r = Run(spec);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(ReadFile(spec.workspace + "/answer.txt")->size(), big.size());
  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 4u);  // 8192 (cut), 16384 (cut), 32768, then the final answer
  EXPECT_EQ(posts[0]["body"]["max_tokens"], 8192);
  EXPECT_EQ(posts[1]["body"]["max_tokens"], 16384);
  EXPECT_EQ(posts[2]["body"]["max_tokens"], 32768);
  // The same conversation each time: the cut-off answer was not sent back.
  EXPECT_EQ(posts[2]["body"]["messages"], posts[0]["body"]["messages"]);
  // Every answer's tokens count, the cut-off ones too.
  EXPECT_GT(r.usage.input_tokens, 3 * 10);
}

TEST_F(AgentAttemptTest, AToolCallThatNeverFitsFailsNamingTheLimit) {
  json cut = Write("answer.txt", std::string(3000, 'y'));
  cut["truncate_below"] = 1000000;
  Serve({{{"responses", {cut}}}});
  AttemptSpec spec = Spec("MAKE-ANSWER");
  spec.agent.max_tokens_limit = 20000;
  AttemptResult r = Run(spec);
  EXPECT_EQ(r.reason, FailureReason::kInvalidTask);
  EXPECT_NE(r.detail.find("max_tokens 20000"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("agent.max_tokens_limit"), std::string::npos) << r.detail;
  EXPECT_EQ(server_->Posts().size(), 3u);  // 8192, 16384, 20000
}

TEST_F(AgentAttemptTest, ATextAnswerCutOffOrPausedIsContinued) {
  Serve({{{"match", "Continue where it stopped"}, {"responses", {Write("answer.txt", "42\n")}}, {"once", true}},
         {{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"match", "MAKE-ANSWER"},
          {"responses", {{{"text", "Let me think"}, {"stop_reason", "pause_turn"}},
                         {{"text", "about this at great len"}, {"stop_reason", "max_tokens"}}}}}});
  AttemptSpec spec = Spec("MAKE-ANSWER");
  AttemptResult r = Run(spec);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(*ReadFile(spec.workspace + "/answer.txt"), "42\n");
  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 4u);
  // After pause_turn the paused answer goes back as the last message.
  const json& paused = posts[1]["body"]["messages"];
  EXPECT_EQ(paused.back()["role"], "assistant");
  EXPECT_EQ(paused.back()["content"][0]["text"], "Let me think");
  // After a cut-off text answer the model is asked to go on.
  const json& cut = posts[2]["body"]["messages"];
  EXPECT_EQ(cut.back()["role"], "user");
}

TEST_F(AgentAttemptTest, AStopReasonNotKnownIsNotAFinishedTask) {
  Serve({{{"responses", {{{"text", "..."}, {"stop_reason", "model_context_window_exceeded"}}}}}});
  AttemptResult r = Run(Spec("MAKE-ANSWER"));
  EXPECT_EQ(r.reason, FailureReason::kInvalidTask);
  EXPECT_NE(r.detail.find("model_context_window_exceeded"), std::string::npos) << r.detail;
  Serve({{{"responses", {{{"text", "..."}, {"stop_reason", "something_new"}}}}}});
  AttemptResult n = Run(Spec("MAKE-ANSWER"));
  EXPECT_EQ(n.reason, FailureReason::kAgentError);
  EXPECT_NE(n.detail.find("'something_new'"), std::string::npos) << n.detail;
}

TEST_F(AgentAttemptTest, MissingDeclaredOutputsFailTheAttempt) {
  Serve({{{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"responses", {Write("other.txt", "not what was asked")}}}});
  AttemptResult r = Run(Spec("MAKE-ANSWER"));
  EXPECT_EQ(r.reason, FailureReason::kMissingOutputs);
  EXPECT_TRUE(IsRetryable(r.reason));
  EXPECT_NE(r.detail.find("'answer.txt'"), std::string::npos) << r.detail;
}

TEST_F(AgentAttemptTest, APromptTaskThatChangesNothingFailsUnlessItSaysSo) {
  Serve({{{"responses", {{{"text", "Nothing to do."}}}}}});
  AttemptSpec spec = Spec("MAKE-ANSWER");
  spec.outputs.clear();
  spec.outputs_declared = false;
  AttemptResult r = Run(spec);
  EXPECT_EQ(r.reason, FailureReason::kMissingOutputs);
  EXPECT_NE(r.detail.find("changed no file"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("outputs: []"), std::string::npos) << r.detail;
  spec.outputs_declared = true;  // `outputs: []`
  unlink(spec.result_path.c_str());
  EXPECT_TRUE(Run(spec).ok());
}

TEST_F(AgentAttemptTest, APromptTaskThatOnlyDeletesAFileSucceedsAndSaysWhich) {
  Serve({{{"match", "exit 0"}, {"responses", {{{"text", "Removed."}}}}},
         {{"responses", {{{"tool_use", {{"name", "run_command"}, {"input", {{"command", "rm stale.txt"}}}}}}}}}});
  AttemptSpec spec = Spec("REMOVE-STALE");
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/run/output/stale.txt", "stale").ok());
  spec.outputs.clear();
  spec.outputs_declared = false;
  spec.agent.run_command_tool = true;
  AttemptResult r = Run(spec);
  EXPECT_TRUE(r.ok()) << r.detail;
  EXPECT_TRUE(r.files.empty());
  EXPECT_EQ(r.deleted, std::vector<std::string>{"stale.txt"});
}

TEST_F(AgentAttemptTest, ARetryIsToldWhyThePreviousAttemptFailed) {
  Serve({{{"match", "wrote"}, {"responses", {{{"text", "Done."}}}}},
         {{"responses", {Write("answer.txt", "42")}}}});
  AttemptSpec first = Spec("MAKE-ANSWER");
  AttemptResult failed;
  failed.task_id = "t";
  failed.attempt = 1;
  failed.reason = FailureReason::kMissingOutputs;
  failed.detail = "the task ended without creating its declared outputs: 'answer.txt'";
  ASSERT_TRUE(WriteFileAtomic(first.result_path, AttemptResultToJson(failed)).ok());
  Plan plan;
  Task t;
  t.id = "t";
  t.prompt = "MAKE-ANSWER";
  t.outputs = {"answer.txt"};
  plan.tasks.push_back(t);
  Config config;
  AttemptSpec second = MakeAttemptSpec(RunLayout(dir_.path() + "/run"), plan, t, 2, 60, config, {});
  EXPECT_NE(second.previous_failure.find("missing_outputs: the task ended without creating"),
            std::string::npos)
      << second.previous_failure;
}

TEST(WorkspaceTest, AControlCharacterInAToolPathIsRefused) {
  TempDir dir;
  AgentSettings settings;
  auto [content, is_error] = ApiAgentExecutor::CallTool(
      dir.path(), "write_file", {{"path", std::string("a\0b.txt", 7)}, {"content", "abc"}}, settings, nullptr);
  EXPECT_TRUE(is_error);
  EXPECT_NE(content.find("control character"), std::string::npos) << content;
  EXPECT_FALSE(PathExists(dir.path() + "/a"));
}

}  // namespace
}  // namespace porch

#include "agent/claude_cli.h"

namespace porch {
namespace {

TEST(ClaudeResultTest, ParsesTheFinalResultEvent) {
  std::string stream =
      "{\"type\":\"system\",\"subtype\":\"init\"}\n"
      "{\"type\":\"assistant\",\"message\":{}}\n"
      "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":3,"
      "\"total_cost_usd\":0.0123,\"usage\":{\"input_tokens\":100,\"output_tokens\":20,"
      "\"cache_creation_input_tokens\":5,\"cache_read_input_tokens\":7},\"permission_denials\":[]}\n";
  AgentOutcome o = ParseClaudeResult(stream);
  EXPECT_EQ(o.reason, FailureReason::kNone);
  EXPECT_EQ(o.turns, 3);
  EXPECT_DOUBLE_EQ(o.cost_usd, 0.0123);
  EXPECT_EQ(o.usage.total(), 132);
  EXPECT_EQ(ParseClaudeResult("{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true}").reason,
            FailureReason::kMaxTurns);
  AgentOutcome err = ParseClaudeResult(
      "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"api_error_status\":529,"
      "\"result\":\"API Error: overloaded\"}");
  EXPECT_EQ(err.reason, FailureReason::kAgentError);
  EXPECT_NE(err.detail.find("API status 529"), std::string::npos);
  AgentOutcome denied = ParseClaudeResult(
      "{\"type\":\"result\",\"is_error\":false,\"permission_denials\":[{\"tool_name\":\"Bash\"}]}");
  EXPECT_EQ(denied.reason, FailureReason::kPermissionDenied);
  EXPECT_EQ(ParseClaudeResult("not json\n").reason, FailureReason::kAgentError);
}

TEST(ClaudeArgvTest, CarriesTheSettingsAndOnlyNeededEnvironment) {
  AgentSettings s;
  s.claude_path = "/opt/claude";
  s.model = "claude-sonnet-4-5";
  s.max_turns = 7;
  s.max_budget_usd = 0.5;
  s.home = "/run/home";
  AgentJob job;
  job.prompt = "do it";
  job.system_context = "ctx";
  job.settings = &s;
  std::vector<std::string> argv = ClaudeCliExecutor::Argv(job);
  std::string joined;
  for (const auto& a : argv) joined += a + " ";
  EXPECT_EQ(argv[0], "/opt/claude");
  EXPECT_NE(joined.find("-p do it --output-format stream-json --verbose --permission-mode acceptEdits --max-turns 7"),
            std::string::npos) << joined;
  EXPECT_NE(joined.find("--model claude-sonnet-4-5"), std::string::npos);
  EXPECT_NE(joined.find("--max-budget-usd 0.5"), std::string::npos);
  EXPECT_NE(joined.find("--append-system-prompt ctx"), std::string::npos);
  s.env = {{"PORCH_UNRELATED_SECRET", "x"}, {"PATH", "/usr/bin"}, {"ANTHROPIC_API_KEY", "sk-x"},
           {"https_proxy", "http://proxy:3128"}, {"NO_PROXY", "10.0.0.0/8"}};
  std::vector<std::string> env = ClaudeCliExecutor::Env(job);
  std::string all;
  for (const auto& e : env) all += e + "\n";
  EXPECT_NE(all.find("HOME=/run/home\n"), std::string::npos);
  EXPECT_NE(all.find("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1\n"), std::string::npos);
  EXPECT_EQ(all.find("PORCH_UNRELATED_SECRET"), std::string::npos);
  EXPECT_NE(all.find("PATH=/usr/bin\n"), std::string::npos);
  EXPECT_NE(all.find("ANTHROPIC_API_KEY=sk-x\n"), std::string::npos);
  EXPECT_NE(all.find("https_proxy=http://proxy:3128\n"), std::string::npos);  // either case
  EXPECT_NE(all.find("NO_PROXY=10.0.0.0/8\n"), std::string::npos);
  s.config.llm.provider = "bedrock";
  s.config.llm.bedrock_endpoint = "http://127.0.0.1:1";
  s.config.llm.region = "us-west-2";
  // What porch resolved wins over what the environment says.
  s.env["AWS_REGION"] = "eu-north-1";
  s.env["ANTHROPIC_BEDROCK_BASE_URL"] = "http://stale";
  all.clear();
  for (const auto& e : ClaudeCliExecutor::Env(job)) all += e + "\n";
  EXPECT_NE(all.find("CLAUDE_CODE_USE_BEDROCK=1\n"), std::string::npos);
  EXPECT_NE(all.find("ANTHROPIC_BEDROCK_BASE_URL=http://127.0.0.1:1\n"), std::string::npos);
  EXPECT_NE(all.find("AWS_REGION=us-west-2\n"), std::string::npos);
  EXPECT_EQ(all.find("eu-north-1"), std::string::npos) << all;
  EXPECT_EQ(all.find("http://stale"), std::string::npos) << all;
}

}  // namespace
}  // namespace porch
