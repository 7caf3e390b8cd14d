// Reads plan files (JSON or YAML) into a Plan. Syntax and field errors come
// back as InvalidArgument naming the file and line; the semantic checks
// (dependencies, cycles, resources) live in plan/validate.h.
//
// JSON is read with a streaming parser so a plan with a million tasks needs
// no document tree; YAML goes through yaml-cpp. Both reach the same per-task
// field reader, so the formats accept exactly the same fields.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/status.h"
#include "plan/diagnostic.h"
#include "plan/task.h"

namespace porch {

enum class PlanFormat { kAuto, kJson, kYaml };

// Parses `text`. `source` names it in messages (usually the path). kAuto
// picks JSON when the first non-space character is '{', YAML otherwise.
Result<Plan> ParsePlan(std::string_view text, const std::string& source,
                       PlanFormat format = PlanFormat::kAuto);

// The largest plan file read unless configured otherwise (limits.max_plan_bytes).
constexpr uint64_t kDefaultMaxPlanBytes = 256ull << 20;

// Reads and parses the plan at `path`: a regular file of at most
// `max_bytes`, or "-" for standard input.
Result<Plan> LoadPlanFile(const std::string& path, uint64_t max_bytes = kDefaultMaxPlanBytes);

// Reads one task object (as it appears in a plan's "tasks" list), as the
// parser does for a file: problems go to `diags` with `line`.
Task ReadTaskJson(const nlohmann::json& value, int line, std::vector<Diagnostic>* diags);

// The plan as canonical JSON (the form porch stores in a run directory).
nlohmann::json PlanToJson(const Plan& plan);
std::string PlanToJsonText(const Plan& plan);

}  // namespace porch
