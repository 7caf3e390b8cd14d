#include "exec/spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "exec/attempt.h"
#include "exec/run_attempts.h"
#include "platform/clock.h"
#include "platform/command_pool.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

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

std::string SpawnedLogPath(const std::string& run_dir) { return run_dir + "/spawned.log"; }

std::vector<SpawnedRecord> ReadSpawnedLog(const std::string& run_dir) {
  std::vector<SpawnedRecord> out;
  Result<std::string> log = ReadFile(SpawnedLogPath(run_dir));
  if (!log.ok()) return out;
  for (size_t start = 0, nl; (nl = log->find('\n', start)) != std::string::npos; start = nl + 1) {
    json rec = json::parse(log->substr(start, nl - start), nullptr, false);
    if (!rec.is_object() || !rec.value("task", json()).is_string() ||
        !rec.value("attempt", json()).is_number_integer()) {
      continue;  // a line cut short by a crash
    }
    SpawnedRecord r;
    r.task = rec["task"].get<std::string>();
    r.attempt = rec["attempt"].get<int>();
    if (rec.value("pid", json()).is_number_integer()) r.pid = rec["pid"].get<int>();
    if (rec.value("ticks", json()).is_number_unsigned()) r.ticks = rec["ticks"].get<unsigned long long>();
    if (rec.value("keeper", json()).is_number_integer()) r.keeper = rec["keeper"].get<int>();
    if (rec.value("keeper_ticks", json()).is_number_unsigned()) {
      r.keeper_ticks = rec["keeper_ticks"].get<unsigned long long>();
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::map<std::string, int> HighestSpawnedAttempts(const std::string& run_dir) {
  std::map<std::string, int> out;
  for (const SpawnedRecord& r : ReadSpawnedLog(run_dir)) {
    int& highest = out[r.task];
    highest = std::max(highest, r.attempt);
  }
  return out;
}

int SpawnerCancelSignal() { return SIGRTMIN; }

namespace {

// A command attempt the spawner keeps: what its result needs once it ends.
struct KeptAttempt {
  AttemptSpec spec;
  std::string program;  // argv[0]
  double started_at = 0;
};

class Spawner {
 public:
  Spawner(std::unique_ptr<RunAttempts> run, int fd)
      : run_(std::move(run)), fd_(fd), env_(CurrentEnvironment()), self_(getpid()),
        self_ticks_(ProcessStartTicks(self_)) {
    log_fd_ = open(SpawnedLogPath(run_->layout().dir()).c_str(),
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    results_fd_ = open(run_->layout().results_log().c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  ~Spawner() {
    for (int fd : {log_fd_, results_fd_, sigfd_, fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  int Serve() {
    sigset_t watch;
    sigemptyset(&watch);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SpawnerCancelSignal()}) sigaddset(&watch, s);
    sigprocmask(SIG_BLOCK, &watch, nullptr);
    sigfd_ = signalfd(-1, &watch, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd_ < 0) {
      Send({{"fatal", std::string("the spawner cannot watch signals: ") + std::strerror(errno)}});
      return kExecUsage;
    }
    std::vector<pollfd> fds;
    // Until porch is gone and every command it keeps has ended.
    while (fd_ >= 0 || pool_.running() > 0) {
      fds.clear();
      fds.push_back({sigfd_, POLLIN, 0});
      fds.push_back({fd_, POLLIN, 0});  // -1 once porch is gone: poll skips it
      pool_.PollFds(&fds);
      if (poll(fds.data(), fds.size(), pool_.TimeoutMs(MonotonicSeconds())) < 0 && errno != EINTR) {
        return kExecUsage;
      }
      if (fds[0].revents & POLLIN) TakeSignals();
      for (const auto& [pid, status] : pool_.Service(fds, MonotonicSeconds())) {
        if (supervisors_ > 0) --supervisors_;
        Send({{"exited", pid}, {"status", status}});
      }
      for (const CommandPool::Outcome& o : pool_.Finished()) Record(o);
      if (fd_ >= 0 && fds[1].revents != 0 && !ReadRequests()) Hangup();
    }
    return 0;
  }

 private:
  // porch is gone: no more requests; what runs runs on.
  void Hangup() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  void Send(const json& j) {
    if (fd_ < 0) return;
    std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    for (size_t off = 0; off < line.size();) {
      ssize_t n = send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Hangup();
      off += static_cast<size_t>(n);
    }
  }

  void TakeSignals() {
    signalfd_siginfo info;
    while (read(sigfd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      const int sig = static_cast<int>(info.ssi_signo);
      if (sig == SpawnerCancelSignal()) {
        pool_.Cancel(static_cast<pid_t>(info.ssi_int));  // only a command of its own
      } else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
        stopping_ = true;
        pool_.CancelAll();
      }  // SIGCHLD: Service reaps
    }
  }

  // False at EOF.
  bool ReadRequests() {
    char buf[1 << 16];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    pending_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      Handle(json::parse(pending_.substr(start, nl - start), nullptr, false));
    }
    pending_.erase(0, start);
    return true;
  }

  void Refuse(const std::string& task, int attempt, const std::string& error, bool stop) {
    json r = {{"refused", task}, {"attempt", attempt}, {"error", error}};
    if (stop) r["stop"] = true;
    Send(r);
  }

  void Handle(const json& req) {
    std::string task = req.is_object() && req.contains("task") && req["task"].is_string()
                           ? req["task"].get<std::string>()
                           : "";
    int attempt = req.is_object() && req.value("attempt", json()).is_number_integer()
                      ? req["attempt"].get<int>()
                      : 0;
    auto number = [&](const char* k) {
      return req.is_object() && req.contains(k) && req[k].is_number() ? req[k].get<double>() : -1.0;
    };
    if (stopping_) return Refuse(task, attempt, "the spawner was told to stop; nothing ran", true);
    Result<AttemptSpec> spec = run_->Prepare(task, attempt, number("limit"), number("grace"), results_fd_);
    if (!spec.ok()) return Refuse(task, attempt, spec.status().message(), false);
    if (spec->result_log_fd >= 0) {
      // Room for the result of every attempt that may still append one:
      // this one, the others this spawner runs, those porch adopted.
      const uint64_t adopted = static_cast<uint64_t>(std::clamp(number("adopted"), 0.0, 1e5));
      Status room = KeepRoom((supervisors_ + pool_.running() + adopted + 1) * kResultRoomBytes);
      if (!room.ok()) {
        return Refuse(task, attempt,
                      "no room on disk for the attempt's result (" + room.message() + "); nothing ran", true);
      }
    }
    if (spec->lazy_output) return Keep(task, attempt, std::move(*spec));
    StartSupervisor(task, attempt, std::move(*spec));
  }

  Status Log(const json& record) {
    return log_fd_ >= 0 ? WriteAll(log_fd_, record.dump() + "\n", "spawned.log")
                        : Status::IoError("spawned.log could not be opened");
  }

  // Runs a command attempt in the pool: recorded first (with this spawner
  // as its keeper), so that an attempt porch cannot find again never runs.
  void Keep(const std::string& task, int attempt, AttemptSpec spec) {
    json record = {{"task", task}, {"attempt", attempt}, {"keeper", self_}, {"keeper_ticks", self_ticks_}};
    Status logged = Log(record);
    if (!logged.ok()) {
      return Refuse(task, attempt, "cannot record the attempt (" + logged.message() + "); nothing ran", true);
    }
    KeptAttempt k{std::move(spec), "", WallSeconds()};
    SpawnSpec run = CommandSpawnSpec(k.spec, env_);
    k.program = run.argv[0];
    // Whatever the command starts carries these: a daemon it leaves while
    // it runs is its own, not an orphan.
    std::vector<std::string> marker;
    for (const char* name : {"PORCH_RUN_DIR", "PORCH_TASK_ID", "PORCH_ATTEMPT"}) {
      marker.push_back(std::string(name) + "=" + k.spec.env[name]);
    }
    const uint64_t token = ++tokens_;
    pid_t pid = 0;
    int err = pool_.Start(std::move(run), token, std::move(marker), &pid);
    json spawned = {{"spawned", task}, {"attempt", attempt}, {"keeper", self_}, {"keeper_ticks", self_ticks_}};
    if (err != 0) {  // it never ran: its result (command not found, say) now
      int code = RecordResult(k.spec, CommandAttemptResult(k.spec, k.program, NotStarted(err), k.started_at));
      const int64_t none = -static_cast<int64_t>(token);
      spawned.update({{"pid", none}, {"ticks", 0}});
      Send(spawned);
      Send({{"exited", none}, {"status", code << 8}});
      return;
    }
    unsigned long long ticks = ProcessStartTicks(pid);
    record.update({{"pid", pid}, {"ticks", ticks}});
    Log(record).IgnoreError();  // the keeper's record finds it too
    kept_.emplace(token, std::move(k));
    spawned.update({{"pid", pid}, {"ticks", ticks}});
    Send(spawned);
  }

  // A kept command ended: its result, then the word to porch.
  void Record(const CommandPool::Outcome& o) {
    auto it = kept_.find(o.token);
    if (it == kept_.end()) return;
    const KeptAttempt& k = it->second;
    int code = RecordResult(k.spec, CommandAttemptResult(k.spec, k.program, o.outcome, k.started_at));
    kept_.erase(it);
    Send({{"exited", o.pid}, {"status", code << 8}});
  }

  // Any other attempt: a supervisor of its own, forked.
  void StartSupervisor(const std::string& task, int attempt, AttemptSpec spec) {
    // The supervisor waits for a go-ahead until its pid is in spawned.log:
    // an attempt porch could not find again after a crash must not run.
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
      return Refuse(task, attempt, std::string("cannot make a pipe: ") + std::strerror(errno), true);
    }
    pid_t pid = fork();
    if (pid < 0) {
      close(go[0]);
      close(go[1]);
      return Refuse(task, attempt, std::string("cannot fork a supervisor: ") + std::strerror(errno), false);
    }
    if (pid == 0) {
      close(go[1]);
      char c = 0;
      ssize_t n;
      do n = read(go[0], &c, 1); while (n < 0 && errno == EINTR);
      if (n != 1) _exit(kExecNotStarted);
      Supervise(std::move(spec));
    }
    close(go[0]);
    ++supervisors_;
    pool_.KeepChild(pid);
    unsigned long long ticks = ProcessStartTicks(pid);
    Status logged = Log({{"task", task}, {"attempt", attempt}, {"pid", pid}, {"ticks", ticks}});
    if (logged.ok() && write(go[1], "g", 1) != 1) logged = Status::FromErrno("go-ahead", errno);
    close(go[1]);  // without the byte, the supervisor exits at once
    if (!logged.ok()) {
      return Refuse(task, attempt, "cannot record the attempt (" + logged.message() + "); nothing ran", true);
    }
    Send({{"spawned", task}, {"attempt", attempt}, {"pid", pid}, {"ticks", ticks}});
  }

  // Makes sure `bytes` past the end of results.log are allocated. Blocks
  // kept earlier stay allocated (appends use them up, nothing frees them),
  // so a call that finds enough kept does nothing more than an fstat; one
  // that must keep more keeps twice what is needed (or just that, when
  // the disk has no more), so fallocate runs once per many attempts.
  Status KeepRoom(uint64_t bytes) {
    struct stat st;
    if (fstat(results_fd_, &st) != 0) return Status::FromErrno("cannot stat results.log", errno);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    // Nothing truncates results.log; were it shorter than last seen, the
    // blocks kept past its old end may be gone: keep them again.
    if (size < last_size_) kept_until_ = 0;
    last_size_ = size;
    if (size + bytes <= kept_until_) return Status::Ok();
    if (ReserveAppendRoom(results_fd_, 2 * bytes, "results.log").ok()) {
      kept_until_ = size + 2 * bytes;
      return Status::Ok();
    }
    Status exact = ReserveAppendRoom(results_fd_, bytes, "results.log");
    if (exact.ok()) kept_until_ = size + bytes;
    return exact;
  }

  // The supervisor: a forked child of a single-threaded process.
  [[noreturn]] void Supervise(AttemptSpec spec) {
    // Hold termination signals until RunAttempt waits for them: a cancel
    // that arrives this early must still produce a result file. (The
    // spawner's mask, inherited, holds them already.)
    sigset_t hold;
    sigemptyset(&hold);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&hold, s);
    sigprocmask(SIG_BLOCK, &hold, nullptr);
    int keep = 3;  // the results log, if the result goes there, as fd 3
    if (spec.result_log_fd >= 0) {
      if (dup2(spec.result_log_fd, keep) < 0 || fcntl(keep, F_SETFD, FD_CLOEXEC) < 0) {
        _exit(kExecNoResult);
      }
      spec.result_log_fd = keep++;  // close-on-exec: the command never gets it
    }
    // The socket, spawned.log, the pipe, the signalfd, other commands'
    // pipes: it outlives them all.
    close_range(keep, ~0U, 0);
    setpgid(0, 0);           // a group of its own: cancels and time limits reach it all
    _exit(RunAttempt(spec));
  }

  std::unique_ptr<RunAttempts> run_;
  int fd_;
  const std::map<std::string, std::string> env_;  // commands' environment, read once
  const pid_t self_;
  const unsigned long long self_ticks_;
  int log_fd_ = -1;
  int results_fd_ = -1;  // the run's results log (command attempts' results)
  int sigfd_ = -1;
  CommandPool pool_;
  std::unordered_map<uint64_t, KeptAttempt> kept_;  // by pool token
  uint64_t tokens_ = 0;
  uint64_t supervisors_ = 0;  // supervisors started and not yet reaped
  bool stopping_ = false;     // told to stop: starts nothing more
  uint64_t kept_until_ = 0;  // results.log's blocks are allocated up to here
  uint64_t last_size_ = 0;   // results.log's size at the last KeepRoom
  std::string pending_;
};

}  // namespace

int ServeSpawner(const std::string& run_dir, int fd) {
  // Out of porch's process tree: porch never waits for the spawner, which
  // outlives it while the commands it keeps end.
  pid_t child = fork();
  if (child < 0) {
    std::string line = json({{"fatal", std::string("cannot fork: ") + std::strerror(errno)}}).dump() + "\n";
    WriteAll(fd, line, "the spawner's socket").IgnoreError();
    return kExecUsage;
  }
  if (child > 0) return 0;
  Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(run_dir, CurrentEnvironment());
  if (!run.ok()) {
    std::string line = json({{"fatal", run.status().message()}}).dump() + "\n";
    WriteAll(fd, line, "the spawner's socket").IgnoreError();
    return kExecUsage;
  }
  return Spawner(std::move(*run), fd).Serve();
}

}  // namespace porch
