#include "exec/attempt_spec.h"

#include "core/strings.h"
#include "model/result_file.h"
#include "platform/files.h"

namespace porch {

std::string AgentContext(const Plan& plan, const Task& task) {
  std::string c = "You are one of several agents building one project together";
  if (!plan.requirements.empty()) c += ". The project's requirement:\n" + plan.requirements + "\n";
  c += "\nThe plan (task: title [files it owns]):\n";
  auto owns = [](const Task& t) {
    std::string o;
    for (const std::string& f : t.outputs) o += (o.empty() ? "" : ", ") + f;
    return o;
  };
  for (const Task& t : plan.tasks) c += "- " + t.id + ": " + t.title + " [" + owns(t) + "]\n";
  c += "\nYour task is '" + task.id + "'. Create exactly the files it owns: " + owns(task) + ".";
  if (!task.depends_on.empty()) {
    c += " The files of the tasks it depends on are already in the project; use their "
         "interfaces as they are and do not rewrite them:";
    for (const std::string& d : task.depends_on) {
      for (const Task& t : plan.tasks) {
        if (t.id == d) c += "\n- " + t.id + ": " + owns(t);
      }
    }
  }
  if (!task.acceptance.empty()) c += "\nYour work is checked with: " + task.acceptance;
  return c + "\n";
}

AttemptSpec MakeAttemptSpec(const RunLayout& layout, const Plan& plan, const Task& task,
                            int attempt, double time_limit_s, const Config& config,
                            const std::map<std::string, std::string>& env) {
  AttemptSpec spec;
  spec.task_id = task.id;
  spec.attempt = attempt;
  spec.command = task.command;
  spec.workdir = layout.output();
  spec.attempt_dir = layout.attempt_dir(task.id, attempt);
  spec.stdout_path = layout.stdout_path(task.id, attempt);
  spec.stderr_path = layout.stderr_path(task.id, attempt);
  spec.result_path = layout.result_path(task.id, attempt);
  spec.time_limit_s = time_limit_s;
  spec.grace_s = config.kill_grace_seconds;
  spec.max_output_bytes = ParseMemory(config.limits.max_output_bytes).value_or(0);
  spec.env["PORCH_TASK_ID"] = task.id;
  spec.env["PORCH_ATTEMPT"] = std::to_string(attempt);
  spec.env["PORCH_RUN_DIR"] = layout.dir();
  spec.env["PORCH_ATTEMPT_DIR"] = spec.attempt_dir;
  spec.env["PORCH_OUTPUT_DIR"] = layout.output();
  spec.outputs = task.outputs;
  spec.outputs_declared = task.outputs_declared;
  if (task.is_agent() || config.merge.isolate_commands == "true") {
    spec.workspace = AbsolutePath(spec.attempt_dir + "/workspace");
    spec.seed_from = AbsolutePath(layout.output());
  }
  if (!task.is_agent() && !spec.workspace.empty()) {
    // An isolated command: its output/ is the workspace the merge reads.
    spec.workdir = spec.workspace;
    spec.env["PORCH_OUTPUT_DIR"] = spec.workspace;
  }
  if (!task.prompt.empty()) {
    spec.prompt = task.prompt;
    spec.acceptance = task.acceptance;
    spec.system_context = AgentContext(plan, task);
    spec.agent = AgentSettingsFromConfig(config, AbsolutePath(layout.dir()));
    // A HOME per attempt: CLI agents running at once never share its files
    // (~/.claude.json and the rest are rewritten as they run).
    spec.agent.home = AbsolutePath(spec.attempt_dir) + "/.agent-home";
    spec.agent.env = env;
    if (attempt > 1) {
      // The agent learns why the last try failed (a missing output, a
      // failed check), so a retry is not the same try again.
      Result<AttemptResult> last = ReadAttemptResult(layout.result_path(task.id, attempt - 1));
      if (last.ok() && !last->ok()) {
        spec.previous_failure = std::string(FailureReasonName(last->reason)) +
                                (last->detail.empty() ? "" : ": " + last->detail.substr(0, 2000));
      }
      // A merge conflict is decided after the result file was written (the
      // journal has it); the versions with conflict markers are in the
      // attempt's conflicts.txt.
      Result<std::string> marked = ReadFile(layout.attempt_dir(task.id, attempt - 1) + "/conflicts.txt");
      if (marked.ok()) {
        spec.previous_failure =
            "its files conflicted with another task's changes, which are in the project now. "
            "Both versions, with conflict markers:\n" + *marked +
            "\nKeep the other task's changes and redo yours on top of them";
      }
    }
  }
  return spec;
}

}  // namespace porch
