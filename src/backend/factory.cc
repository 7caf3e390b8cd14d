#include "backend/factory.h"

#include "backend/local/local_backend.h"

namespace porch {

Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               Clock* clock) {
  if (config.backend == "threading" || config.backend == "local") {
    LocalBackendOptions options;
    options.kill_grace_s = config.kill_grace_seconds;
    return std::unique_ptr<Backend>(new LocalBackend(layout, clock, options));
  }
  if (config.backend == "docker" || config.backend == "slurm" || config.backend == "aws") {
    return Status::Infeasible("backend '" + config.backend +
                              "' is not available in this build of porch yet; use "
                              "--backend threading (the local backend)");
  }
  return Status::InvalidArgument("unknown backend '" + config.backend +
                                 "' (known: threading, docker, slurm, aws)");
}

}  // namespace porch
