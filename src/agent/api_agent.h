// porch's own agent: a tool loop over the LlmClient, for when the Claude
// Code CLI is not wanted or not installed. Tools: write_file, read_file,
// list_files, and (only with agent.run_command_tool) run_command, all
// confined to the workspace; a refused path is reported to the model as a
// tool error, never carried out. Stops when the model ends its turn, at
// agent.max_turns, or when cancelled. The transcript (one JSON line per
// model answer and tool call) goes to the attempt's stdout.
#pragma once

#include "agent/executor.h"

namespace porch {

class LlmClient;

class ApiAgentExecutor : public Executor {
 public:
  // `llm` may be null: the executor then creates the configured client.
  explicit ApiAgentExecutor(LlmClient* llm = nullptr) : llm_(llm) {}
  AgentOutcome Run(const AgentJob& job, bool* cancelled) override;

  static nlohmann::json Tools(bool run_command);
  // Carries out one tool call in `workspace`; returns {content, is_error}.
  static std::pair<std::string, bool> CallTool(const std::string& workspace,
                                               const std::string& name,
                                               const nlohmann::json& input,
                                               const AgentSettings& settings, bool* cancelled);

 private:
  // Carries out the tool calls of one answer; their tool_result blocks.
  static nlohmann::json RunTools(const AgentJob& job, const LlmResponse& resp, bool* cancelled,
                                 std::string* last_tool);
  LlmClient* llm_;
};

}  // namespace porch
