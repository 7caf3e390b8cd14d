#include "platform/spawn.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "platform/clock.h"
#include "platform/files.h"

extern char** environ;

namespace porch {

namespace {

// A wait with no deadline of its own: a signal (SIGCHLD) ends it.
constexpr double kNever = 3600;
// How often a capped output's size is looked at.
constexpr double kOutputCheckSeconds = 1.0;
// Orphans are killed in rounds (killing one reparents its children to us).
constexpr int kOrphanRounds = 50;
constexpr useconds_t kOrphanWaitMicros = 10 * 1000;

// Cuts `path` back to `cap` bytes when it grew past it; true if it did.
bool CapOutput(const std::string& path, uint64_t cap) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= cap) return false;
  return truncate(path.c_str(), static_cast<off_t>(cap)) == 0;
}

// Leaves `path` at its cap with a line saying it was cut there.
void MarkCut(const std::string& path, uint64_t cap) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) < cap) return;
  if (truncate(path.c_str(), static_cast<off_t>(cap)) != 0) return;
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  std::string marker = "\n[porch: output cut at " + std::to_string(cap) +
                       " bytes (limits.max_output_bytes)]\n";
  WriteAll(fd, marker, path).IgnoreError();
  close(fd);
}

// The pids whose parent is this process, from /proc.
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  const pid_t self = getpid();
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    Result<std::string> stat = ReadFile(std::string("/proc/") + e->d_name + "/stat");
    if (!stat.ok()) continue;
    size_t close = stat->rfind(')');
    if (close == std::string::npos || close + 4 >= stat->size()) continue;
    // After ") S ": the state, then the parent's pid.
    pid_t ppid = static_cast<pid_t>(std::strtol(stat->c_str() + close + 4, nullptr, 10));
    if (ppid == self) out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  closedir(d);
  return out;
}

}  // namespace

void BecomeSubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

void KillOrphans() {
  for (int round = 0; round < kOrphanRounds; ++round) {
    int status = 0;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
    // One syscall tells whether anything is left: ECHILD, nothing.
    if (waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD) return;
    for (pid_t pid : Children()) {
      kill(-pid, SIGKILL);  // its group, if it leads one
      kill(pid, SIGKILL);
    }
    usleep(kOrphanWaitMicros);
  }
}

std::vector<std::string> EnvironmentFrom(
    const std::map<std::string, std::string>& base,
    const std::vector<std::pair<std::string, std::string>>& overrides,
    const std::vector<std::string>& drop) {
  std::map<std::string, std::string> env = base;
  for (const std::string& name : drop) env.erase(name);
  for (const auto& [k, v] : overrides) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<std::string> EnvironmentWith(
    const std::vector<std::pair<std::string, std::string>>& overrides,
    const std::vector<std::string>& drop) {
  std::map<std::string, std::string> base;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) base.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return EnvironmentFrom(base, overrides, drop);
}

