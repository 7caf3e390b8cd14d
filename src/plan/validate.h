// Semantic checks of a parsed plan. Pure, no I/O.
//
// Checked: the plan is not empty; ids are present, unique and usable as
// directory names; each task has exactly one of prompt/command; dependencies
// name existing tasks, not themselves, and form no cycle (the cycle is
// printed "a -> b -> c -> a"); outputs are relative paths without "..", and
// no output is claimed by two tasks. Resource values were range-checked by
// the parser.
#pragma once

#include <vector>

#include "core/status.h"
#include "plan/diagnostic.h"
#include "plan/task.h"

namespace porch {

std::vector<Diagnostic> CheckPlan(const Plan& plan);

// CheckPlan as a Status naming plan.source and lines.
Status ValidatePlan(const Plan& plan);

// Why `id` cannot be a task id, or "" when it can.
std::string CheckTaskId(const std::string& id);

// Why `path` cannot be a declared output, or "" when it can.
std::string CheckOutputPath(const std::string& path);

}  // namespace porch
