// Creates the backend a run asks for (the seed's Backend Factory). An
// unknown name is an error, never a silent fallback.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "model/backend.h"
#include "config/config.h"
#include "platform/clock.h"
#include "model/run_identity.h"
#include "model/run_layout.h"

namespace porch {

// `env` is porch's environment
// (DOCKER_HOST, SLURM_CONF, credentials passed on to jobs).
Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               const RunIdentity& identity, Clock* clock,
                                               const std::map<std::string, std::string>& env);

}  // namespace porch
