#include "exec/spawner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "exec/attempt.h"
#include "exec/run_attempts.h"
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

namespace {

void OnChild(int) {}  // only to interrupt ppoll

class Spawner {
 public:
  Spawner(std::unique_ptr<RunAttempts> run, int fd) : run_(std::move(run)), fd_(fd) {
    log_fd_ = open(SpawnedLogPath(run_->layout().dir()).c_str(),
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    results_fd_ = open(run_->layout().results_log().c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  ~Spawner() {
    if (log_fd_ >= 0) close(log_fd_);
    if (results_fd_ >= 0) close(results_fd_);
  }

  int Serve() {
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    struct sigaction sa {};
    sa.sa_handler = OnChild;
    sigaction(SIGCHLD, &sa, nullptr);
    sigset_t waiting = old;
    sigdelset(&waiting, SIGCHLD);
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      int n = ppoll(&p, 1, nullptr, &waiting);  // SIGCHLD interrupts it
      Reap();
      if (n > 0 && !ReadRequests()) return 0;  // porch is gone: supervisors run on
    }
  }

 private:
  void Send(const json& j) {
    std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (!WriteAll(fd_, line, "the spawner's socket").ok()) _exit(0);  // porch is gone
  }

  void Reap() {
    while (true) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) return;
      if (live_ > 0) --live_;
      Send({{"exited", pid}, {"status", status}});
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
    Result<AttemptSpec> spec = run_->Prepare(task, attempt, number("limit"), number("grace"), results_fd_);
    if (!spec.ok()) {
      Send({{"refused", task}, {"attempt", attempt}, {"error", spec.status().message()}});
      return;
    }
    if (spec->result_log_fd >= 0) {
      // Room for the result of every supervisor that may still append one:
      // this one, the others this spawner started, those porch adopted.
      const uint64_t adopted = static_cast<uint64_t>(std::clamp(number("adopted"), 0.0, 1e5));
      Status room = KeepRoom((live_ + adopted + 1) * kResultRoomBytes);
      if (!room.ok()) {
        Send({{"refused", task}, {"attempt", attempt}, {"stop", true},
              {"error", "no room on disk for the attempt's result (" + room.message() + "); nothing ran"}});
        return;
      }
    }
    // The supervisor waits for a go-ahead until its pid is in spawned.log:
    // an attempt porch could not find again after a crash must not run.
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) {
      Send({{"refused", task}, {"attempt", attempt}, {"stop", true},
            {"error", std::string("cannot make a pipe: ") + std::strerror(errno)}});
      return;
    }
    pid_t pid = fork();
    if (pid < 0) {
      close(go[0]);
      close(go[1]);
      Send({{"refused", task}, {"attempt", attempt},
            {"error", std::string("cannot fork a supervisor: ") + std::strerror(errno)}});
      return;
    }
    if (pid == 0) {
      close(go[1]);
      char c = 0;
      ssize_t n;
      do n = read(go[0], &c, 1); while (n < 0 && errno == EINTR);
      if (n != 1) _exit(kExecNotStarted);
      Supervise(*spec);
    }
    close(go[0]);
    ++live_;
    unsigned long long ticks = ProcessStartTicks(pid);
    json record = {{"task", task}, {"attempt", attempt}, {"pid", pid}, {"ticks", ticks}};
    Status logged = log_fd_ >= 0 ? WriteAll(log_fd_, record.dump() + "\n", "spawned.log")
                                 : Status::IoError("spawned.log could not be opened");
    if (logged.ok() && write(go[1], "g", 1) != 1) logged = Status::FromErrno("go-ahead", errno);
    close(go[1]);  // without the byte, the supervisor exits at once
    if (!logged.ok()) {
      Send({{"refused", task}, {"attempt", attempt}, {"stop", true},
            {"error", "cannot record the attempt (" + logged.message() + "); nothing ran"}});
      return;
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
    // that arrives this early must still produce a result file.
    sigset_t hold;
    sigemptyset(&hold);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&hold, s);
    sigprocmask(SIG_BLOCK, &hold, nullptr);
    signal(SIGCHLD, SIG_DFL);
    int keep = 3;  // the results log, if the result goes there, as fd 3
    if (spec.result_log_fd >= 0) {
      if (dup2(spec.result_log_fd, keep) < 0 || fcntl(keep, F_SETFD, FD_CLOEXEC) < 0) {
        _exit(kExecNoResult);
      }
      spec.result_log_fd = keep++;  // close-on-exec: the command never gets it
    }
    close_range(keep, ~0U, 0);  // the socket, spawned.log, the pipe: it outlives them all
    setpgid(0, 0);           // a group of its own: cancels and time limits reach it all
    _exit(RunAttempt(spec));
  }

  std::unique_ptr<RunAttempts> run_;
  int fd_;
  int log_fd_ = -1;
  int results_fd_ = -1;  // the run's results log (command attempts' results)
  uint64_t live_ = 0;    // supervisors started and not yet reaped
  uint64_t kept_until_ = 0;  // results.log's blocks are allocated up to here
  uint64_t last_size_ = 0;   // results.log's size at the last KeepRoom
  std::string pending_;
};

}  // namespace

int ServeSpawner(const std::string& run_dir, int fd) {
  Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(run_dir, CurrentEnvironment());
  if (!run.ok()) {
    std::string line = json({{"fatal", run.status().message()}}).dump() + "\n";
    WriteAll(fd, line, "the spawner's socket").IgnoreError();
    return kExecUsage;
  }
  return Spawner(std::move(*run), fd).Serve();
}

}  // namespace porch
