// The Claude Code CLI as an executor:
//   claude -p PROMPT --output-format stream-json --verbose
//          --permission-mode acceptEdits --max-turns N [--model M]
//          [--max-budget-usd X] --append-system-prompt CONTEXT
// in the task's workspace, stdin from /dev/null, a per-run HOME, and only the
// environment it needs (API key or Bedrock variables,
// CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1). The event stream goes to the
// attempt's stdout; its final "result" event decides the outcome:
// is_error, error_max_turns and a non-empty permission_denials are failures
// with distinct reasons (a denied tool does not make the CLI fail by itself).
#pragma once

#include <string>
#include <vector>

#include "agent/executor.h"

namespace porch {

class ClaudeCliExecutor : public Executor {
 public:
  AgentOutcome Run(const AgentJob& job, bool* cancelled) override;

  static std::vector<std::string> Argv(const AgentJob& job);
  static std::vector<std::string> Env(const AgentJob& job);
};

// Reads the last "result" event of a stream-json output (pure).
AgentOutcome ParseClaudeResult(const std::string& stream_json);

}  // namespace porch
