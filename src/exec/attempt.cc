#include "exec/attempt.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "exec/spawn.h"
#include "platform/files.h"

extern char** environ;

namespace porch {

using nlohmann::json;

std::string AttemptResultToJson(const AttemptResult& r) {
  json j = {{"task", r.task_id},
            {"attempt", r.attempt},
            {"exit_code", r.exit_code},
            {"signal", r.term_signal},
            {"ok", r.ok()},
            {"reason", FailureReasonName(r.reason)},
            {"detail", r.detail},
            {"started_at", r.started_at},
            {"finished_at", r.finished_at},
            {"runner_pid", r.runner_pid}};
  if (r.turns || r.rounds || !r.files.empty() || r.usage.total()) {
    json files = json::array();
    for (const FileDigest& f : r.files) {
      files.push_back({{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}});
    }
    j["usage"] = {{"input_tokens", r.usage.input_tokens},
                  {"output_tokens", r.usage.output_tokens},
                  {"cache_creation_input_tokens", r.usage.cache_creation_input_tokens},
                  {"cache_read_input_tokens", r.usage.cache_read_input_tokens}};
    j["cost_usd"] = r.cost_usd;
    j["turns"] = r.turns;
    j["rounds"] = r.rounds;
    j["files"] = files;
  }
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<AttemptResult> ParseAttemptResult(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("exit_code") || !j.contains("reason")) {
    return Status::InvalidArgument("result file '" + source + "' is not a porch result");
  }
  AttemptResult r;
  try {
    r.task_id = j.value("task", "");
    r.attempt = j.value("attempt", 0);
    r.exit_code = j.value("exit_code", 0);
    r.term_signal = j.value("signal", 0);
    r.reason = FailureReasonFromName(j.value("reason", "exit_code"));
    r.detail = j.value("detail", "");
    r.started_at = j.value("started_at", 0.0);
    r.finished_at = j.value("finished_at", 0.0);
    r.runner_pid = j.value("runner_pid", 0);
    if (j.contains("usage")) r.usage = Usage::FromJson(j["usage"]);
    r.cost_usd = j.value("cost_usd", 0.0);
    r.turns = j.value("turns", 0);
    r.rounds = j.value("rounds", 0);
    if (j.contains("files") && j["files"].is_array()) {
      for (const json& f : j["files"]) {
        r.files.push_back({f.value("path", ""), f.value("sha256", ""), f.value("size", uint64_t{0})});
      }
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument("result file '" + source + "': " + e.what());
  }
  return r;
}

Result<AttemptResult> ReadAttemptResult(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (!PathExists(path)) return Status::NotFound("no result file '" + path + "'");
    return text.status();
  }
  return ParseAttemptResult(*text, path);
}

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
  spec.env["PORCH_TASK_ID"] = task.id;
  spec.env["PORCH_ATTEMPT"] = std::to_string(attempt);
  spec.env["PORCH_RUN_DIR"] = layout.dir();
  spec.env["PORCH_ATTEMPT_DIR"] = spec.attempt_dir;
  spec.env["PORCH_OUTPUT_DIR"] = layout.output();
  if (!task.prompt.empty()) {
    spec.prompt = task.prompt;
    spec.acceptance = task.acceptance;
    spec.system_context = AgentContext(plan, task);
    spec.workspace = AbsolutePath(spec.attempt_dir + "/workspace");
    spec.seed_from = AbsolutePath(layout.output());
    spec.agent = AgentSettingsFromConfig(config, AbsolutePath(layout.dir()));
    spec.agent.env = env;
  }
  return spec;
}

