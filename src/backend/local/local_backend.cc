#include "backend/local/local_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "backend/verdict.h"
#include "exec/spawner.h"
#include "model/result_file.h"
#include "platform/files.h"
#include "platform/spawn.h"

namespace porch {

using nlohmann::json;

namespace {

// Spawner children wake Wait through the socket; this is only a backstop.
constexpr double kChildPollSeconds = 1.0;
// The spawner answers a request at once; a silent one this long is broken.
constexpr int kReplyTimeoutMs = 60 * 1000;

// A job id (see LocalJobId); false if it is none.
bool ParseJobId(const std::string& id, int* pid, unsigned long long* ticks, int* keeper,
                unsigned long long* keeper_ticks) {
  int n = std::sscanf(id.c_str(), "local:%d:%llu:%d:%llu", pid, ticks, keeper, keeper_ticks);
  if (n == 2) *keeper = 0, *keeper_ticks = 0;
  return n == 2 || n == 4;
}

std::string SelfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "porch";
}

}  // namespace

std::string LocalJobId(int pid, unsigned long long ticks, int keeper, unsigned long long keeper_ticks) {
  std::string id = "local:" + std::to_string(pid) + ":" + std::to_string(ticks);
  if (keeper > 0) id += ":" + std::to_string(keeper) + ":" + std::to_string(keeper_ticks);
  return id;
}

bool LocalBackend::Alive(const Job& job) {
  return ProcessRuns(job.pid, job.start_ticks) || ProcessRuns(job.keeper, job.keeper_ticks);
}

LocalBackend::LocalBackend(RunLayout layout, Clock* clock, LocalBackendOptions options)
    : PollingBackend(clock),
      layout_(std::move(layout)),
      options_(std::move(options)),
      results_(layout_.results_log()) {}

LocalBackend::~LocalBackend() {
  if (fd_ >= 0) close(fd_);  // the spawner exits at EOF; supervisors run on
  if (spawner_pid_ > 0) {
    int status = 0;
    while (waitpid(spawner_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

Status LocalBackend::StartSpawner() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Status::FromErrno("local backend: cannot make the spawner's socket", errno);
  }
  SpawnRequest req;
  const std::string porch = options_.porch_path.empty() ? SelfPath() : options_.porch_path;
  req.argv = {porch, "spawner", "--run-dir", AbsolutePath(layout_.dir()), "--fd", "3"};
  std::vector<std::string> env;
  if (!options_.env.empty()) {
    env = EnvironmentFrom(options_.env, {});
    req.env = &env;
  }
  req.pass_fds = {{sv[1], 3}};
  req.new_process_group = true;  // a terminal's Ctrl-C reaches porch only
  req.default_signals = true;
  pid_t pid = 0;
  int err = Spawn(req, &pid);
  close(sv[1]);
  if (err != 0) {
    close(sv[0]);
    return Status::FromErrno("local backend: cannot start '" + porch + " spawner'", err);
  }
  fd_ = sv[0];
  spawner_pid_ = pid;
  return Status::Ok();
}

std::string LocalBackend::JobKey(const std::string& task_id, int attempt) {
  return task_id + '\n' + std::to_string(attempt);
}

void LocalBackend::Dispatch(const json& msg) {
  if (!msg.is_object()) return;
  auto text = [&](const char* k) { return msg.value(k, json()).is_string() ? msg[k].get<std::string>() : ""; };
  auto integer = [&](const char* k) { return msg.value(k, json()).is_number_integer() ? msg[k].get<int64_t>() : 0; };
  if (msg.contains("exited")) {
    exits_.emplace_back(JobKey(text("task"), static_cast<int>(integer("attempt"))),
                        static_cast<int>(integer("status")));
  } else if (msg.contains("started")) {
    OnStarted(msg);
  } else {
    replies_.push_back(msg);  // spawned, queued, refused, fatal
  }
}

void LocalBackend::OnStarted(const json& msg) {
  const std::string task = msg.value("started", json()).is_string() ? msg["started"].get<std::string>() : "";
  const int attempt = msg.value("attempt", json()).is_number_integer() ? msg["attempt"].get<int>() : 0;
  auto it = jobs_.find(JobKey(task, attempt));
  if (it == jobs_.end()) return;
  Job& job = it->second;
  job.pid = msg.value("pid", json()).is_number_integer() ? msg["pid"].get<int>() : 0;
  job.start_ticks = msg.value("ticks", json()).is_number_unsigned() ? msg["ticks"].get<unsigned long long>() : 0;
  // A supervisor has no keeper: it runs on by itself.
  job.keeper = msg.value("keeper", json()).is_number_integer() ? msg["keeper"].get<int>() : 0;
  job.keeper_ticks =
      msg.value("keeper_ticks", json()).is_number_unsigned() ? msg["keeper_ticks"].get<unsigned long long>() : 0;
  // Handed out by Poll before any end it reads with it.
  started_.push_back(StartedEvent(job.index, job.attempt, clock_->Now()));
}

void LocalBackend::SendAdopted() {
  if (fd_ >= 0 && !SendToSpawner(json({{"adopted", adopted_}}).dump() + "\n").ok()) LoseSpawner();
}

Status LocalBackend::SendToSpawner(const std::string& data) {
  if (fd_ < 0) return Status::Unavailable("the spawner is gone");
  for (size_t off = 0; off < data.size();) {
    // MSG_NOSIGNAL: a spawner gone is an error here, not porch's death.
    ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("cannot write to the spawner's socket", errno);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status LocalBackend::ReadMessages(bool block) {
  if (fd_ < 0) return Status::Unavailable("the spawner is gone");
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    int ready = poll(&p, 1, block ? kReplyTimeoutMs : 0);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      return block ? Status::Unavailable("the spawner did not answer") : Status::Ok();
    }
    char buf[1 << 16];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      LoseSpawner();
      return Status::Unavailable("the spawner ended");
    }
    inbox_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = inbox_.find('\n', start)) != std::string::npos; start = nl + 1) {
      Dispatch(json::parse(inbox_.substr(start, nl - start), nullptr, false));
    }
    inbox_.erase(0, start);
    if (!block || start > 0) return Status::Ok();
  }
}