int Spawn(const SpawnRequest& r, pid_t* pid) {
  if (r.argv.empty()) return EINVAL;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  int target = 1;
  for (const ChildOutput* o : {&r.out, &r.err}) {
    if (o->fd >= 0) {
      posix_spawn_file_actions_adddup2(&actions, o->fd, target);
    } else if (!o->path.empty()) {
      // Always O_APPEND: an output cut at its cap (ftruncate) keeps being
      // written at its end, never past a hole.
      int flags = O_WRONLY | O_CREAT | O_APPEND | (o->append ? 0 : O_TRUNC);
      posix_spawn_file_actions_addopen(&actions, target, o->path.c_str(), flags, 0644);
    }
    ++target;
  }
  for (const auto& [from, to] : r.pass_fds) posix_spawn_file_actions_adddup2(&actions, from, to);
  if (!r.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, r.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  short flags = POSIX_SPAWN_SETSIGMASK;
  if (r.default_signals) {
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT}) sigaddset(&defaults, s);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    flags |= POSIX_SPAWN_SETSIGDEF;
  }
  if (r.new_process_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  std::vector<std::string> args = r.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy;
  std::vector<char*> envp;
  if (r.env) {
    env_copy = *r.env;
    for (std::string& e : env_copy) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
  int err = posix_spawnp(pid, argv[0], &actions, &attr, argv.data(), r.env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return err;
}

namespace {

// How much one look at a pipe copies at most.
constexpr size_t kDrainBudgetBytes = 1 << 20;

// The lazy outputs' relay: the read ends of the command's stdout and stderr
// pipes, copied to files created at the first byte, counted against the cap.
class OutputRelay {
 public:
  OutputRelay(const SpawnSpec& spec) : spec_(spec) {}
  ~OutputRelay() {
    for (int i = 0; i < 2; ++i) {
      if (pipe_[i] >= 0) close(pipe_[i]);
      if (file_[i] >= 0) close(file_[i]);
    }
  }
  // Makes the pipes; the write ends go to the child. 0 or an errno.
  int Open(int child_ends[2]) {
    for (int i = 0; i < 2; ++i) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0) return errno;
      fcntl(p[0], F_SETFL, O_NONBLOCK);
      pipe_[i] = p[0];
      child_ends[i] = p[1];
    }
    return 0;
  }
  int fd(int i) const { return pipe_[i]; }
  // Copies what pipe i holds now, up to `budget` bytes (the caller's wait
  // loop must still see time limits and cancels when a command writes as
  // fast as this copies); closes it at EOF.
  void Drain(int i, size_t budget = kDrainBudgetBytes) {
    char buf[1 << 16];
    for (size_t read_so_far = 0; pipe_[i] >= 0 && read_so_far < budget;) {
      ssize_t n = read(pipe_[i], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // EAGAIN: nothing more now
      if (n == 0) {
        close(pipe_[i]);
        pipe_[i] = -1;
        return;
      }
      read_so_far += static_cast<size_t>(n);
      Keep(i, buf, static_cast<size_t>(n));
    }
  }
  bool cut(int i) const { return cut_[i]; }

 private:
  void Keep(int i, const char* data, size_t n) {
    const uint64_t cap = spec_.max_output_bytes;
    if (cap > 0 && kept_[i] + n > cap) {
      cut_[i] = true;
      n = static_cast<size_t>(cap - std::min<uint64_t>(cap, kept_[i]));
    }
    if (n == 0) return;
    if (file_[i] < 0 && !failed_[i]) {
      const std::string& path = i == 0 ? spec_.stdout_path : spec_.stderr_path;
      size_t slash = path.rfind('/');
      if (slash != std::string::npos && slash > 0) MakeDirs(path.substr(0, slash)).IgnoreError();
      file_[i] = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (spec_.append ? 0 : O_TRUNC),
                      0644);
      // When stdout and stderr are one file, they share it from here on.
      if (file_[i] >= 0 && spec_.stdout_path == spec_.stderr_path && file_[1 - i] < 0) {
        file_[1 - i] = dup(file_[i]);
      }
      failed_[i] = file_[i] < 0;
    }
    if (file_[i] >= 0) WriteAll(file_[i], std::string_view(data, n), "output").IgnoreError();
    kept_[i] += n;
  }

  const SpawnSpec& spec_;
  int pipe_[2] = {-1, -1};
  int file_[2] = {-1, -1};
  uint64_t kept_[2] = {0, 0};
  bool cut_[2] = {false, false};
  bool failed_[2] = {false, false};
};

// Waits up to `seconds` for one of `watch` (blocked) or for output to
// relay; returns the signal taken, or 0.
int WaitForSignalOrOutput(const sigset_t& watch, int sigfd, OutputRelay* relay, double seconds) {
  if (relay == nullptr || sigfd < 0) {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(seconds);
    ts.tv_nsec = static_cast<long>((seconds - std::floor(seconds)) * 1e9);
    siginfo_t info;
    int sig = sigtimedwait(&watch, &info, &ts);
    return sig > 0 ? sig : 0;
  }
  pollfd p[3] = {{sigfd, POLLIN, 0}, {relay->fd(0), POLLIN, 0}, {relay->fd(1), POLLIN, 0}};
  int ms = static_cast<int>(std::min(seconds * 1000.0, 3.6e6)) + 1;
  if (poll(p, 3, ms) <= 0) return 0;
  for (int i = 0; i < 2; ++i) {
    if (p[i + 1].revents) relay->Drain(i);
  }
  if (!(p[0].revents & POLLIN)) return 0;
  signalfd_siginfo info;
  ssize_t n = read(sigfd, &info, sizeof info);
  return n == sizeof info ? static_cast<int>(info.ssi_signo) : 0;
}

// Waits for `child` to end, enforcing the time limit (SIGTERM to its group,
// SIGKILL after the grace), turning SIGTERM/SIGINT/SIGHUP into a
// cancellation, and cutting its output at the cap. Returns the wait status.
// The signals SpawnAndWait waits for (blocked by the caller).
sigset_t WatchedSignals() {
  sigset_t watch;
  sigemptyset(&watch);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&watch, s);
  return watch;
}

