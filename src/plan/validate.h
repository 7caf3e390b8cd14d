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

// OK when `id` can name a task (or, with kind "run id", a run): InvalidArgument
// saying why not otherwise ("<kind> 'x' contains '/'").
Status CheckId(const std::string& id, const std::string& kind = "task id");

// OK when `path` can be a declared output; InvalidArgument saying why not.
Status CheckOutputPath(const std::string& path);

}  // namespace porch
