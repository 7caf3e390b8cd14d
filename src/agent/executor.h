// Executors carry out one AI task attempt in its workspace: the Claude Code
// CLI (the seed's ExecutorAgent) or porch's own tool loop over the LLM API.
// Both run inside the attempt's own process (exec-task or the local
// backend's supervisor), never in the scheduler.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "llm/llm_client.h"
#include "core/failure.h"

namespace porch {

// What an executor needs from the configuration (copied into each attempt).
struct AgentSettings {
  std::string executor = "claude-cli";   // claude-cli | api
  std::string claude_path = "claude";    // looked up in PATH unless absolute
  std::string model;                     // empty: the CLI's / llm.model default
  int max_turns = 30;
  int max_tokens = 8192;                 // API agent: per answer at first
  int max_tokens_limit = 64000;          // API agent: ceiling for a cut-off tool call
  double max_budget_usd = 0;             // per attempt; 0: none
  std::string permission_mode = "acceptEdits";
  std::string allowed_tools;             // extra --allowedTools for the CLI
  bool run_command_tool = false;         // API agent: offer run_command
  int acceptance_rounds = 2;             // agent re-runs after a failed acceptance check
  std::string home;                      // HOME for the CLI (per run)
  // porch's environment; the CLI executor passes on only the variables it
  // needs (PATH, locale, proxies, the LLM credentials), never the rest.
  std::map<std::string, std::string> env;
  Config config;                         // llm settings for the API agent
};

AgentSettings AgentSettingsFromConfig(const Config& config, const std::string& run_dir);

struct AgentJob {
  std::string task_id;
  std::string prompt;
  std::string system_context;  // plan overview, this task, its dependencies' files
  std::string feedback;        // from a failed acceptance check; empty on the first round
  std::string workspace;       // absolute; the agent works only here
  std::string stdout_path;
  std::string stderr_path;
  bool append_output = false;
  double time_limit_s = 0;
  double grace_s = 5;
  const AgentSettings* settings = nullptr;
};

struct AgentOutcome {
  FailureReason reason = FailureReason::kNone;
  std::string detail;
  int exit_code = 0;
  Usage usage;
  double cost_usd = 0;
  int turns = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs the agent to its end. `cancelled` is shared with the attempt: a
  // SIGTERM to the attempt process sets it and stops the agent.
  virtual AgentOutcome Run(const AgentJob& job, bool* cancelled) = 0;
};

// The executor named by settings.executor.
Result<std::unique_ptr<Executor>> CreateExecutor(const AgentSettings& settings);

}  // namespace porch
