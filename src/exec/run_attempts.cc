#include "exec/run_attempts.h"

#include "llm/factory.h"
#include "plan/plan_parser.h"
#include "platform/files.h"

namespace porch {

Result<std::unique_ptr<RunAttempts>> RunAttempts::Load(const std::string& run_dir,
                                                       std::map<std::string, std::string> env) {
  RunLayout layout(run_dir);
  Result<Plan> plan = LoadPlanFile(layout.plan());
  if (!plan.ok()) return plan.status().Annotate("run '" + run_dir + "'");
  ConfigLoader loader;
  // As a file, below the environment: the environment an attempt gets is
  // the one porch resolved for it (a key passed in a container's
  // environment beats the key file path config.json names on the host).
  if (PathExists(layout.config())) PORCH_RETURN_IF_ERROR(loader.ApplyFile(layout.config()));
  PORCH_RETURN_IF_ERROR(loader.ApplyEnv(env));
  // Where the attempt runs, the key may come from llm.api_key_file (a SLURM
  // node that is not given the environment) or from this place's own AWS
  // profile; an unusable key file only matters to AI tasks.
  LoadedConfig config = loader.loaded();
  auto home = env.find("HOME");
  Status access = ResolveLlmAccess(&config, &env, home == env.end() ? "" : home->second,
                                   /*ask_instance_metadata=*/false);
  bool agents = false;
  for (const Task& t : plan->tasks) agents |= t.is_agent();
  if (!access.ok() && agents) return access.Annotate("run '" + run_dir + "'");
  // "auto" decided here, once: MakeAttemptSpec reads true or false.
  config.config.merge.isolate_commands = config.config.merge.IsolatesCommands(agents) ? "true" : "false";
  return std::unique_ptr<RunAttempts>(
      new RunAttempts(layout, std::move(*plan), config.config, std::move(env)));
}

Result<AttemptSpec> RunAttempts::Prepare(const std::string& task_id, int attempt,
                                         double time_limit_s, double grace_s,
                                         int result_log_fd) const {
  int64_t index = dag_.Find(task_id);
  if (index < 0 || attempt < 1) {
    return Status::InvalidArgument("run '" + layout_.dir() + "' has no task '" + task_id +
                                   "' (or attempt " + std::to_string(attempt) + " is invalid)");
  }
  const Task& task = plan_.tasks[static_cast<size_t>(index)];
  double limit = task.resources.time_limit_s > 0 ? task.resources.time_limit_s
                                                 : config_.default_time_limit_seconds;
  if (time_limit_s >= 0) limit = time_limit_s;  // the backend's (a SLURM retry may double it)
  // A command that prints nothing keeps nothing: no directory of its own.
  const bool lazy = result_log_fd >= 0 && !task.is_agent() && config_.merge.isolate_commands != "true" &&
                    task.command.find("PORCH_ATTEMPT_DIR") == std::string::npos;
  if (!lazy) PORCH_RETURN_IF_ERROR(MakeDirs(layout_.attempt_dir(task_id, attempt)));
  if (!IsDirectory(layout_.output())) PORCH_RETURN_IF_ERROR(MakeDirs(layout_.output()));
  AttemptSpec spec = MakeAttemptSpec(layout_, plan_, task, attempt, limit, config_, env_);
  if (grace_s >= 0) spec.grace_s = grace_s;
  if (lazy) {
    spec.result_log_fd = result_log_fd;
    spec.lazy_output = true;
  }
  return spec;
}

}  // namespace porch