std::optional<std::vector<std::string>> SplitSimpleCommand(const std::string& command) {
  static const char* const kShellWords[] = {
      ".",      ":",      "[",      "[[",     "]]",    "!",     "{",        "}",
      "alias",  "bg",     "break",  "case",   "cd",    "command", "continue", "do",
      "done",   "echo",   "elif",   "else",   "esac",  "eval",  "exec",     "exit",
      "export", "false",  "fc",     "fg",     "fi",    "for",   "function", "getopts",
      "hash",   "if",     "in",     "jobs",   "kill",  "local", "printf",   "pwd",
      "read",   "readonly", "return", "select", "set",  "shift", "source",  "test",
      "then",   "times",  "trap",   "true",   "type",  "ulimit", "umask",   "unalias",
      "unset",  "until",  "wait",   "while"};
  std::vector<std::string> words;
  std::string word;
  for (char c : command) {
    bool plain = std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./=:,+@%-", c);
    if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else if (plain && c != '\0') {
      word += c;
    } else {
      return std::nullopt;  // anything the shell would interpret
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.empty() || words[0].find('=') != std::string::npos) return std::nullopt;
  for (const char* w : kShellWords) {
    if (words[0] == w) return std::nullopt;
  }
  return words;
}

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

int Finish(const AttemptSpec& spec, AttemptResult r) {
  r.finished_at = Now();
  r.runner_pid = getpid();
  // No directory fsync: porch journals the outcome as soon as it reads this
  // file, and a result lost with the machine only means the attempt runs
  // again on resume.
  Status st = WriteFileAtomic(spec.result_path, AttemptResultToJson(r), /*sync_dir=*/false);
  if (!st.ok()) {
    std::string msg = "porch exec-task: " + st.message() + "\n";
    ssize_t ignored = write(2, msg.data(), msg.size());
    (void)ignored;
    return kExecNoResult;
  }
  return r.ok() ? kExecOk : kExecTaskFailed;
}

}  // namespace

namespace {

std::vector<std::string> CommandEnv(const AttemptSpec& spec) {
  std::vector<std::pair<std::string, std::string>> extra(spec.env.begin(), spec.env.end());
  return EnvironmentWith(extra);
}

// Fills r from running spec.command.
void RunCommand(const AttemptSpec& spec, AttemptResult* r, bool* cancelled) {
  // Plain commands run directly, as GNU make does: one exec fewer per task.
  std::optional<std::vector<std::string>> words = SplitSimpleCommand(spec.command);
  SpawnSpec s;
  s.argv = words ? *words : std::vector<std::string>{"/bin/sh", "-c", spec.command};
  s.env = CommandEnv(spec);
  s.workdir = spec.workdir;
  s.stdout_path = spec.stdout_path;
  s.stderr_path = spec.stderr_path;
  s.time_limit_s = spec.time_limit_s;
  s.grace_s = spec.grace_s;
  SpawnOutcome o = SpawnAndWait(s, cancelled);
  r->exit_code = o.exit_code;
  r->term_signal = o.term_signal;
  if (o.spawn_errno == ENOENT || o.spawn_errno == EACCES) {
    // What the shell would have said: 127 not found, 126 not executable.
    bool missing = o.spawn_errno == ENOENT;
    r->reason = missing ? FailureReason::kCommandNotFound : FailureReason::kNotExecutable;
    r->detail = std::string(missing ? "command not found: '" : "command not executable: '") +
                s.argv[0] + "'";
    WriteFileFast(spec.stderr_path, "porch: " + r->detail + "\n");
  } else if (o.spawn_errno != 0) {
    r->exit_code = -1;
    r->reason = FailureReason::kSpawnFailed;
    r->detail = std::string("cannot start the command (working directory '") + spec.workdir +
                "'): " + std::strerror(o.spawn_errno);
  } else if (o.cancelled) {
    r->reason = FailureReason::kCancelled;
    r->detail = "cancelled by porch";
  } else if (o.timed_out) {
    r->reason = FailureReason::kTimeout;
    char buf[96];
    std::snprintf(buf, sizeof buf, "time limit of %gs exceeded", spec.time_limit_s);
    r->detail = buf;
  } else if (o.term_signal) {
    r->reason = FailureReason::kSignal;
    r->detail = std::string("killed by signal ") + strsignal(o.term_signal);
  } else if (o.exit_code == 127) {
    r->reason = FailureReason::kCommandNotFound;
    r->detail = "exit 127: command not found (see stderr)";
  } else if (o.exit_code == 126) {
    r->reason = FailureReason::kNotExecutable;
    r->detail = "exit 126: command not executable (see stderr)";
  } else if (o.exit_code != 0) {
    r->reason = FailureReason::kExitCode;
    r->detail = "exit " + std::to_string(o.exit_code);
  }
}

std::string Tail(const std::string& path, size_t n) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return "";
  return text->size() > n ? "..." + text->substr(text->size() - n) : *text;
}

