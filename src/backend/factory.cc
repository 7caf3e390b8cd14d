#include "backend/factory.h"

#include "backend/aws/aws_backend.h"
#include "backend/docker/docker_backend.h"
#include "backend/local/local_backend.h"
#include "backend/merging_backend.h"
#include "backend/slurm/slurm_backend.h"

namespace porch {

Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               Clock* clock, const Plan& plan,
                                               const std::map<std::string, std::string>& env) {
  if (config.backend == "threading" || config.backend == "local") {
    LocalBackendOptions options;
    options.kill_grace_s = config.kill_grace_seconds;
    options.plan = &plan;
    options.config = config;
    options.porch_env = env;
    auto local = std::make_unique<LocalBackend>(layout, clock, options);
    return std::unique_ptr<Backend>(
        new MergingBackend(std::move(local), &plan, layout, config.merge));
  }
  if (config.backend == "docker") {
    Result<std::unique_ptr<Backend>> docker = CreateDockerBackend(config, layout, clock, env);
    if (!docker.ok()) return docker.status();
    return std::unique_ptr<Backend>(
        new MergingBackend(std::move(*docker), &plan, layout, config.merge));
  }
  if (config.backend == "slurm") {
    Result<std::unique_ptr<Backend>> slurm = CreateSlurmBackend(config, layout, clock, env);
    if (!slurm.ok()) return slurm.status();
    return std::unique_ptr<Backend>(
        new MergingBackend(std::move(*slurm), &plan, layout, config.merge));
  }
  if (config.backend == "aws") {
    Result<std::unique_ptr<Backend>> aws = CreateAwsBackend(config, layout, clock, env);
    if (!aws.ok()) return aws.status();
    return std::unique_ptr<Backend>(new MergingBackend(std::move(*aws), &plan, layout, config.merge));
  }
  return Status::InvalidArgument("unknown backend '" + config.backend +
                                 "' (known: threading, docker, slurm, aws)");
}

}  // namespace porch
