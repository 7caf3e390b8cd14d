#include "agent/planner.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "model/json_fields.h"
#include "plan/plan_parser.h"
#include "plan/validate.h"

namespace porch {

using nlohmann::json;

namespace {

const char* kSystemPrompt = R"(You are the planner of porch, a parallel orchestrator. A requirement is
split into tasks that AI coding agents carry out in parallel, each in its own
workspace seeded with the files of the tasks it depends on.

Rules for a good plan:
- Each task is self-contained: its prompt says what to build, which files the
  task owns (and must create), and which interfaces from its dependencies it
  must honour. An agent sees only its own prompt and its dependencies' files.
- Every output file is owned by exactly one task. Paths are relative to the
  project root, without "..".
- Dependencies form a DAG (no cycles). Prefer wide plans over long chains so
  tasks can run in parallel, but keep a dependency wherever one task needs
  another's files.
- Task ids are short, lower-case, with letters, digits and dashes.
- Where it fits, give a task an acceptance command that checks its work
  (for example "make test").
- Give the command that builds and tests the whole project as test_command
  (for example "make test"): porch adds a final integration task that runs it
  on the merged output of all tasks.)";

// The first user turn: the requirement (cached with the system prompt, so
// both calls share the prefix), then the call's own instruction.
json RequirementTurn(const std::string& requirements, const std::string& instruction) {
  return {{"role", "user"},
          {"content", json::array({{{"type", "text"},
                                    {"text", "Requirement:\n" + requirements},
                                    {"cache_control", {{"type", "ephemeral"}}}},
                                   {{"type", "text"}, {"text", instruction}}})}};
}

std::string Clamp(int* n, int lo, int hi) {
  int before = *n;
  *n = std::max(lo, std::min(hi, *n));
  return before == *n ? "" : " (clamped from " + std::to_string(before) + ")";
}

}  // namespace

Planner::Planner(LlmClient* llm, PlannerOptions options, RawSink raw)
    : llm_(llm), options_(options), raw_(std::move(raw)) {}

json Planner::ComplexityTool() {
  return {{"name", "report_complexity"},
          {"description", "Report how complex the requirement is and how many tasks it needs."},
          {"input_schema",
           {{"type", "object"},
            {"properties",
             {{"score", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10}}},
              {"rationale", {{"type", "string"}}},
              {"recommended_tasks", {{"type", "integer"}, {"minimum", 1}}}}},
            {"required", {"score", "rationale", "recommended_tasks"}}}}};
}

