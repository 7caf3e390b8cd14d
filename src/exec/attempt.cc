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
#include <nlohmann/json.hpp>
#include <vector>

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

AttemptSpec CommandAttemptSpec(const RunLayout& layout, const Task& task, int attempt,
                               double time_limit_s, double grace_s) {
  AttemptSpec spec;
  spec.task_id = task.id;
  spec.attempt = attempt;
  spec.command = task.command;
  spec.workdir = layout.output();
  spec.stdout_path = layout.stdout_path(task.id, attempt);
  spec.stderr_path = layout.stderr_path(task.id, attempt);
  spec.result_path = layout.result_path(task.id, attempt);
  spec.time_limit_s = time_limit_s;
  spec.grace_s = grace_s;
  spec.env["PORCH_TASK_ID"] = task.id;
  spec.env["PORCH_ATTEMPT"] = std::to_string(attempt);
  spec.env["PORCH_RUN_DIR"] = layout.dir();
  spec.env["PORCH_ATTEMPT_DIR"] = layout.attempt_dir(task.id, attempt);
  spec.env["PORCH_OUTPUT_DIR"] = layout.output();
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

double Monotonic() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
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

std::vector<std::string> BuildEnv(const AttemptSpec& spec) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    std::string name = kv.substr(0, kv.find('='));
    if (!spec.env.count(name)) env.push_back(kv);
  }
  for (const auto& [k, v] : spec.env) env.push_back(k + "=" + v);
  return env;
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

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, spec.stdout_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, spec.stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&actions, spec.workdir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);

  std::vector<std::string> env_strings = BuildEnv(spec);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  // Plain commands run directly, as GNU make does: one exec fewer per task.
  std::optional<std::vector<std::string>> words = SplitSimpleCommand(spec.command);
  if (!words) words = std::vector<std::string>{"/bin/sh", "-c", spec.command};
  std::vector<char*> argv;
  for (std::string& w : *words) argv.push_back(w.data());
  argv.push_back(nullptr);

  pid_t child = 0;
  int err = IsDirectory(spec.workdir) ? 0 : ENOTDIR;
  if (err == 0) {
    err = posix_spawnp(&child, argv[0], &actions, &attr, argv.data(), envp.data());
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err == ENOENT || err == EACCES) {
    // What the shell would have said: 127 not found, 126 not executable.
    bool missing = err == ENOENT;
    r.exit_code = missing ? 127 : 126;
    r.reason = missing ? FailureReason::kCommandNotFound : FailureReason::kNotExecutable;
    r.detail = std::string(missing ? "command not found: '" : "command not executable: '") +
               argv[0] + "'";
    WriteFileFast(spec.stderr_path, "porch: " + r.detail + "\n");
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return Finish(spec, r);
  }
  if (err != 0) {
    r.exit_code = -1;
    r.reason = FailureReason::kSpawnFailed;
    r.detail = std::string("cannot start the command (working directory '") + spec.workdir +
               "', output files in the attempt directory): " + std::strerror(err);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    return Finish(spec, r);
  }

  const double start = Monotonic();
  double limit_at = spec.time_limit_s > 0 ? start + spec.time_limit_s : 0;
  double kill_at = 0;  // when SIGKILL follows the SIGTERM
  bool timed_out = false, cancelled = false;
  int status = 0;
  while (true) {
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) break;
    double now = Monotonic();
    if (limit_at > 0 && now >= limit_at && kill_at == 0) {
      timed_out = true;
      kill(-child, SIGTERM);
      kill_at = now + spec.grace_s;
    }
    if (kill_at > 0 && now >= kill_at) {
      kill(-child, SIGKILL);
      kill_at = now + 3600;  // sent; just wait for it
    }
    double next = 3600;
    if (limit_at > 0 && kill_at == 0) next = limit_at - now;
    if (kill_at > 0) next = std::min(next, kill_at - now);
    next = std::max(next, 0.001);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(next);
    ts.tv_nsec = static_cast<long>((next - std::floor(next)) * 1e9);
    siginfo_t info;
    int sig = sigtimedwait(&watch, &info, &ts);
    if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !cancelled) {
      cancelled = true;
      kill(-child, SIGTERM);
      double t = Monotonic();
      if (kill_at == 0 || kill_at > t + spec.grace_s) kill_at = t + spec.grace_s;
    }
  }
  // Whatever the command left in its group does not outlive the attempt.
  kill(-child, SIGKILL);
  sigprocmask(SIG_SETMASK, &old, nullptr);

  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.term_signal = WTERMSIG(status);
    r.exit_code = 128 + r.term_signal;
  }
  if (cancelled) {
    r.reason = FailureReason::kCancelled;
    r.detail = "cancelled by porch";
  } else if (timed_out) {
    r.reason = FailureReason::kTimeout;
    char buf[96];
    std::snprintf(buf, sizeof buf, "time limit of %gs exceeded", spec.time_limit_s);
    r.detail = buf;
  } else if (r.term_signal) {
    r.reason = FailureReason::kSignal;
    r.detail = std::string("killed by signal ") + strsignal(r.term_signal);
  } else if (r.exit_code == 127) {
    r.reason = FailureReason::kCommandNotFound;
    r.detail = "exit 127: command not found (see stderr)";
  } else if (r.exit_code == 126) {
    r.reason = FailureReason::kNotExecutable;
    r.detail = "exit 126: command not executable (see stderr)";
  } else if (r.exit_code != 0) {
    r.reason = FailureReason::kExitCode;
    r.detail = "exit " + std::to_string(r.exit_code);
  }
  return Finish(spec, r);
}

}  // namespace porch
