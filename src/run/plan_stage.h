// Planning a requirement for a run or `porch plan`: with the configured LLM
// in this process, or, with docker.planner_in_docker, inside a container of
// docker.image on docker.planner_network. The choice is made here, so the
// CLI knows no backend.
#pragma once

#include <map>
#include <string>

#include "agent/planner.h"
#include "config/config.h"

namespace porch {

// Plans `requirements`, keeping the model's raw answers under `dir/planner/`
// and a summary (complexity, tokens, cost) in `dir/planner/summary.json`.
// `env` is porch's environment (credentials, DOCKER_HOST, HOME).
Result<PlanResult> PlanRequirement(const LoadedConfig& config, const std::string& requirements,
                                   const std::string& dir,
                                   const std::map<std::string, std::string>& env);

}  // namespace porch
