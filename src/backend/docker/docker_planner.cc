#include "backend/docker/docker_planner.h"

#include <nlohmann/json.hpp>

#include "plan/plan_parser.h"
#include "plan/validate.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

std::string Tail(const std::string& text) {
  return text.size() > 600 ? "..." + text.substr(text.size() - 600) : text;
}

}  // namespace

Result<PlanResult> PlanInContainer(DockerClient& client, const Config& config,
                                   const std::string& stored_config,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& requirements, const std::string& dir,
                                   Clock* clock, double timeout_s) {
  const std::string abs = AbsolutePath(dir);
  const std::string io = abs + "/planner-io";
  const std::string what = "planning in a container (docker.planner_in_docker)";
  PORCH_RETURN_IF_ERROR(MakeDirs(io).Annotate(what));
  PORCH_RETURN_IF_ERROR(MakeDirs(abs + "/planner").Annotate(what));
  PORCH_RETURN_IF_ERROR(WriteFileAtomic(io + "/requirements.txt", requirements).Annotate(what));
  PORCH_RETURN_IF_ERROR(WriteFileAtomic(io + "/config.json", stored_config).Annotate(what));
  Result<bool> have = client.ImageExists(config.docker.image);
  if (!have.ok()) return have.status().Annotate(what);
  if (!*have) {
    return Status::NotFound(what + ": image '" + config.docker.image +
                            "' is not in the engine, and porch never pulls; build it with "
                            "docker/build.sh or set docker.image");
  }

  ContainerSpec spec;
  spec.image = config.docker.image;
  spec.cmd = {config.docker.porch_path, "plan", "--config", io + "/config.json",
              "--output-dir", io, "--set", "docker.planner_in_docker=false",
              "--requirements-file", io + "/requirements.txt", "--plan-id", "plan", "--json"};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + io};
  for (const char* name : {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "AWS_ACCESS_KEY_ID",
                           "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                           "AWS_PROFILE"}) {
    auto it = env.find(name);
    if (it != env.end()) spec.env.push_back(std::string(name) + "=" + it->second);
  }
  if (!config.llm.api_key.empty() && !env.count("ANTHROPIC_API_KEY")) {
    spec.env.push_back("ANTHROPIC_API_KEY=" + config.llm.api_key);
  }
  spec.labels = {{"porch.role", "planner"}, {"porch.plan_dir", abs}};
  spec.binds = {io + ":" + io};
  spec.working_dir = io;
  spec.network = config.docker.planner_network;
  spec.pids_limit = 4096;

  Result<std::string> id = client.CreateContainer(spec);
  if (!id.ok()) return id.status().Annotate(what);
  Status st = client.StartContainer(*id);
  const double deadline = clock->Now() + timeout_s;
  Result<ContainerState> state = Status::Internal("not inspected");
  while (st.ok()) {
    state = client.Inspect(*id);
    if (!state.ok() || !state->running) break;
    if (clock->Now() > deadline) {
      client.KillContainer(*id, "SIGKILL").IgnoreError();
      st = Status::Unavailable(what + ": the planner container ran past " +
                               std::to_string(static_cast<int>(timeout_s)) + "s");
      break;
    }
    clock->SleepUntil(clock->Now() + 0.2);
  }
  std::string out, err;
  client.Logs(*id, &out, &err).IgnoreError();
  WriteFileFast(abs + "/planner/container.log", out + err).IgnoreError();
  client.RemoveContainer(*id).IgnoreError();
  if (!st.ok()) return st.Annotate(what);
  if (!state.ok()) return state.status().Annotate(what);
  if (state->exit_code != 0) {
    return Status::Internal(what + ": the planner container exited " +
                            std::to_string(state->exit_code) + ": " + Tail(err.empty() ? out : err) +
                            " (all of it in " + abs + "/planner/container.log)");
  }

  // The container's planner/ output joins the run's.
  const std::string made = io + "/plans/plan";
  Result<std::vector<std::string>> raw = ListDir(made + "/planner");
  if (raw.ok()) {
    for (const std::string& f : *raw) {
      Result<std::string> text = ReadFile(made + "/planner/" + f);
      if (text.ok()) WriteFileFast(abs + "/planner/" + f, *text).IgnoreError();
    }
  }
  Result<Plan> plan = LoadPlanFile(made + "/plan.json");
  if (!plan.ok()) return plan.status().Annotate(what + ": the container left no usable plan");
  PORCH_RETURN_IF_ERROR(ValidatePlan(*plan).Annotate(what + ": the planned DAG is not valid"));
  PlanResult r;
  r.plan = std::move(*plan);
  Result<std::string> summary = ReadFile(made + "/planner/summary.json");
  json s = summary.ok() ? json::parse(*summary, nullptr, false) : json();
  if (s.is_object()) {
    r.complexity.score = s.value("score", 0);
    r.complexity.rationale = s.value("rationale", "");
    r.complexity.recommended_tasks = s.value("recommended_tasks", 0);
    r.plan_attempts = s.value("plan_attempts", 1);
    if (s.contains("usage")) r.usage = Usage::FromJson(s["usage"]);
  }
  r.complexity.tasks = static_cast<int>(r.plan.tasks.size());
  return r;
}

}  // namespace porch