// Fills r from running the agent (and its acceptance check) in a workspace.
void RunAgent(const AttemptSpec& spec, AttemptResult* r, bool* cancelled) {
  Result<std::map<std::string, FileDigest>> seed = SeedWorkspace(spec.seed_from, spec.workspace);
  if (!seed.ok()) {
    r->reason = FailureReason::kSpawnFailed;
    r->detail = "cannot prepare the workspace: " + seed.status().message();
    return;
  }
  Result<std::unique_ptr<Executor>> executor = CreateExecutor(spec.agent);
  if (!executor.ok()) {
    r->reason = FailureReason::kInvalidTask;
    r->detail = executor.status().message();
    return;
  }
  AgentJob job;
  job.task_id = spec.task_id;
  job.prompt = spec.prompt;
  job.system_context = spec.system_context;
  job.workspace = spec.workspace;
  job.stdout_path = spec.stdout_path;
  job.stderr_path = spec.stderr_path;
  job.time_limit_s = spec.time_limit_s;
  job.grace_s = spec.grace_s;
  job.settings = &spec.agent;
  std::string acceptance_log = spec.attempt_dir + "/acceptance.log";
  for (int round = 1;; ++round) {
    r->rounds = round;
    AgentOutcome o = (*executor)->Run(job, cancelled);
    r->usage += o.usage;
    r->cost_usd += o.cost_usd;
    r->turns += o.turns;
    r->exit_code = o.exit_code;
    r->reason = o.reason;
    r->detail = o.detail;
    if (o.reason != FailureReason::kNone || spec.acceptance.empty()) break;
    // The acceptance check, in the workspace, with the task's environment.
    WriteFileFast(acceptance_log + ".round", "");
    SpawnSpec check;
    check.argv = {"/bin/sh", "-c", spec.acceptance};
    check.env = CommandEnv(spec);
    check.workdir = spec.workspace;
    check.stdout_path = acceptance_log + ".round";
    check.stderr_path = acceptance_log + ".round";
    check.append = true;
    check.time_limit_s = spec.time_limit_s > 0 ? spec.time_limit_s : 600;
    check.grace_s = spec.grace_s;
    SpawnOutcome c = SpawnAndWait(check, cancelled);
    std::string output = Tail(acceptance_log + ".round", 4000);
    std::ofstream(acceptance_log, std::ios::app)
        << "== round " << round << ": " << spec.acceptance << " -> exit " << c.exit_code << "\n"
        << output << "\n";
    unlink((acceptance_log + ".round").c_str());
    if (c.cancelled) {
      r->reason = FailureReason::kCancelled;
      r->detail = "cancelled by porch";
      break;
    }
    if (c.exit_code == 0 && !c.timed_out) break;
    r->reason = FailureReason::kAcceptanceFailed;
    r->exit_code = c.exit_code;
    r->detail = "acceptance check '" + spec.acceptance + "' failed (exit " +
                std::to_string(c.exit_code) + ") after " + std::to_string(round) + " round" +
                (round == 1 ? "" : "s") + "; see acceptance.log";
    if (round > spec.agent.acceptance_rounds) break;
    job.feedback = "Your previous work failed the acceptance check `" + spec.acceptance +
                   "` (exit " + std::to_string(c.exit_code) + "). Its output:\n" + output +
                   "\nFix the problems in the files your task owns.";
    job.append_output = true;
  }
  Result<std::map<std::string, FileDigest>> now = DigestTree(spec.workspace);
  if (now.ok()) r->files = ChangedFiles(*seed, *now);
  WriteFileFast(spec.attempt_dir + "/seed.json", [&] {
    json m = json::object();
    for (const auto& [p, d] : *seed) m[p] = d.sha256;
    return m.dump() + "\n";
  }());
}

}  // namespace

int RunAttempt(const AttemptSpec& spec) {
  AttemptResult r;
  r.task_id = spec.task_id;
  r.attempt = spec.attempt;
  r.started_at = Now();
  sigset_t watch, old;
  sigemptyset(&watch);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&watch, s);
  sigprocmask(SIG_BLOCK, &watch, &old);
  bool cancelled = false;
  if (spec.prompt.empty()) {
    RunCommand(spec, &r, &cancelled);
  } else {
    RunAgent(spec, &r, &cancelled);
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return Finish(spec, r);
}

}  // namespace porch
