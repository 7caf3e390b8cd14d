// One prompt plan, every way of giving the key, both executors: what each
// backend's test runs to show that agents see the configuration porch sees
// (issue 19). The caller supplies the backend (its environment, and where
// the Claude Code CLI is for that backend); this runs the cells against the
// project's fake API, one server per cell that accepts only that cell's key.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fakes/fake_llm_server.h"
#include "integration/porch_process.h"
#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {

// The Claude Code CLI scripts/install-claude-code.sh installs (or
// PORCH_CLAUDE_BIN).
inline std::string ClaudeTestBinary() {
  const char* env = getenv("PORCH_CLAUDE_BIN");
  if (env && *env) return env;
  return std::string(PORCH_SOURCE_DIR) + "/.deps/claude-code/node_modules/.bin/claude";
}

// How the key and the endpoint reach porch.
enum class KeyWay {
  kAnthropicEnv,  // ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL
  kPorchEnv,      // PORCH_LLM_API_KEY, PORCH_LLM_BASE_URL
  kPorchYaml,     // llm.api_key, llm.base_url in porch.yaml
  kKeyFile,       // llm.api_key_file (mode 600) in porch.yaml
};

inline const char* KeyWayName(KeyWay way) {
  switch (way) {
    case KeyWay::kAnthropicEnv: return "ANTHROPIC_API_KEY";
    case KeyWay::kPorchEnv: return "PORCH_LLM_API_KEY";
    case KeyWay::kPorchYaml: return "porch.yaml";
    case KeyWay::kKeyFile: return "key file";
  }
  return "?";
}

class AgentMatrix {
 public:
  // `dir`: where porch runs (porch.yaml, porch-runs/). `cli_setting`: the
  // --set that tells this backend where the Claude Code CLI is (e.g.
  // "docker.claude_path=/usr/local/bin/claude").
  AgentMatrix(std::string dir, std::string cli_setting)
      : dir_(std::move(dir)), cli_setting_(std::move(cli_setting)) {}

  // Runs the three-task plan (a, b after a, c) as run `run_id` with
  // `executor` ("claude-cli" or "api") and the key given `way`, on top of
  // `env` (the backend's). Checks the outputs, that every model request
  // carried the key, and that the key is nowhere in the run directory.
  void RunCell(const std::string& executor, KeyWay way, std::map<std::string, std::string> env,
               const std::string& run_id) {
    SCOPED_TRACE(executor + " with the key in " + KeyWayName(way));
    const bool cli = executor == "claude-cli";
    const std::string key = "sk-matrix-" + run_id;
    TempDir server_dir;
    FakeLlmServer server(server_dir.path(), Rules(cli), {"--api-key", key});
    ASSERT_TRUE(server.ok());
    std::string yaml;
    // (An empty PORCH_* variable would set its key to "", over porch.yaml:
    // those are left unset.)
    env["ANTHROPIC_API_KEY"] = "";
    env["ANTHROPIC_BASE_URL"] = "";
    env["PORCH_AGENT_EXECUTOR"] = executor;
    env["CLAUDE_CODE_MAX_RETRIES"] = "0";
    switch (way) {
      case KeyWay::kAnthropicEnv:
        env["ANTHROPIC_API_KEY"] = key;
        env["ANTHROPIC_BASE_URL"] = server.url();
        break;
      case KeyWay::kPorchEnv:
        env["PORCH_LLM_API_KEY"] = key;
        env["PORCH_LLM_BASE_URL"] = server.url();
        break;
      case KeyWay::kPorchYaml:
        yaml = "llm:\n  api_key: " + key + "\n  base_url: " + server.url() + "\n";
        break;
      case KeyWay::kKeyFile: {
        const std::string file = dir_ + "/" + run_id + ".key";
        ASSERT_TRUE(WriteFileAtomic(file, key + "\n").ok());
        ASSERT_EQ(chmod(file.c_str(), 0600), 0);
        yaml = "llm:\n  api_key_file: " + file + "\n  base_url: " + server.url() + "\n";
        break;
      }
    }
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/porch.yaml", yaml).ok());
    const std::string plan = dir_ + "/" + run_id + ".yaml";
    ASSERT_TRUE(WriteFileAtomic(plan,
                                "tasks:\n"
                                "  - {id: a, prompt: MATRIX-A, outputs: [a.txt], retries: 0}\n"
                                "  - {id: b, prompt: MATRIX-B, outputs: [b.txt], depends_on: [a], retries: 0}\n"
                                "  - {id: c, prompt: MATRIX-C, outputs: [c.txt], retries: 0}\n")
                    .ok());
    PorchRun r = RunPorch(dir_, {"run", "--plan", plan, "--run-id", run_id, "--set", cli_setting_}, env);
    const std::string run = dir_ + "/porch-runs/runs/" + run_id;
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << RunPorch(dir_, {"status", run_id, "--json"}).out;
    for (const char* name : {"a", "b", "c"}) {
      Result<std::string> text = ReadFile(run + "/output/" + name + ".txt");
      EXPECT_EQ(text.ok() ? *text : "<missing>", std::string(name) + "\n") << name;
    }
    size_t turns = 0;
    for (const nlohmann::json& p : server.Posts()) {
      if (p["path"].get<std::string>().rfind("/v1/messages", 0) != 0) continue;
      ++turns;
      EXPECT_EQ(p["headers"].value("x-api-key", ""), key);
      // The executor asked for is the one that ran.
      const std::string agent = p["headers"].value("user-agent", "");
      EXPECT_EQ(agent.rfind("claude-cli/", 0) == 0, cli) << agent;
    }
    EXPECT_GE(turns, 6u);  // a write and an answer per task
    Result<ProcessResult> grep = RunProcess({"grep", "-rl", key, run}, dir_);
    ASSERT_TRUE(grep.ok());
    EXPECT_EQ(grep->output, "") << "the key was written into the run directory";
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/porch.yaml", "").ok());
  }

  // Every cell for one backend: both executors, each way in `ways`.
  void RunAll(const std::map<std::string, std::string>& env, const std::string& id_prefix,
              const std::vector<KeyWay>& ways) {
    int n = 0;
    for (const char* executor : {"api", "claude-cli"}) {
      for (KeyWay way : ways) RunCell(executor, way, env, id_prefix + "m" + std::to_string(++n));
    }
  }

 private:
  // Each task's marker is answered with one write of its file (the CLI's
  // Write takes a path relative to its working directory, which differs per
  // backend), the tool's result with the end of the turn.
  static nlohmann::json Rules(bool cli) {
    auto write = [cli](const std::string& name) {
      const std::string file = name + ".txt";
      if (cli) return nlohmann::json{{"tool_use", {{"name", "Write"}, {"input", {{"file_path", file}, {"content", name + "\n"}}}}}};
      return nlohmann::json{{"tool_use", {{"name", "write_file"}, {"input", {{"path", file}, {"content", name + "\n"}}}}}};
    };
    nlohmann::json done = {{{"text", "Done."}}};
    return {{"rules",
             {{{"match", "wrote "}, {"responses", done}},
              {{"match", "File created successfully"}, {"responses", done}},
              {{"match", "MATRIX-A"}, {"responses", {write("a")}}},
              {{"match", "MATRIX-B"}, {"responses", {write("b")}}},
              {{"match", "MATRIX-C"}, {"responses", {write("c")}}}}}};
  }

  std::string dir_, cli_setting_;
};

}  // namespace porch
