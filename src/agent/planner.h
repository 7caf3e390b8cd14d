// The AI planner (the seed's Complexity Analyzer and Task Planner).
//
// Two model calls, each answered through a tool whose input must satisfy a
// JSON schema (structured output):
//   1. report_complexity: a score, a rationale and a recommended task count
//      N, clamped to the configured bounds;
//   2. submit_plan: N tasks with ids, titles, self-contained prompts,
//      dependencies, the files each owns, resources and an acceptance check.
// The plan goes through porch's own validator; porch never trusts it. When
// it is invalid (schema, cycle, unknown dependency, a file owned twice,
// traversal paths) porch answers the tool call with the exact errors and asks
// again, a bounded number of times, then fails with the last errors.
//
// Every raw answer is written through `RawSink` (the run or plan directory
// keeps them for debugging). The shared prefix (system prompt and the
// requirement) carries cache_control so repeated calls reuse it.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "llm/llm_client.h"
#include "plan/task.h"

namespace porch {

struct PlannerOptions {
  int min_tasks = 1;
  int max_tasks = 12;
  int max_executors = 5;   // M: the plan need not be much wider than this
  int max_attempts = 3;    // plan answers tried before giving up (>= 1)
  int max_tokens = 8192;
};

struct Complexity {
  int score = 0;             // 1 (trivial) .. 10 (very complex)
  std::string rationale;
  int recommended_tasks = 0; // as the model said
  int tasks = 0;             // after clamping
};

struct PlanResult {
  Complexity complexity;
  Plan plan;
  Usage usage;               // all calls together
  int plan_attempts = 0;
};

// Receives each raw model answer: a short name ("complexity", "plan-1"...)
// and the text. Failures to store are the sink's own business.
using RawSink = std::function<void(const std::string& name, const std::string& raw)>;

// Appends a command task that depends on every task nothing else depends on
// (so on all of them) and runs `test_command` on the merged output.
void AddIntegrationTask(Plan* plan, const std::string& test_command);

class Planner {
 public:
  // `llm` is not owned. `raw` may be null.
  Planner(LlmClient* llm, PlannerOptions options, RawSink raw);

  Result<Complexity> Analyze(const std::string& requirements, Usage* usage);
  Result<PlanResult> MakePlan(const std::string& requirements);

  // Converts a submit_plan tool input into a Plan (pure; schema problems are
  // listed in the error).
  static Result<Plan> PlanFromToolInput(const nlohmann::json& input);
  static nlohmann::json ComplexityTool();
  static nlohmann::json PlanTool();

 private:
  nlohmann::json SharedPrefix(const std::string& requirements) const;
  LlmClient* llm_;
  PlannerOptions options_;
  RawSink raw_;
};

}  // namespace porch
