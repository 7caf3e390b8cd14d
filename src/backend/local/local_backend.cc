#include "backend/local/local_backend.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "backend/verdict.h"
#include "exec/attempt.h"
#include "platform/files.h"

namespace porch {

unsigned long long ProcessStartTicks(int pid) {
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return 0;
  // The command name (field 2) may hold spaces and parentheses: skip past
  // the last ')'.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  const char* p = stat->c_str() + close + 2;
  // Fields from 3 on; start time is field 22.
  for (int field = 3; field < 22 && *p; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

namespace {

// Without re-adopted supervisors, SIGCHLD wakes Wait; this is only a backstop.
constexpr double kChildPollSeconds = 1.0;

std::string JobId(int pid, unsigned long long ticks) {
  return "local:" + std::to_string(pid) + ":" + std::to_string(ticks);
}

bool ParseJobId(const std::string& id, int* pid, unsigned long long* ticks) {
  return std::sscanf(id.c_str(), "local:%d:%llu", pid, ticks) == 2;
}

}  // namespace

LocalBackend::LocalBackend(RunLayout layout, Clock* clock, LocalBackendOptions options)
    : PollingBackend(clock), layout_(std::move(layout)), options_(std::move(options)) {}

Result<std::string> LocalBackend::SubmitOne(const Launch& l) {
  const Task& t = *l.task;
  std::string dir = layout_.attempt_dir(t.id, l.attempt);
  PORCH_RETURN_IF_ERROR(MakeDirs(dir));
  PORCH_RETURN_IF_ERROR(MakeDirs(layout_.output()));

  Config config = options_.config;
  config.kill_grace_seconds = options_.kill_grace_s;
  Plan single;
  const Plan& plan = options_.plan ? *options_.plan : single;
  AttemptSpec spec = MakeAttemptSpec(layout_, plan, t, l.attempt, l.time_limit_s, config,
                                     options_.porch_env);
  for (const auto& [k, v] : options_.env) spec.env.emplace(k, v);

  pid_t pid = fork();
  if (pid < 0) return Status::FromErrno("cannot fork a supervisor for task '" + t.id + "'", errno);
  if (pid == 0) {
    // Hold termination signals until RunAttempt waits for them: a Cancel()
    // that arrives this early must still produce a result file.
    sigset_t hold;
    sigemptyset(&hold);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&hold, s);
    sigprocmask(SIG_BLOCK, &hold, nullptr);
    // Drop porch's descriptors (journal, run lock): the supervisor may
    // outlive porch and must not keep the run locked.
    close_range(3, ~0U, 0);
    setpgid(0, 0);  // out of porch's group: a terminal's Ctrl-C reaches porch only
    // Say who runs this attempt before anything else, for re-adoption.
    std::string who = std::to_string(getpid()) + " " + std::to_string(ProcessStartTicks(getpid()));
    WriteFileFast(dir + "/runner.pid", who + "\n").IgnoreError();
    _exit(RunAttempt(spec));
  }
  setpgid(pid, pid);  // both sides set it: no race with an early kill(-pid)
  unsigned long long ticks = ProcessStartTicks(pid);
  jobs_[pid] = {l.index, l.attempt, t.id, pid, ticks, true};
  Emit(StartedEvent(l.index, l.attempt, clock_->Now()));
  return JobId(pid, ticks);
}

std::vector<Result<std::string>> LocalBackend::Submit(std::span<const Launch> launches) {
  std::vector<Result<std::string>> out;
  out.reserve(launches.size());
  for (const Launch& l : launches) {
    Result<std::string> id = SubmitOne(l);
    out.push_back(id.ok() ? std::move(id)
                          : Result<std::string>(id.status().Annotate("local backend")));
  }
  return out;
}

BackendEvent LocalBackend::Collect(const Job& job, int wait_status, bool have_status) {
  Ending e;
  e.without_result = "the attempt's supervisor ended without a result file";
  if (have_status && WIFSIGNALED(wait_status)) {
    e.without_result += std::string(" (killed by signal ") + strsignal(WTERMSIG(wait_status)) + ")";
  } else if (have_status && WIFEXITED(wait_status)) {
    e.without_result += " (exit " + std::to_string(WEXITSTATUS(wait_status)) + ")";
  }
  return ResolveEnding(job.index, job.attempt, clock_->Now(),
                       ReadAttemptResult(layout_.result_path(job.task_id, job.attempt)), e);
}

void LocalBackend::Reap(std::vector<BackendEvent>* out) {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = jobs_.find(pid);
    if (it == jobs_.end()) continue;
    out->push_back(Collect(it->second, status, true));
    jobs_.erase(it);
  }
}

void LocalBackend::PollAdopted(std::vector<BackendEvent>* out) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const Job& job = it->second;
    if (job.child) {
      ++it;
      continue;
    }
    std::string result = layout_.result_path(job.task_id, job.attempt);
    bool alive = ProcessStartTicks(job.pid) == job.start_ticks && job.start_ticks != 0;
    if (PathExists(result) || !alive) {
      out->push_back(Collect(job, 0, false));
      --adopted_;
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void LocalBackend::Poll(std::vector<BackendEvent>* events) {
  Reap(events);
  if (adopted_ > 0) PollAdopted(events);
}

double LocalBackend::PollInterval() const {
  // Our own children wake Wait with SIGCHLD; re-adopted supervisors are not
  // our children and must be looked at.
  return adopted_ > 0 ? options_.adopted_poll_s : kChildPollSeconds;
}

void LocalBackend::Cancel(Dag::Index index, int attempt) {
  for (const auto& [pid, job] : jobs_) {
    if (job.index != index || job.attempt != attempt) continue;
    if (!job.child && ProcessStartTicks(pid) != job.start_ticks) continue;
    kill(pid, SIGTERM);  // the supervisor stops the command's group and reports
  }
}

Result<RecoverOutcome> LocalBackend::Recover(const InFlight& f) {
  const std::string& id = f.task->id;
  if (std::optional<BackendEvent> done = EventFromResultFile(layout_, f)) {
    Emit(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  int pid = 0;
  unsigned long long ticks = 0;
  bool known = ParseJobId(f.job_id, &pid, &ticks);
  if (!known) {  // porch died between fork and journaling the job id
    Result<std::string> who = ReadFile(layout_.attempt_dir(id, f.attempt) + "/runner.pid");
    known = who.ok() && std::sscanf(who->c_str(), "%d %llu", &pid, &ticks) == 2;
  }
  if (known && ticks != 0 && ProcessStartTicks(pid) == ticks) {
    jobs_[pid] = {f.index, f.attempt, id, pid, ticks, false};
    ++adopted_;
    return RecoverOutcome::kAdopted;
  }
  // Not running: it may have finished between the two looks.
  if (std::optional<BackendEvent> done = EventFromResultFile(layout_, f)) {
    Emit(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  return RecoverOutcome::kLost;
}

}  // namespace porch