void LocalBackend::LoseSpawner() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  for (auto& [pid, job] : jobs_) {
    if (job.child) {
      job.child = false;
      ++adopted_;
    }
  }
}

std::vector<Result<std::string>> LocalBackend::Submit(std::span<const Launch> launches) {
  std::vector<Result<std::string>> out;
  out.reserve(launches.size());
  Status ready = fd_ >= 0 ? Status::Ok() : StartSpawner();
  // All requests first, then the answers: one round trip for the batch.
  std::string requests;
  for (const Launch& l : launches) {
    // "adopted": supervisors of an earlier porch still running, which the
    // spawner must keep room in the results log for too.
    json req = {{"task", l.task->id}, {"attempt", l.attempt}, {"limit", l.time_limit_s},
                {"adopted", adopted_}, {"slots", options_.slots}, {"priority", l.priority}};
    requests += req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  // Known before any answer: a "started" may come before the batch's
  // answers are all read.
  for (const Launch& l : launches) {
    jobs_[JobKey(l.task->id, l.attempt)] = {l.index, l.attempt, l.task->id, 0, 0, true, 0, 0};
  }
  if (ready.ok()) ready = SendToSpawner(requests);
  // Forgets a job this batch registered and the spawner did not take.
  auto drop = [this](const std::string& key) {
    auto it = jobs_.find(key);
    if (it == jobs_.end()) return;
    if (!it->second.child && adopted_ > 0) --adopted_;  // LoseSpawner counted it
    jobs_.erase(it);
  };
  for (const Launch& l : launches) {
    const std::string key = JobKey(l.task->id, l.attempt);
    while (ready.ok() && replies_.empty()) ready = ReadMessages(/*block=*/true);
    if (!ready.ok()) {
      drop(key);
      out.push_back(ready.Annotate("local backend"));
      continue;
    }
    json r = std::move(replies_.front());
    replies_.erase(replies_.begin());
    if (r.contains("fatal")) {  // the spawner could not load the run
      ready = Status::Unavailable("local backend: the spawner: " + r.value("fatal", std::string()));
      drop(key);
      out.push_back(ready);
      continue;
    }
    if (!r.contains("spawned") && !r.contains("queued")) {
      drop(key);
      std::string why = "local backend: " + r.value("error", std::string("refused"));
      // "stop": this machine cannot start attempts now (a full disk); the
      // run stops, to be resumed, without charging the task.
      out.push_back(r.value("stop", false) ? Status::Unavailable(why) : Status::InvalidArgument(why));
      continue;
    }
    Job& job = jobs_[key];
    if (r.contains("spawned")) {
      job.pid = r.value("pid", 0);
      job.start_ticks = r.value("ticks", 0ull);
      job.keeper = r.value("keeper", 0);
      job.keeper_ticks = r.value("keeper_ticks", 0ull);
      Emit(StartedEvent(l.index, l.attempt, clock_->Now()));
    } else if (job.pid == 0) {
      // "queued": held until a slot frees ("started" follows, unless it
      // came already), no pid yet.
      job.keeper = r.value("keeper", 0);
      job.keeper_ticks = r.value("keeper_ticks", 0ull);
    }
    out.push_back(LocalJobId(job.pid, job.start_ticks, job.keeper, job.keeper_ticks));
  }
  return out;
}

BackendEvent LocalBackend::Collect(const Job& job, int wait_status, bool have_status) {
  Ending e;
  e.without_result = job.keeper > 0 ? "the spawner that kept the command did not record how it ended"
                                    : "the attempt's supervisor ended without a result file";
  Result<AttemptResult> result = TakeResult(job.task_id, job.attempt);
  if (job.keeper > 0 && !have_status && !result.ok()) {
    // Its keeper was killed (the command ran on, or was never started):
    // how it ended is unknown, and it is not the task's doing.
    e.backend_says = BackendVerdict{FailureReason::kLost, e.without_result + "; it runs again"};
  }
  if (have_status && WIFSIGNALED(wait_status)) {
    e.without_result += std::string(" (killed by signal ") + strsignal(WTERMSIG(wait_status)) + ")";
  } else if (have_status && WIFEXITED(wait_status)) {
    e.without_result += " (exit " + std::to_string(WEXITSTATUS(wait_status)) + ")";
    e.exit_code = WEXITSTATUS(wait_status);
  }
  return ResolveEnding(job.index, job.attempt, clock_->Now(), result, e);
}

void LocalBackend::RefreshResults() {
  // Only the records of attempts this backend watches are kept (a resumed
  // run's log holds every earlier attempt's).
  results_.Refresh([this](const std::string& task_id, int attempt) {
    return jobs_.count(JobKey(task_id, attempt)) > 0;
  });
}

Result<AttemptResult> LocalBackend::TakeResult(const std::string& task_id, int attempt) {
  RefreshResults();
  if (const AttemptResult* r = results_.Find(task_id, attempt)) {
    AttemptResult copy = *r;
    results_.Forget(task_id, attempt);
    return copy;
  }
  return ReadAttemptResult(layout_.result_path(task_id, attempt));  // AI attempts
}

bool LocalBackend::HasResult(const std::string& task_id, int attempt) const {
  return results_.Find(task_id, attempt) != nullptr || PathExists(layout_.result_path(task_id, attempt));
}

std::optional<BackendEvent> LocalBackend::FinishedEvent(const InFlight& f) {
  // Resume only: the whole log, since the attempt may have ended before
  // the reader's offset (its record skipped then, as nobody watched it).
  if (std::optional<AttemptResult> r = ResultLog::Scan(layout_.results_log(), f.task->id, f.attempt)) {
    return EventFromResult(f.index, f.attempt, *r);
  }
  return EventFromResultFile(layout_, f);
}

void LocalBackend::PollAdopted(std::vector<BackendEvent>* out) {
  RefreshResults();
  const size_t before = adopted_;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const Job& job = it->second;
    if (job.child) {
      ++it;
      continue;
    }
    if (HasResult(job.task_id, job.attempt) || !Alive(job)) {
      out->push_back(Collect(job, 0, false));
      --adopted_;
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  if (adopted_ != before) SendAdopted();  // their slots are free
}

void LocalBackend::Poll(std::vector<BackendEvent>* events) {
  if (fd_ >= 0) ReadMessages(/*block=*/false).IgnoreError();  // a lost spawner turns jobs adopted
  for (BackendEvent& ev : started_) events->push_back(std::move(ev));  // before their ends
  started_.clear();
  for (const auto& [key, status] : exits_) {
    auto it = jobs_.find(key);
    if (it == jobs_.end() || !it->second.child) continue;
    events->push_back(Collect(it->second, status, true));
    jobs_.erase(it);
  }
  exits_.clear();
  if (adopted_ > 0) PollAdopted(events);
}

double LocalBackend::PollInterval() const {
  // The spawner's children wake Wait through the socket; re-adopted
  // supervisors are not its children and must be looked at.
  return adopted_ > 0 ? options_.adopted_poll_s : kChildPollSeconds;
}

void LocalBackend::Cancel(Dag::Index index, int attempt) {
  for (const auto& [key, job] : jobs_) {
    if (job.index != index || job.attempt != attempt) continue;
    const int pid = job.pid;
    if (job.child && fd_ >= 0) {
      // The spawner stops it, or, if it still waits for a slot, ends it
      // unstarted; either way its result says cancelled.
      json req = {{"cancel", true}, {"task", job.task_id}, {"attempt", job.attempt}};
      if (!SendToSpawner(req.dump(-1, ' ', false, json::error_handler_t::replace) + "\n").ok()) {
        LoseSpawner();
      }
    } else if (job.keeper > 0) {
      // The keeper stops the command's group and records it cancelled.
      if (!ProcessRuns(job.keeper, job.keeper_ticks) || !ProcessRuns(pid, job.start_ticks)) continue;
      sigval value{};
      value.sival_int = pid;
      sigqueue(job.keeper, SpawnerCancelSignal(), value);
    } else if (ProcessRuns(pid, job.start_ticks)) {  // gone (and maybe recycled): nothing
      kill(pid, SIGTERM);  // the supervisor stops the command's group and reports
    }
  }
}

Result<RecoverOutcome> LocalBackend::Recover(const InFlight& f) {
  const std::string& id = f.task->id;
  if (std::optional<BackendEvent> done = FinishedEvent(f)) {
    Emit(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  Job job{f.index, f.attempt, id, 0, 0, false};
  bool known = ParseJobId(f.job_id, &job.pid, &job.start_ticks, &job.keeper, &job.keeper_ticks);
  // Not journaled (porch died between the spawn and journaling the job id),
  // or held by the spawner when it was: spawned.log says more.
  if (!known || (job.keeper > 0 && job.pid == 0)) {
    if (!spawned_) {
      spawned_.emplace();
      // The last record says most (a kept command's pid follows its keeper's).
      for (SpawnedRecord& rec : ReadSpawnedLog(layout_.dir())) {
        (*spawned_)[JobKey(rec.task, rec.attempt)] = std::move(rec);
      }
    }
    auto rec = spawned_->find(JobKey(id, f.attempt));
    if (rec != spawned_->end()) {
      job.pid = rec->second.pid;
      job.start_ticks = rec->second.ticks;
      job.keeper = rec->second.keeper;
      job.keeper_ticks = rec->second.keeper_ticks;
      known = true;
    }
  }
  if (known && Alive(job)) {
    jobs_[JobKey(id, f.attempt)] = job;
    ++adopted_;
    return RecoverOutcome::kAdopted;
  }
  // Not running: it may have finished between the two looks.
  if (std::optional<BackendEvent> done = FinishedEvent(f)) {
    Emit(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  return RecoverOutcome::kLost;
}

}  // namespace porch
