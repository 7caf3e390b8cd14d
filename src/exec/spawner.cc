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
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "exec/attempt.h"
#include "exec/run_attempts.h"
#include "platform/clock.h"
#include "platform/command_pool.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

// Process `pid`'s start ticks (0: no such process) and state letter.
unsigned long long StartTicksAndState(int pid, char* state) {
  *state = 0;
  if (pid <= 0) return 0;
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return 0;
  // The command name (field 2) may hold spaces and parentheses: skip past
  // the last ')'.
  size_t close = stat->rfind(')');
  if (close == std::string::npos || close + 2 >= stat->size()) return 0;
  const char* p = stat->c_str() + close + 2;
  *state = *p;
  // Fields from 3 on; start time is field 22.
  for (int field = 3; field < 22 && *p; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  return std::strtoull(p, nullptr, 10);
}

}  // namespace

unsigned long long ProcessStartTicks(int pid) {
  char state;
  return StartTicksAndState(pid, &state);
}

bool ProcessRuns(int pid, unsigned long long ticks) {
  char state;
  // A zombie has ended (its parent has not reaped it yet).
  return ticks != 0 && StartTicksAndState(pid, &state) == ticks && state != 'Z' && state != 'X';
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

// While the spawner holds attempts for a slot, porch hears of ends and
// starts at most this late: the held attempts keep the slots busy meanwhile,
// and porch and the spawner wake once per few short commands, not per
// command. Answers to porch's requests never wait. (PORCH_SPAWNER_EVENT_DELAY_MS
// in the spawner's environment sets another, for tests; ServeSpawner takes
// it out, so no attempt sees it.)
constexpr double kEventDelaySeconds = 0.005;

// A command attempt the spawner keeps: what its result needs once it ends.
struct KeptAttempt {
  AttemptSpec spec;
  std::string program;  // argv[0]
  double started_at = 0;
  std::string key;      // Spawner::Key of its task and attempt
};

class Spawner {
 public:
  Spawner(std::unique_ptr<RunAttempts> run, int fd, double event_delay_s)
      : run_(std::move(run)), fd_(fd), env_(CurrentEnvironment()), self_(getpid()),
        self_ticks_(ProcessStartTicks(self_)), event_delay_s_(event_delay_s) {
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
      Flush();
      return kExecUsage;
    }
    std::vector<pollfd> fds;
    // Until porch is gone and every command it keeps has ended.
    while (fd_ >= 0 || pool_.running() > 0) {
      fds.clear();
      fds.push_back({sigfd_, POLLIN, 0});
      // -1 once porch is gone: poll skips it.
      fds.push_back({fd_, static_cast<short>(POLLIN | (full_ ? POLLOUT : 0)), 0});
      pool_.PollFds(&fds);
      if (poll(fds.data(), fds.size(), TimeoutMs()) < 0 && errno != EINTR) {
        return kExecUsage;
      }
      if (fds[0].revents & POLLIN) TakeSignals();
      for (const auto& [pid, status] : pool_.Service(fds, MonotonicSeconds())) SupervisorEnded(pid, status);
      for (const CommandPool::Outcome& o : pool_.Finished()) Record(o);
      if (fd_ >= 0 && (fds[1].revents & ~POLLOUT) != 0 && !ReadRequests()) Hangup();
      if (fd_ >= 0 && !queue_.empty() && PorchGone()) Hangup();  // what it holds never starts
      StartQueued();
      if (FlushDue()) Flush();  // one send for all a turn says: porch wakes once
    }
    return 0;
  }

 private:
  // An attempt taken and not started yet: its slot is not free.
  struct Pending {
    std::string task;
    int attempt = 0;
    AttemptSpec spec;
  };
  // Held attempts, the largest priority first (in arrival order among
  // equals: a multimap inserts after the equal keys).
  using Queue = std::multimap<uint64_t, Pending, std::greater<uint64_t>>;

  static std::string Key(const std::string& task, int attempt) {
    return task + '\n' + std::to_string(attempt);
  }

  // porch is gone: no more requests; what runs runs on, what waits for a
  // slot never starts (its record says so: resume runs it, uncharged).
  void Hangup() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    // Nobody to tell: what waited to be said is dropped, never due again.
    outbox_.clear();
    answer_ = full_ = false;
    DropQueue(FailureReason::kLost, "porch went away before a slot was free: it never started");
  }

  // Queues a message to porch; Flush sends what a turn of the loop says.
  // `answer`: one porch waits for (an answer to a request), sent at the end
  // of this turn; else an event, which may wait (FlushDue).
  void Send(const json& j, bool answer = false) {
    if (fd_ < 0) return;
    if (outbox_.empty()) outbox_since_ = MonotonicSeconds();
    outbox_ += j.dump(-1, ' ', false, json::error_handler_t::replace);
    outbox_ += '\n';
    answer_ = answer_ || answer;
  }

  // Whether what the outbox holds goes now: an answer always; events once
  // nothing is held (porch's next requests are needed for the next free
  // slot), after the event delay, or when the spawner stops.
  bool FlushDue() const {
    return fd_ >= 0 && !outbox_.empty() &&
           (answer_ || full_ || queue_.empty() || stopping_ ||
            MonotonicSeconds() - outbox_since_ >= event_delay_s_);
  }

  // poll's timeout: the pool's next deadline, or when events are due.
  int TimeoutMs() const {
    const double now = MonotonicSeconds();
    int ms = pool_.TimeoutMs(now);
    if (fd_ >= 0 && !outbox_.empty() && !full_) {
      const double wait = std::max(0.0, outbox_since_ + event_delay_s_ - now);
      const int due = static_cast<int>(std::ceil(wait * 1000.0));
      ms = ms < 0 ? due : std::min(ms, due);
    }
    return ms;
  }

  // Sends what the socket takes now; the rest waits for POLLOUT.
  void Flush() {
    size_t off = 0;
    full_ = false;
    while (fd_ >= 0 && off < outbox_.size()) {
      ssize_t n = send(fd_, outbox_.data() + off, outbox_.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        full_ = true;
        break;
      }
      if (n <= 0) return Hangup();  // porch is gone (Hangup drops the outbox)
      off += static_cast<size_t>(n);
    }
    outbox_.erase(0, off);
    if (outbox_.empty()) answer_ = false;
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
        DropQueue(FailureReason::kCancelled, "the spawner was told to stop before the attempt started");
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
      // A request porch can no longer hear answered starts nothing: it
      // may have given up on it (and a resume may not find it).
      if (PorchGone()) return false;
      Handle(json::parse(pending_.substr(start, nl - start), nullptr, false));
    }
    pending_.erase(0, start);
    return true;
  }

  // porch closed its end (even with requests still unread).
  bool PorchGone() const {
    pollfd p{fd_, POLLRDHUP, 0};
    return fd_ < 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
  }

  void Refuse(const std::string& task, int attempt, const std::string& error, bool stop) {
    json r = {{"refused", task}, {"attempt", attempt}, {"error", error}};
    if (stop) r["stop"] = true;
    Send(r, /*answer=*/true);
  }

  // A slot for one more attempt: at most `slots` run at once (none set: no
  // bound), counting those of an earlier porch that porch re-adopted.
  bool HasSlot() const {
    return slots_ == 0 || supervisors_ + pool_.running() + adopted_ < slots_;
  }

  void Handle(const json& req) {
    if (!req.is_object()) return;
    auto number = [&](const char* k) { return req.contains(k) && req[k].is_number() ? req[k].get<double>() : -1.0; };
    if (number("adopted") >= 0) adopted_ = static_cast<uint64_t>(std::clamp(number("adopted"), 0.0, 1e5));
    if (number("slots") >= 0) slots_ = static_cast<uint64_t>(std::clamp(number("slots"), 0.0, 1e6));
    std::string task = req.value("task", json()).is_string() ? req["task"].get<std::string>() : "";
    int attempt = req.value("attempt", json()).is_number_integer() ? req["attempt"].get<int>() : 0;
    if (req.contains("cancel") && req["cancel"].is_boolean() && req["cancel"].get<bool>()) {
      return Cancel(task, attempt);
    }
    if (!req.contains("task")) return;  // "adopted" alone: how many still run
    if (stopping_) return Refuse(task, attempt, "the spawner was told to stop; nothing ran", true);
    Result<AttemptSpec> spec = run_->Prepare(task, attempt, number("limit"), number("grace"), results_fd_);
    if (!spec.ok()) return Refuse(task, attempt, spec.status().message(), false);
    if (spec->result_log_fd >= 0) {
      // Room for the result of every attempt that may still append one:
      // this one, the others this spawner runs or holds, those porch adopted.
      Status room = KeepRoom((supervisors_ + pool_.running() + queue_.size() + adopted_ + 1) * kResultRoomBytes);
      if (!room.ok()) {
        return Refuse(task, attempt,
                      "no room on disk for the attempt's result (" + room.message() + "); nothing ran", true);
      }
    }
    // Recorded before anything runs, with this spawner as its keeper: an
    // attempt porch cannot find again must not run.
    Status logged = Log({{"task", task}, {"attempt", attempt}, {"keeper", self_}, {"keeper_ticks", self_ticks_}});
    if (!logged.ok()) {
      return Refuse(task, attempt, "cannot record the attempt (" + logged.message() + "); nothing ran", true);
    }
    Pending p{task, attempt, std::move(*spec)};
    if (queue_.empty() && HasSlot()) return Start(std::move(p), /*reply=*/true);
    const uint64_t priority = req.contains("priority") && req["priority"].is_number_unsigned()
                                  ? req["priority"].get<uint64_t>() : 0;
    held_[Key(task, attempt)] = queue_.emplace(priority, std::move(p));
    Send({{"queued", task}, {"attempt", attempt}, {"keeper", self_}, {"keeper_ticks", self_ticks_}},
         /*answer=*/true);
  }

  // Starts what waits, as slots free.
  void StartQueued() {
    while (!queue_.empty() && HasSlot()) {
      Pending p = Unhold(queue_.begin());
      Start(std::move(p), /*reply=*/false);
    }
  }

  // Takes a held attempt out of the queue and its index.
  Pending Unhold(Queue::iterator it) {
    auto indexed = held_.find(Key(it->second.task, it->second.attempt));
    if (indexed != held_.end() && indexed->second == it) held_.erase(indexed);
    Pending p = std::move(it->second);
    queue_.erase(it);
    return p;
  }

  // Ends every waiting attempt unstarted, with a result that says why.
  void DropQueue(FailureReason reason, const std::string& why) {
    Queue dropped;
    dropped.swap(queue_);
    held_.clear();
    for (auto& [priority, p] : dropped) EndUnstarted(std::move(p), reason, why);
  }

  void EndUnstarted(Pending p, FailureReason reason, const std::string& why) {
    AttemptResult r;
    r.task_id = p.task;
    r.attempt = p.attempt;
    r.started_at = WallSeconds();
    r.exit_code = -1;
    r.reason = reason;
    r.detail = why;
    p.spec.result_log_fd = results_fd_;  // AI attempts too: the log is read first
    int code = RecordResult(p.spec, std::move(r));
    Send({{"exited", -static_cast<int64_t>(++tokens_)}, {"status", code << 8}, {"task", p.task},
          {"attempt", p.attempt}});
  }

  // porch's cancel: a waiting attempt ends unstarted, a running one is
  // stopped (its result says cancelled).
  void Cancel(const std::string& task, int attempt) {
    if (auto held = held_.find(Key(task, attempt)); held != held_.end()) {
      return EndUnstarted(Unhold(held->second), FailureReason::kCancelled, "cancelled by porch before it started");
    }
    auto running = running_.find(Key(task, attempt));
    if (running == running_.end()) return;
    const pid_t pid = running->second;
    // A supervisor stops its command and reports; a kept command the pool
    // stops (one already reaped, its pid maybe reused, is left alone).
    if (supervised_.count(pid) > 0) {
      kill(pid, SIGTERM);
    } else {
      pool_.Cancel(pid);
    }
  }

  // One record per write, framed by newlines: a record cut short by a full
  // disk is a line of its own that readers skip, not a prefix of the next.
  Status Log(const json& record) {
    return log_fd_ >= 0 ? AppendRecord(log_fd_, "\n" + record.dump() + "\n", "spawned.log")
                        : Status::IoError("spawned.log could not be opened");
  }

  // Starts an attempt: a command in the pool, anything else under a
  // supervisor. `reply`: porch waits for the answer to its request
  // ("spawned" or "refused"); else it hears "started", and of a start that
  // failed, an attempt that "exited" at once.
  void Start(Pending p, bool reply) {
    if (p.spec.lazy_output) return Keep(std::move(p), reply);
    StartSupervisor(std::move(p), reply);
  }

  void Started(const Pending& p, bool reply, int64_t pid, unsigned long long ticks, bool kept) {
    json m = {{reply ? "spawned" : "started", p.task}, {"attempt", p.attempt}, {"pid", pid}, {"ticks", ticks}};
    if (kept) m.update({{"keeper", self_}, {"keeper_ticks", self_ticks_}});
    Send(m, /*answer=*/reply);
  }

  // A start that failed, told as an attempt that ended at once with `code`.
  void EndedAtOnce(const Pending& p, bool reply, bool kept, int code) {
    const int64_t none = -static_cast<int64_t>(++tokens_);
    Started(p, reply, none, 0, kept);
    Send({{"exited", none}, {"status", code << 8}, {"task", p.task}, {"attempt", p.attempt}});
  }

  // Runs a command attempt in the pool.
  void Keep(Pending p, bool reply) {
    KeptAttempt k{std::move(p.spec), "", WallSeconds()};
    p.spec = AttemptSpec();
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
    if (err == EMFILE || err == ENFILE || err == EAGAIN || err == ENOMEM) {
      // This machine is out of something now: not the task's fault.
      const std::string why = std::string("cannot start the command: ") + std::strerror(err);
      if (reply) return Refuse(p.task, p.attempt, why + "; nothing ran", true);
      p.spec = std::move(k.spec);
      return EndUnstarted(std::move(p), FailureReason::kLost, why + "; nothing ran");  // runs again, uncharged
    }
    if (err != 0) {  // it never ran: its result (command not found, say) now
      return EndedAtOnce(p, reply, true,
                         RecordResult(k.spec, CommandAttemptResult(k.spec, k.program, NotStarted(err), k.started_at)));
    }
    unsigned long long ticks = ProcessStartTicks(pid);
    // Its pid beside the keeper's record: found even if the keeper dies.
    Log({{"task", p.task}, {"attempt", p.attempt}, {"keeper", self_}, {"keeper_ticks", self_ticks_},
         {"pid", pid}, {"ticks", ticks}}).IgnoreError();
    k.key = Key(p.task, p.attempt);
    running_[k.key] = pid;
    kept_.emplace(token, std::move(k));
    Started(p, reply, pid, ticks, true);
  }

  // A kept command ended: its result, then the word to porch.
  void Record(const CommandPool::Outcome& o) {
    auto it = kept_.find(o.token);
    if (it == kept_.end()) return;
    const KeptAttempt& k = it->second;
    int code = RecordResult(k.spec, CommandAttemptResult(k.spec, k.program, o.outcome, k.started_at));
    Send({{"exited", o.pid}, {"status", code << 8}, {"task", k.spec.task_id}, {"attempt", k.spec.attempt}});
    running_.erase(k.key);
    kept_.erase(it);
  }

  void SupervisorEnded(pid_t pid, int status) {
    if (supervisors_ > 0) --supervisors_;
    auto it = supervised_.find(pid);
    if (it == supervised_.end()) return;
    Send({{"exited", pid}, {"status", status}, {"task", it->second.first}, {"attempt", it->second.second}});
    running_.erase(Key(it->second.first, it->second.second));
    supervised_.erase(it);
  }

  // Any other attempt: a supervisor of its own, forked.
  void StartSupervisor(Pending p, bool reply) {
    // The supervisor waits for a go-ahead until its pid is in spawned.log:
    // an attempt porch could not find again after a crash must not run.
    auto refuse = [&](const std::string& why, bool stop) {
      if (reply) return Refuse(p.task, p.attempt, why, stop);
      EndUnstarted(std::move(p), FailureReason::kLost, why + "; nothing ran");  // runs again, uncharged
    };
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) return refuse(std::string("cannot make a pipe: ") + std::strerror(errno), true);
    pid_t pid = fork();
    if (pid < 0) {
      close(go[0]);
      close(go[1]);
      return refuse(std::string("cannot fork a supervisor: ") + std::strerror(errno), false);
    }
    if (pid == 0) {
      close(go[1]);
      char c = 0;
      ssize_t n;
      do n = read(go[0], &c, 1); while (n < 0 && errno == EINTR);
      if (n != 1) _exit(kExecNotStarted);
      Supervise(std::move(p.spec));
    }
    close(go[0]);
    ++supervisors_;
    pool_.KeepChild(pid);
    supervised_[pid] = {p.task, p.attempt};
    running_[Key(p.task, p.attempt)] = pid;
    unsigned long long ticks = ProcessStartTicks(pid);
    Status logged = Log({{"task", p.task}, {"attempt", p.attempt}, {"pid", pid}, {"ticks", ticks}});
    if (logged.ok() && write(go[1], "g", 1) != 1) logged = Status::FromErrno("go-ahead", errno);
    close(go[1]);  // without the byte, the supervisor exits at once (kExecNotStarted)
    if (!logged.ok() && reply) {
      supervised_.erase(pid);  // its exit is no attempt's
      running_.erase(Key(p.task, p.attempt));
      return Refuse(p.task, p.attempt, "cannot record the attempt (" + logged.message() + "); nothing ran", true);
    }
    Started(p, reply, pid, ticks, false);  // unrecorded and unstarted: it exits kExecNotStarted
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
    signal(SIGPIPE, SIG_DFL);
    // Its result goes to result.json (results.log is for kept commands).
    // The socket, spawned.log, the logs, the signalfd, the kept commands'
    // pipes: it outlives them all.
    close_range(3, ~0U, 0);
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
  std::unordered_map<pid_t, std::pair<std::string, int>> supervised_;  // supervisor -> task, attempt
  std::unordered_map<std::string, pid_t> running_;  // Key -> command or supervisor
  Queue queue_;                // taken, waiting for a slot
  std::unordered_map<std::string, Queue::iterator> held_;  // Key -> its place in queue_
  uint64_t slots_ = 0;         // at most this many at once; 0: no bound
  uint64_t adopted_ = 0;       // attempts of an earlier porch still running (porch's count)
  uint64_t tokens_ = 0;
  uint64_t supervisors_ = 0;  // supervisors started and not yet reaped
  bool stopping_ = false;     // told to stop: starts nothing more
  uint64_t kept_until_ = 0;  // results.log's blocks are allocated up to here
  uint64_t last_size_ = 0;   // results.log's size at the last KeepRoom
  std::string pending_;
  std::string outbox_;  // messages to porch not sent yet
  double outbox_since_ = 0;  // when the oldest of them was queued (MonotonicSeconds)
  const double event_delay_s_;
  bool answer_ = false;      // the outbox holds an answer porch waits for
  bool full_ = false;        // the socket took not all: the rest goes at POLLOUT
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
  // The socket came as fd 3 without close-on-exec: no command may hold it
  // (porch would not see the spawner end, and a command could write to it).
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  // A write to a vanished reader is an error to handle, not a death (the
  // commands get the default back: Spawn resets it).
  signal(SIGPIPE, SIG_IGN);
  // Never blocked writing to porch while porch writes to it (Flush keeps
  // what the socket does not take).
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  // The spawner's own knob, not the attempts' (single-threaded here: unsetenv is safe).
  double event_delay_s = kEventDelaySeconds;
  if (const char* delay = std::getenv("PORCH_SPAWNER_EVENT_DELAY_MS")) {
    event_delay_s = std::clamp(std::strtod(delay, nullptr), 0.0, 60000.0) / 1000.0;
    unsetenv("PORCH_SPAWNER_EVENT_DELAY_MS");
  }
  Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(run_dir, CurrentEnvironment());
  if (!run.ok()) {
    std::string line = json({{"fatal", run.status().message()}}).dump() + "\n";
    WriteAll(fd, line, "the spawner's socket").IgnoreError();
    return kExecUsage;
  }
  return Spawner(std::move(*run), fd, event_delay_s).Serve();
}

}  // namespace porch
