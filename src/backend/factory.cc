#include "backend/factory.h"

#include "backend/aws/aws_backend.h"
#include "backend/docker/docker_backend.h"
#include "backend/local/local_backend.h"
#include "backend/slurm/slurm_backend.h"

namespace porch {

Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               const RunIdentity& identity, Clock* clock,
                                               const std::map<std::string, std::string>& env) {
  if (config.backend == "threading" || config.backend == "local") {
    LocalBackendOptions options;
    // The spawner reads the run's config.json; what porch resolved beyond it
    // (a key given with --set or in porch.yaml) reaches it through its
    // environment, never a file.
    options.env = env;
    if (!config.llm.api_key.empty()) options.env["PORCH_LLM_API_KEY"] = config.llm.api_key;
    return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(layout, clock, options));
  }
  if (config.backend == "docker") {
    return CreateDockerBackend(config, layout, identity, clock, env);
  }
  if (config.backend == "slurm") {
    return CreateSlurmBackend(config, layout, identity, clock, env);
  }
  if (config.backend == "aws") {
    return CreateAwsBackend(config, layout, identity, clock, env);
  }
  return Status::InvalidArgument("unknown backend '" + config.backend +
                                 "' (known: threading, docker, slurm, aws)");
}

}  // namespace porch
