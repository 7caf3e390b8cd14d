#include "run/plan_stage.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "backend/docker/docker_planner.h"
#include "llm/factory.h"
#include "platform/files.h"
#include "platform/http.h"
#include "run/runner.h"

namespace porch {

using nlohmann::json;

Result<PlanResult> PlanRequirement(const LoadedConfig& config, const std::string& requirements,
                                   const std::string& dir,
                                   const std::map<std::string, std::string>& env) {
  RealClock clock;
  CurlHttpClient http;
  if (config.config.docker.planner_in_docker) {
    auto host = env.find("DOCKER_HOST");
    DockerClient docker(&http, DockerSocket(config.config.docker.host,
                                            host == env.end() ? "" : host->second));
    PORCH_RETURN_IF_ERROR(docker.Ping().Annotate("planning in a container"));
    std::fprintf(stderr, "porch: planning in a container of %s (docker.planner_in_docker)...\n",
                 config.config.docker.image.c_str());
    return PlanInContainer(docker, config.config, ConfigToStoredJson(config), env, requirements,
                           dir, &clock);
  }
  auto home_var = env.find("HOME");
  std::string home = home_var == env.end() ? "" : home_var->second;
  Result<std::unique_ptr<LlmClient>> llm = CreateLlmClient(config.config, env, home, &http, &clock);
  if (!llm.ok()) return llm.status();
  PORCH_RETURN_IF_ERROR(MakeDirs(dir + "/planner"));
  PlannerOptions options;
  options.min_tasks = config.config.planner.min_tasks;
  options.max_tasks = config.config.planner.max_tasks;
  options.max_attempts = config.config.planner.max_attempts;
  options.max_executors = config.config.max_executors;
  std::fprintf(stderr, "porch: planning with %s (%s)...\n", (*llm)->name().c_str(),
               (*llm)->model().c_str());
  Planner planner(llm->get(), options, [&](const std::string& name, const std::string& raw) {
    WriteFileAtomic(dir + "/planner/" + name + ".txt", raw).IgnoreError();
  });
  Result<PlanResult> result = planner.MakePlan(requirements);
  if (!result.ok()) {
    return result.status().Annotate("the model's answers are in '" + dir + "/planner/'");
  }
  Result<ModelPrice> price = ConfiguredPrice(config.config);
  double cost = price.ok() ? CostUsd(result->usage, *price) : 0;
  json summary = {{"score", result->complexity.score},
                  {"rationale", result->complexity.rationale},
                  {"recommended_tasks", result->complexity.recommended_tasks},
                  {"tasks", result->plan.tasks.size()},
                  {"plan_attempts", result->plan_attempts},
                  {"provider", (*llm)->name()},
                  {"model", (*llm)->model()},
                  {"usage", result->usage.ToJson()},
                  {"cost_usd", cost}};
  PORCH_RETURN_IF_ERROR(WriteFileAtomic(dir + "/planner/summary.json", summary.dump(2) + "\n"));
  return result;
}

}  // namespace porch
