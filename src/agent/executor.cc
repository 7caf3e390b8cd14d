#include "agent/executor.h"

#include "agent/api_agent.h"
#include "agent/claude_cli.h"

namespace porch {

AgentSettings AgentSettingsFromConfig(const Config& config, const std::string& run_dir) {
  AgentSettings s;
  const AgentConfig& a = config.agent;
  s.executor = a.executor;
  s.claude_path = a.claude_path;
  s.model = a.model;
  s.max_turns = a.max_turns;
  s.max_tokens = a.max_tokens;
  s.max_tokens_limit = a.max_tokens_limit;
  s.max_budget_usd = a.max_budget_usd;
  s.permission_mode = a.permission_mode;
  s.allowed_tools = a.allowed_tools;
  s.run_command_tool = a.run_command_tool;
  s.acceptance_rounds = a.acceptance_rounds;
  s.home = run_dir + "/.agent-home";  // the attempt's spec gives each attempt its own
  s.config = config;
  return s;
}

Result<std::unique_ptr<Executor>> CreateExecutor(const AgentSettings& settings) {
  if (settings.executor == "claude-cli") return std::unique_ptr<Executor>(new ClaudeCliExecutor());
  if (settings.executor == "api") return std::unique_ptr<Executor>(new ApiAgentExecutor());
  return Status::InvalidArgument("unknown agent.executor '" + settings.executor +
                                 "' (claude-cli, api)");
}

}  // namespace porch