json Planner::PlanTool() {
  json task = {{"type", "object"},
               {"properties",
                {{"id", {{"type", "string"}}},
                 {"title", {{"type", "string"}}},
                 {"prompt", {{"type", "string"}}},
                 {"depends_on", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                 {"outputs", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                 {"acceptance", {{"type", "string"}}},
                 {"resources",
                  {{"type", "object"},
                   {"properties",
                    {{"cpus", {{"type", "integer"}}},
                     {"memory", {{"type", "string"}}},
                     {"gpus", {{"type", "integer"}}},
                     {"time_limit", {{"type", "string"}}}}}}}}},
               {"required", {"id", "title", "prompt", "depends_on", "outputs"}}};
  return {{"name", "submit_plan"},
          {"description", "Submit the plan: the tasks, their dependencies and the files each owns."},
          {"input_schema",
           {{"type", "object"},
            {"properties",
             {{"tasks", {{"type", "array"}, {"items", task}}},
              {"test_command", {{"type", "string"}}}}},
            {"required", {"tasks"}}}}};
}

json Planner::SharedPrefix(const std::string& requirements) const {
  (void)requirements;
  return json::array({{{"type", "text"},
                       {"text", kSystemPrompt},
                       {"cache_control", {{"type", "ephemeral"}}}}});
}

Result<Complexity> Planner::Analyze(const std::string& requirements, Usage* usage) {
  LlmRequest req;
  req.system = SharedPrefix(requirements);
  req.messages = json::array({RequirementTurn(
      requirements, "How complex is this, and how many tasks should it be split into? Answer "
                    "with report_complexity. Executors available: " +
                        std::to_string(options_.max_executors) + ".")});
  req.tools = json::array({ComplexityTool()});
  req.tool_choice = {{"type", "tool"}, {"name", "report_complexity"}};
  req.max_tokens = 1024;
  Usage spent;
  Result<LlmResponse> resp = CompleteCounted(llm_, req, &spent);
  if (usage) *usage += spent;
  if (!resp.ok()) return resp.status().Annotate("complexity analysis");
  if (raw_) raw_("complexity", resp->raw);
  const json* use = resp->ToolUse("report_complexity");
  if (!use || !use->contains("input") || !(*use)["input"].is_object()) {
    return Status::Unavailable("complexity analysis: the model did not call report_complexity "
                               "(it answered: '" + resp->Text().substr(0, 200) + "')");
  }
  const json& in = (*use)["input"];
  Complexity c;
  if (!in.contains("recommended_tasks") || !in["recommended_tasks"].is_number_integer()) {
    return Status::Unavailable("complexity analysis: recommended_tasks is missing or not an integer");
  }
  c.score = static_cast<int>(JsonInt(in, "score", 0));
  c.rationale = JsonString(in, "rationale");
  c.recommended_tasks = in["recommended_tasks"].get<int>();
  c.tasks = c.recommended_tasks;
  // More than a few tasks per executor only lengthens the queue.
  int hi = std::max(options_.min_tasks, std::min(options_.max_tasks, 4 * options_.max_executors));
  c.rationale += Clamp(&c.tasks, options_.min_tasks, hi);
  return c;
}

void AddIntegrationTask(Plan* plan, const std::string& test_command) {
  std::set<std::string> has_dependents, ids;
  for (const Task& t : plan->tasks) {
    ids.insert(t.id);
    for (const std::string& d : t.depends_on) has_dependents.insert(d);
  }
  Task it;
  it.id = "integration";
  for (int n = 2; ids.count(it.id); ++n) it.id = "integration-" + std::to_string(n);
  it.title = "Build and test the merged project";
  it.command = test_command;
  for (const Task& t : plan->tasks) {
    if (!has_dependents.count(t.id)) it.depends_on.push_back(t.id);
  }
  plan->tasks.push_back(it);
}

namespace {

// The schema checks porch adds to the plan parser's for planned tasks.
void CheckPlannedTask(const json& t, int line, std::vector<Diagnostic>* diags) {
  if (!t.is_object()) return;  // the parser says so
  if (t.contains("command")) diags->push_back({line, "has a 'command'; planned tasks use 'prompt'"});
  for (const char* key : {"id", "title", "prompt"}) {
    if (!t.contains(key) || !t[key].is_string() || t[key].get<std::string>().empty()) {
      diags->push_back({line, std::string("needs a non-empty string '") + key + "'"});
    }
  }
  if (!t.contains("outputs") || !t["outputs"].is_array() || t["outputs"].empty()) {
    diags->push_back({line, "must list the files it owns in 'outputs'"});
  }
}

}  // namespace

Result<Plan> Planner::PlanFromToolInput(const json& input) {
  if (!input.is_object() || !input.contains("tasks") || !input["tasks"].is_array()) {
    return Status::InvalidArgument("/tasks: submit_plan input must be an object with a 'tasks' list");
  }
  // Every problem at once, schema and graph alike, each named by a JSON
  // pointer into the tool input the model sent (/tasks/3): the model fixes
  // them all in one round. A task's "line" is its index + 1 meanwhile.
  std::vector<Diagnostic> diags;
  Plan plan;
  plan.source = "submit_plan";
  const json& tasks = input["tasks"];
  for (size_t i = 0; i < tasks.size(); ++i) {
    const int line = static_cast<int>(i) + 1;
    CheckPlannedTask(tasks[i], line, &diags);
    plan.tasks.push_back(ReadTaskJson(tasks[i], line, &diags));
  }
  for (Diagnostic& d : CheckPlan(plan)) diags.push_back(std::move(d));
  if (!diags.empty()) {
    std::stable_sort(diags.begin(), diags.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
    std::string msg;
    for (Diagnostic& d : diags) {
      // CheckPlan points at a first definition by line: here, by index.
      const std::string kFirst = "(first defined on line ";
      if (size_t at = d.message.find(kFirst); at != std::string::npos) {
        const int first = std::atoi(d.message.c_str() + at + kFirst.size());
        d.message = d.message.substr(0, at) + "(first at /tasks/" + std::to_string(first - 1) + ")";
      }
      msg += (msg.empty() ? "" : "\n") +
             (d.line > 0 ? "/tasks/" + std::to_string(d.line - 1) : std::string("/tasks")) + ": " +
             d.message;
    }
    return Status::InvalidArgument(msg);
  }
  for (Task& t : plan.tasks) t.line = 0;  // not lines of any file
  plan.source = "plan";
  std::string test = JsonString(input, "test_command");
  if (!test.empty()) AddIntegrationTask(&plan, test);
  return plan;
}

Result<PlanResult> Planner::MakePlan(const std::string& requirements) {
  PlanResult out;
  Result<Complexity> c = Analyze(requirements, &out.usage);
  if (!c.ok()) return c.status();
  out.complexity = *c;

  LlmRequest req;
  req.system = SharedPrefix(requirements);
  req.tools = json::array({PlanTool()});
  req.tool_choice = {{"type", "tool"}, {"name", "submit_plan"}};
  req.max_tokens = options_.max_tokens;
  req.messages = json::array({RequirementTurn(
      requirements, "Plan it as " + std::to_string(out.complexity.tasks) + " tasks (complexity " +
                        std::to_string(out.complexity.score) + "/10: " +
                        out.complexity.rationale + "). Answer with submit_plan.")});
  std::string last_errors;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    out.plan_attempts = attempt;
    Result<LlmResponse> resp = CompleteCounted(llm_, req, &out.usage);
    if (!resp.ok()) return resp.status().Annotate("planning");
    if (resp->truncated_tool_use || resp->stop_reason == "max_tokens") {
      // The plan did not fit in the answer: the same question with more
      // room (not counted as an attempt), up to what the model can give.
      const int most = MaxOutputTokensForModel(llm_->model());
      if (req.max_tokens >= most) {
        return Status::Unavailable("planning: the plan did not fit in the model's answer even at "
                                   "max_tokens " + std::to_string(req.max_tokens) +
                                   "; ask for fewer tasks (planner.max_tasks) or a shorter requirement");
      }
      req.max_tokens = std::min(most, req.max_tokens * 2);
      --attempt;
      continue;
    }
    if (raw_) raw_("plan-" + std::to_string(attempt), resp->raw);
    const json* use = resp->ToolUse("submit_plan");
    std::string errors;
    if (!use) {
      errors = "the answer did not call submit_plan";
    } else {
      Result<Plan> plan = PlanFromToolInput(JsonObject(*use, "input"));
      Status st = plan.ok() ? ValidatePlan(*plan) : plan.status();
      if (st.ok()) {
        out.plan = std::move(*plan);
        out.plan.requirements = requirements;
        return out;
      }
      errors = st.message();
    }
    last_errors = errors;
    // Ask again with the exact problems: answer the tool call (or the text).
    json said = json::array();
    for (const json& b : resp->content) {
      if (JsonString(b, "type") == "text" && JsonString(b, "text").empty()) continue;
      said.push_back(b);
    }
    if (said.empty()) said.push_back({{"type", "text"}, {"text", "(no answer)"}});
    req.messages.push_back({{"role", "assistant"}, {"content", said}});
    std::string fix = "The plan is invalid (each problem names a JSON pointer into your "
                      "submit_plan input):\n" + errors +
                      "\nFix every problem and call submit_plan again with the whole plan.";
    if (use) {
      req.messages.push_back(
          {{"role", "user"},
           {"content", json::array({{{"type", "tool_result"},
                                     {"tool_use_id", use->value("id", "")},
                                     {"is_error", true},
                                     {"content", fix}}})}});
    } else {
      req.messages.push_back({{"role", "user"}, {"content", fix}});
    }
  }
  return Status::Unavailable("planning failed: the model gave no valid plan in " +
                             std::to_string(options_.max_attempts) +
                             " attempts; last problems:\n" + last_errors);
}

}  // namespace porch
