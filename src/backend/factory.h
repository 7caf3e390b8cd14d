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
#include "plan/task.h"

namespace porch {

// `env` is porch's environment
// (DOCKER_HOST, SLURM_CONF, credentials passed on to jobs).
Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               const RunIdentity& identity, Clock* clock,
                                               const std::map<std::string, std::string>& env);

// Refuses, before anything starts, a run whose AI tasks could not reach the
// LLM from where they run: on the docker backend with a network other than
// "host", an endpoint on a loopback address (127.x, ::1, localhost) is the
// container itself. InvalidArgument naming docker.network=host; OK when the
// plan has no AI task or the endpoint is reachable as far as porch can tell.
Status CheckAgentEndpoint(const Config& config, const Plan& plan);

// Whether the host of `url` ("scheme://[user@]host[:port]/...") is this
// machine as seen by whoever connects: localhost and *.localhost (a final dot
// allowed), IPv4 127/8 and 0.0.0.0 in any form inet_aton accepts, ::1, ::
// and their IPv4-mapped forms. Parses addresses, never matches text: a name
// like 127.example.com is not loopback. Resolves nothing.
bool IsLoopbackUrl(const std::string& url);

}  // namespace porch
