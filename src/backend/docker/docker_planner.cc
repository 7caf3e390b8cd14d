#include "backend/docker/docker_planner.h"

#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "plan/plan_parser.h"
#include "plan/validate.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

// How much of a failed planner container's output the error quotes.
constexpr size_t kErrorTailBytes = 600;
// How often the planner container is looked at.
constexpr double kPollSeconds = 0.2;

std::string Tail(const std::string& text) {
  return text.size() > kErrorTailBytes ? "..." + text.substr(text.size() - kErrorTailBytes) : text;
}

}  // namespace

namespace {

const char* const kWhat = "planning in a container (docker.planner_in_docker)";

// The container that runs `porch plan` on the files in `io` (mounted at the
// same path), with the credentials porch resolved.
ContainerSpec PlannerSpec(const Config& config, const std::map<std::string, std::string>& env,
                          const std::string& io) {
  ContainerSpec spec;
  spec.image = config.docker.image;
  spec.cmd = {config.docker.porch_path, "plan", "--config", io + "/config.json",
              "--output-dir", io, "--set", "docker.planner_in_docker=false",
              "--requirements-file", io + "/requirements.txt", "--plan-id", "plan", "--json"};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + io};
  for (std::string& proxy : ContainerProxies(env, config.docker.planner_network)) spec.env.push_back(std::move(proxy));
  for (const std::vector<std::string>* names : {&SecretVariables(), &LlmVariables()}) {
    for (const std::string& name : *names) {
      if (auto it = env.find(name); it != env.end()) spec.env.push_back(name + "=" + it->second);
    }
  }
  if (!config.llm.api_key.empty() && !env.count("ANTHROPIC_API_KEY")) {
    spec.env.push_back("ANTHROPIC_API_KEY=" + config.llm.api_key);
  }
  spec.labels = {{"porch.role", "planner"}, {"porch.plan_dir", DirName(io)}};
  spec.binds = {io + ":" + io};
  spec.working_dir = io;
  // As the user who runs porch: what it writes in the run directory is theirs.
  spec.user = std::to_string(geteuid()) + ":" + std::to_string(getegid());
  spec.network = config.docker.planner_network;
  spec.pids_limit = kContainerPidsLimit;
  return spec;
}

// Runs the container to its end (killed past `timeout_s`), keeps its log in
// `log_path`, removes it; its exit code.
Result<int> RunToEnd(DockerClient& client, const ContainerSpec& spec, Clock* clock,
                     double timeout_s, const std::string& log_path, std::string* output) {
  Result<std::string> id = client.CreateContainer(spec);
  if (!id.ok()) return id.status();
  Status st = client.StartContainer(*id);
  const double deadline = clock->Now() + timeout_s;
  Result<ContainerState> state = Status::Internal("not inspected");
  while (st.ok()) {
    state = client.Inspect(*id);
    if (!state.ok() || !state->running) break;
    if (clock->Now() > deadline) {
      client.KillContainer(*id, "SIGKILL").IgnoreError();
      st = Status::Unavailable("the planner container ran past " +
                               std::to_string(static_cast<int>(timeout_s)) + "s");
      break;
    }
    clock->SleepUntil(clock->Now() + kPollSeconds);
  }
  std::string out, err;
  client.Logs(*id, &out, &err).IgnoreError();
  WriteFileFast(log_path, out + err).IgnoreError();
  client.RemoveContainer(*id).IgnoreError();
  PORCH_RETURN_IF_ERROR(st);
  if (!state.ok()) return state.status();
  *output = err.empty() ? out : err;
  return state->exit_code;
}

// What the container planned: its plan (validated) and summary.
Result<PlanResult> ReadContainerPlan(const std::string& made, const std::string& planner_dir) {
  // The container's planner/ output joins the run's.
  Result<std::vector<std::string>> raw = ListDir(made + "/planner");
  if (raw.ok()) {
    for (const std::string& f : *raw) {
      Result<std::string> text = ReadFile(made + "/planner/" + f);
      if (text.ok()) WriteFileFast(planner_dir + "/" + f, *text).IgnoreError();
    }
  }
  Result<Plan> plan = LoadPlanFile(made + "/plan.json");
  if (!plan.ok()) return plan.status().Annotate("the container left no usable plan");
  PORCH_RETURN_IF_ERROR(ValidatePlan(*plan).Annotate("the planned DAG is not valid"));
  PlanResult r;
  r.plan = std::move(*plan);
  Result<std::string> summary = ReadFile(made + "/planner/summary.json");
  json s = summary.ok() ? json::parse(*summary, nullptr, false) : json();
  if (s.is_object()) {
    auto number = [&](const char* k) { return s.contains(k) && s[k].is_number_integer() ? s[k].get<int>() : 0; };
    r.complexity.score = number("score");
    r.complexity.rationale = s.contains("rationale") && s["rationale"].is_string()
                                 ? s["rationale"].get<std::string>()
                                 : "";
    r.complexity.recommended_tasks = number("recommended_tasks");
    r.plan_attempts = std::max(1, number("plan_attempts"));
    if (s.contains("usage")) r.usage = Usage::FromJson(s["usage"]);
  }
  r.complexity.tasks = static_cast<int>(r.plan.tasks.size());
  return r;
}

}  // namespace

Result<PlanResult> PlanInContainer(DockerClient& client, const Config& config,
                                   const std::string& stored_config,
                                   const std::map<std::string, std::string>& env,
                                   const std::string& requirements, const std::string& dir,
                                   Clock* clock, double timeout_s) {
  const std::string abs = AbsolutePath(dir);
  const std::string io = abs + "/planner-io";
  const std::string what = kWhat;
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
  std::string output;
  const std::string log = abs + "/planner/container.log";
  ContainerSpec spec = PlannerSpec(config, env, io);
  if (Result<bool> mapped = client.MapsUsers(); mapped.ok() && *mapped) spec.user = "";  // rootless
  Result<int> exit_code = RunToEnd(client, spec, clock, timeout_s, log, &output);
  if (!exit_code.ok()) return exit_code.status().Annotate(what);
  if (*exit_code != 0) {
    return Status::Internal(what + ": the planner container exited " + std::to_string(*exit_code) +
                            ": " + Tail(output) + " (all of it in " + log + ")");
  }
  Result<PlanResult> r = ReadContainerPlan(io + "/plans/plan", abs + "/planner");
  if (!r.ok()) return r.status().Annotate(what);
  return r;
}

}  // namespace porch
