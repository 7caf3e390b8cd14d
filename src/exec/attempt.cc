#include "exec/attempt.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <vector>

#include "agent/executor.h"
#include "exec/command_line.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/spawn.h"
#include "platform/tree.h"

namespace porch {

using nlohmann::json;

namespace {

// An acceptance check of a task without a time limit still ends.
constexpr double kAcceptanceTimeLimitSeconds = 600;
// How much of a failed check's output goes back to the agent.
constexpr size_t kFeedbackTailBytes = 4000;


void Complain(const std::string& what) {
  std::string msg = "porch exec-task: " + what + "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
}

// A result too long for the room kept for it (an agent's long file list):
// the outcome without the lists, its detail cut, still fits.
void TrimToFit(AttemptResult* r) {
  r->files.clear();
  r->deleted.clear();
  r->detail = r->detail.substr(0, 4096);
}

// The result as one record of the results log (one write: concurrent
// supervisors append to the same file). It fits the room the spawner keeps.
int FinishInLog(const AttemptSpec& spec, AttemptResult r) {
  std::string record = ResultLogRecord(r);
  if (record.size() > kResultRoomBytes) {
    TrimToFit(&r);
    record = ResultLogRecord(r);
  }
  Status st = AppendRecord(spec.result_log_fd, record, "results.log");
  if (!st.ok()) {
    Complain(st.message());
    return kExecNoResult;
  }
  return r.ok() ? kExecOk : kExecTaskFailed;
}

int Finish(const AttemptSpec& spec, AttemptResult r, ReservedFile* slot) {
  r.finished_at = WallSeconds();
  r.runner_pid = getpid();
  if (slot == nullptr) return FinishInLog(spec, std::move(r));
  // No directory fsync: porch journals the outcome as soon as it reads this
  // file, and a result lost with the machine only means the attempt runs
  // again on resume.
  std::string text = AttemptResultToJson(r);
  Status st = text.size() <= slot->bytes()
                  ? slot->Commit(text)
                  : WriteFileAtomic(spec.result_path, text, /*sync_dir=*/false);
  if (!st.ok() && text.size() > slot->bytes()) {
    // Too long for the room kept (an agent's long file list): the outcome
    // without the list still fits.
    Complain(st.message() + "; writing the result without its file list");
    TrimToFit(&r);
    st = slot->Commit(AttemptResultToJson(r));
  }
  if (!st.ok()) {
    Complain(st.message());
    return kExecNoResult;
  }
  return r.ok() ? kExecOk : kExecTaskFailed;
}

}  // namespace

namespace {

// Adds a line of porch's own to the attempt's stderr (made with its
// directory when the output is lazy and the command printed nothing).
void AppendNote(const AttemptSpec& spec, const std::string& line) {
  if (spec.lazy_output) MakeDirs(DirName(spec.stderr_path)).IgnoreError();
  std::ofstream(spec.stderr_path, std::ios::app) << "porch: " << line << "\n";
}

// A command's environment: `base` with the task's PORCH_* settings, without
// porch's credentials (only agents get those).
std::vector<std::string> CommandEnv(const AttemptSpec& spec,
                                    const std::map<std::string, std::string>& base) {
  std::vector<std::pair<std::string, std::string>> extra(spec.env.begin(), spec.env.end());
  return EnvironmentFrom(base, extra, SecretVariables());
}

// Fills r from how the command `program` (argv[0]) ended.
void FillFromOutcome(const AttemptSpec& spec, const std::string& program, const SpawnOutcome& o,
                     AttemptResult* r) {
  r->exit_code = o.exit_code;
  r->term_signal = o.term_signal;
  if (o.spawn_errno == ENOENT || o.spawn_errno == EACCES) {
    // What the shell would have said: 127 not found, 126 not executable.
    bool missing = o.spawn_errno == ENOENT;
    r->reason = missing ? FailureReason::kCommandNotFound : FailureReason::kNotExecutable;
    r->detail = std::string(missing ? "command not found: '" : "command not executable: '") +
                program + "'";
    AppendNote(spec, r->detail);
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

// Fills r from running spec.command.
void RunCommand(const AttemptSpec& spec, AttemptResult* r, bool* cancelled) {
  SpawnSpec s = CommandSpawnSpec(spec, CurrentEnvironment());
  FillFromOutcome(spec, s.argv[0], SpawnAndWait(s, cancelled), r);
}

// The declared-outputs contract, checked once a task has otherwise
// succeeded: every output exists under `root`, and an AI task without
// declared outputs changed something (`files` were listed when `listed`).
void CheckOutputs(const AttemptSpec& spec, const std::string& root, bool listed, AttemptResult* r) {
  std::string missing;
  for (const std::string& o : spec.outputs) {
    // "dir/", "./a", "a//b" name what "dir", "a", "a/b" do.
    std::string path;
    for (size_t start = 0; start <= o.size();) {
      size_t slash = o.find('/', start);
      std::string part = o.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!part.empty() && part != ".") path += (path.empty() ? "" : "/") + part;
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    // Beneath the root: a linked parent directory does not count.
    if (path.empty() || !ExistsBeneath(root, path)) missing += (missing.empty() ? "'" : ", '") + o + "'";
  }
  if (!missing.empty()) {
    r->reason = FailureReason::kMissingOutputs;
    r->detail = "the task ended without creating its declared outputs: " + missing;
  } else if (!spec.prompt.empty() && !spec.outputs_declared && listed && r->files.empty() &&
             r->deleted.empty()) {
    r->reason = FailureReason::kMissingOutputs;
    r->detail = "the agent changed no file (a prompt task must create or change files; declare "
                "`outputs: []` if this one need not)";
  }
  if (r->reason == FailureReason::kMissingOutputs) {
    AppendNote(spec, r->detail);
  }
}

std::string Tail(const std::string& path, size_t n) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return "";
  return text->size() > n ? "..." + text->substr(text->size() - n) : *text;
}

// Keeps a copy of the seeded text files (base/ in the attempt directory):
// the base a three-way merge needs when another task changed a file this
// one changes too. Best effort: without it such a case is a conflict.
void SaveMergeBase(const AttemptSpec& spec, const std::map<std::string, FileDigest>& seed) {
  constexpr uint64_t kMaxBaseFileBytes = 1 << 20;  // larger files are not merged three ways
  if (seed.empty() || !MakeDirs(spec.attempt_dir + "/base").ok()) return;
  for (const auto& [rel, d] : seed) {
    if (d.size > kMaxBaseFileBytes) continue;
    Result<FileBeneath> f = ReadFileBeneath(spec.workspace, rel);
    if (f.ok()) WriteFileBeneath(spec.attempt_dir + "/base", rel, f->data, f->mode).IgnoreError();
  }
}

// The agent's job for its first round.
AgentJob FirstJob(const AttemptSpec& spec) {
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
  if (!spec.previous_failure.empty()) {
    job.feedback = "A previous attempt of this task failed (" + spec.previous_failure +
                   "). Make sure this attempt does not fail the same way.";
  }
  return job;
}

// Seeds the attempt's workspace from the merged output (and keeps the merge
// base); nullopt, with r saying why, when it cannot.
std::optional<std::map<std::string, FileDigest>> PrepareWorkspace(const AttemptSpec& spec, AttemptResult* r) {
  Result<std::map<std::string, FileDigest>> seed = SeedWorkspace(spec.seed_from, spec.workspace);
  if (!seed.ok()) {
    r->reason = FailureReason::kSpawnFailed;
    r->detail = "cannot prepare the workspace: " + seed.status().message();
    return std::nullopt;
  }
  SaveMergeBase(spec, *seed);
  return std::move(*seed);
}

// Once the work in a workspace is over: what it changed and deleted (for the
// merge), the declared-outputs contract, and seed.json (what it was given).
void ListWorkspaceChanges(const AttemptSpec& spec, const std::map<std::string, FileDigest>& seed,
                          AttemptResult* r) {
  Result<std::map<std::string, FileDigest>> now = DigestTree(spec.workspace);
  if (now.ok()) {
    r->files = ChangedFiles(seed, *now);
    for (const auto& [rel, d] : seed) {
      if (!now->count(rel)) r->deleted.push_back(rel);
    }
  }
  if (r->reason == FailureReason::kNone) CheckOutputs(spec, spec.workspace, now.ok(), r);
  WriteFileFast(spec.attempt_dir + "/seed.json", [&] {
    json m = json::object();
    for (const auto& [p, d] : seed) m[p] = d.sha256;
    return m.dump() + "\n";
  }()).IgnoreError();  // the merge treats a missing seed.json as "saw nothing"
}

// Fills r from running the agent (and its acceptance check) in a workspace.
void RunAgent(const AttemptSpec& spec, AttemptResult* r, bool* cancelled) {
  std::optional<std::map<std::string, FileDigest>> seed = PrepareWorkspace(spec, r);
  if (!seed) return;
  Result<std::unique_ptr<Executor>> executor = CreateExecutor(spec.agent);
  if (!executor.ok()) {
    r->reason = FailureReason::kInvalidTask;
    r->detail = executor.status().message();
    return;
  }
  AgentJob job = FirstJob(spec);
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
    WriteFileFast(acceptance_log + ".round", "").IgnoreError();
    SpawnSpec check;
    check.argv = {"/bin/sh", "-c", spec.acceptance};
    check.env = CommandEnv(spec, CurrentEnvironment());
    check.workdir = spec.workspace;
    check.stdout_path = acceptance_log + ".round";
    check.stderr_path = acceptance_log + ".round";
    check.append = true;
    check.time_limit_s = spec.time_limit_s > 0 ? spec.time_limit_s : kAcceptanceTimeLimitSeconds;
    check.grace_s = spec.grace_s;
    SpawnOutcome c = SpawnAndWait(check, cancelled);
    std::string output = Tail(acceptance_log + ".round", kFeedbackTailBytes);
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
  ListWorkspaceChanges(spec, *seed, r);
}

}  // namespace

SpawnSpec CommandSpawnSpec(const AttemptSpec& spec, const std::map<std::string, std::string>& env) {
  // Plain commands run directly, as GNU make does: one exec fewer per task.
  std::optional<std::vector<std::string>> words = SplitSimpleCommand(spec.command);
  SpawnSpec s;
  s.argv = words ? std::move(*words) : std::vector<std::string>{"/bin/sh", "-c", spec.command};
  s.env = CommandEnv(spec, env);
  s.workdir = spec.workdir;
  s.stdout_path = spec.stdout_path;
  s.stderr_path = spec.stderr_path;
  s.time_limit_s = spec.time_limit_s;
  s.grace_s = spec.grace_s;
  s.max_output_bytes = spec.max_output_bytes;
  s.lazy_output = spec.lazy_output;
  return s;
}

AttemptResult CommandAttemptResult(const AttemptSpec& spec, const std::string& program,
                                   const SpawnOutcome& outcome, double started_at) {
  AttemptResult r;
  r.task_id = spec.task_id;
  r.attempt = spec.attempt;
  r.started_at = started_at;
  FillFromOutcome(spec, program, outcome, &r);
  if (r.reason == FailureReason::kNone) CheckOutputs(spec, spec.workdir, false, &r);
  return r;
}

int RecordResult(const AttemptSpec& spec, AttemptResult r) {
  r.finished_at = WallSeconds();
  r.runner_pid = getpid();
  return FinishInLog(spec, std::move(r));
}

int RunAttempt(const AttemptSpec& spec) {
  std::optional<ReservedFile> slot;  // none: the results log, whose room the spawner keeps
  if (spec.result_log_fd < 0) {
    Result<ReservedFile> reserved = ReservedFile::Reserve(spec.result_path, kResultRoomBytes);
    if (!reserved.ok()) {
      Complain(reserved.status().message() + " (the task was not started)");
      return kExecNotStarted;
    }
    slot.emplace(std::move(*reserved));
  }
  AttemptResult r;
  r.task_id = spec.task_id;
  r.attempt = spec.attempt;
  r.started_at = WallSeconds();
  sigset_t watch, old;
  sigemptyset(&watch);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&watch, s);
  sigprocmask(SIG_BLOCK, &watch, &old);
  bool cancelled = false;
  BecomeSubreaper();  // what the task starts, even in a session of its own, ends with it
  if (spec.prompt.empty() && spec.workspace.empty()) {
    RunCommand(spec, &r, &cancelled);
    if (r.reason == FailureReason::kNone) CheckOutputs(spec, spec.workdir, false, &r);
  } else if (spec.prompt.empty()) {  // an isolated command (merge.isolate_commands)
    if (std::optional<std::map<std::string, FileDigest>> seed = PrepareWorkspace(spec, &r)) {
      RunCommand(spec, &r, &cancelled);
      ListWorkspaceChanges(spec, *seed, &r);
    }
  } else {
    RunAgent(spec, &r, &cancelled);
  }
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return Finish(spec, r, slot ? &*slot : nullptr);
}

}  // namespace porch
