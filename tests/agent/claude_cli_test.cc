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
    GTEST_SKIP() << "Claude Code CLI not installed at " << claude
                 << " (run scripts/install-claude-code.sh)";
  }
  TempDir dir;
  std::string work = dir.path() + "/work", home = dir.path() + "/home";
  MakeDirs(work);
  MakeDirs(home);
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
