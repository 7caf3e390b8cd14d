// The planner in a container (the seed's planner_in_docker): `porch plan`
// runs inside docker.image, on docker.planner_network (default "host", so
// it reaches the LLM endpoint porch itself would reach), with the run's
// settings in a mounted directory and the credentials in its environment
// (passed at create time, never written to disk). It writes the plan and
// the model's raw answers into that directory; porch reads them from there,
// and validates the plan as it validates any other (never trusted blindly).
//
// Layout of `dir` afterwards: planner-io/ (what the container read and
// wrote), planner/ (the raw answers and summary.json, as a local planning
// run leaves them, plus container.log: the container's own output).
#pragma once

#include <map>
#include <string>

#include "agent/planner.h"
#include "backend/docker/docker_client.h"
#include "config/config.h"
#include "core/status.h"
#include "platform/clock.h"

namespace porch {

// `stored_config` is the effective configuration as config.json stores it
// (no secrets); `env` supplies the credentials to pass on. Blocks until the
// container exits (at most `timeout_s`), then removes it.
Result<PlanResult> PlanInContainer(DockerClient& client, const Config& config,
                                   const std::string& stored_config,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& requirements, const std::string& dir,
                                   Clock* clock, double timeout_s = 3600);

}  // namespace porch