// With a relay, the signals come through `sigfd`, polled beside the pipes
// (they stay blocked, as the contract says).
int WaitWithLimits(pid_t child, const SpawnSpec& spec, SpawnOutcome* out, bool* cut,
                   bool* cancelled, OutputRelay* relay, int sigfd) {
  const sigset_t watch = WatchedSignals();
  const double start = MonotonicSeconds();
  double limit_at = spec.time_limit_s > 0 ? start + spec.time_limit_s : 0;
  double kill_at = 0;  // when SIGKILL follows the SIGTERM
  int status = 0;
  while (waitpid(child, &status, WNOHANG) != child) {
    double now = MonotonicSeconds();
    if (limit_at > 0 && now >= limit_at && kill_at == 0) {
      out->timed_out = true;
      kill(-child, SIGTERM);
      kill_at = now + spec.grace_s;
    }
    if (kill_at > 0 && now >= kill_at) {
      kill(-child, SIGKILL);
      kill_at = now + kNever;  // sent; just wait for it
    }
    double next = spec.on_tick ? spec.tick_s : kNever;
    if (spec.on_tick) spec.on_tick();
    if (spec.max_output_bytes > 0 && !relay) {  // a relay counts as it copies
      cut[0] |= CapOutput(spec.stdout_path, spec.max_output_bytes);
      cut[1] |= CapOutput(spec.stderr_path, spec.max_output_bytes);
      next = std::min(next, kOutputCheckSeconds);
    }
    if (limit_at > 0 && kill_at == 0) next = std::min(next, limit_at - now);
    if (kill_at > 0) next = std::min(next, kill_at - now);
    next = std::max(next, 0.001);
    int sig = WaitForSignalOrOutput(watch, sigfd, relay, next);
    if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !out->cancelled) {
      out->cancelled = true;
      *cancelled = true;
      kill(-child, SIGTERM);
      double t = MonotonicSeconds();
      if (kill_at == 0 || kill_at > t + spec.grace_s) kill_at = t + spec.grace_s;
    }
  }
  return status;
}

}  // namespace

SpawnOutcome SpawnAndWait(const SpawnSpec& spec, bool* cancelled) {
  SpawnOutcome out;
  if (*cancelled) {
    out.cancelled = true;
    return out;
  }
  SpawnRequest req;
  req.argv = spec.argv;
  req.env = &spec.env;
  req.cwd = spec.workdir;
  req.out = {-1, spec.stdout_path, spec.append};
  req.err = {-1, spec.stderr_path, spec.append};
  req.new_process_group = true;
  req.default_signals = true;
  pid_t child = 0;
  int err = req.argv.empty() ? EINVAL : IsDirectory(spec.workdir) ? 0 : ENOTDIR;
  std::optional<OutputRelay> relay;
  int child_ends[2] = {-1, -1};
  const sigset_t watch = WatchedSignals();
  int sigfd = err == 0 && spec.lazy_output ? signalfd(-1, &watch, SFD_CLOEXEC) : -1;
  if (sigfd >= 0) {
    err = relay.emplace(spec).Open(child_ends);
    req.out = {child_ends[0], "", false};
    req.err = {child_ends[1], "", false};
  } else if (err == 0 && spec.lazy_output) {
    // No descriptor for the signals (out of them): plain files, made now.
    MakeDirs(DirName(spec.stdout_path)).IgnoreError();
    MakeDirs(DirName(spec.stderr_path)).IgnoreError();
  }
  if (err == 0) err = Spawn(req, &child);
  for (int fd : child_ends) {
    if (fd >= 0) close(fd);
  }
  if (err != 0) {
    if (sigfd >= 0) close(sigfd);
    out.spawn_errno = err;
    out.exit_code = err == ENOENT ? 127 : err == EACCES ? 126 : -1;
    return out;
  }
  bool cut[2] = {false, false};
  const int status = WaitWithLimits(child, spec, &out, cut, cancelled, relay ? &*relay : nullptr, sigfd);
  if (sigfd >= 0) close(sigfd);
  // Whatever the command left in its group does not outlive it, nor what it
  // started in sessions of their own (the caller is a subreaper).
  kill(-child, SIGKILL);
  KillOrphans();
  if (relay) {  // what was written before: every writer is gone, so this ends
    for (int i = 0; i < 2; ++i) {
      relay->Drain(i, SIZE_MAX);
      cut[i] |= relay->cut(i);
    }
  }
  if (spec.max_output_bytes > 0) {
    const std::string* paths[2] = {&spec.stdout_path, &spec.stderr_path};
    for (int i = 0; i < 2; ++i) {
      if (CapOutput(*paths[i], spec.max_output_bytes) || cut[i]) {
        out.output_cut = true;
        MarkCut(*paths[i], spec.max_output_bytes);
      }
    }
  }
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.term_signal = WTERMSIG(status);
    out.exit_code = 128 + out.term_signal;
  }
  return out;
}

}  // namespace porch
