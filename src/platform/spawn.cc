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
#include "platform/command_pool.h"
#include "platform/files.h"
#include "platform/output_relay.h"

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

// The pids whose parent is this process, from a scan of /proc.
std::vector<pid_t> ScanChildren() {
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

std::vector<pid_t> ChildProcesses() {
  const std::string self = std::to_string(getpid());
  // The kernel's list of the main thread's children; a scan without it.
  Result<std::string> list = ReadFile("/proc/" + self + "/task/" + self + "/children");
  if (!list.ok()) return ScanChildren();
  std::vector<pid_t> out;
  for (const char* p = list->c_str(); *p;) {
    char* end = nullptr;
    long pid = std::strtol(p, &end, 10);
    if (end == p) break;
    out.push_back(static_cast<pid_t>(pid));
    p = end;
  }
  return out;
}

void BecomeSubreaper() { prctl(PR_SET_CHILD_SUBREAPER, 1); }

void KillOrphans() {
  for (int round = 0; round < kOrphanRounds; ++round) {
    int status = 0;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
    // One syscall tells whether anything is left: ECHILD, nothing.
    if (waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD) return;
    for (pid_t pid : ChildProcesses()) {
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
  // No copy of `base`: this runs once per command attempt.
  auto overridden = [&](const std::string& name, size_t from) {
    for (size_t i = from; i < overrides.size(); ++i) {
      if (overrides[i].first == name) return true;
    }
    return false;
  };
  std::vector<std::string> out;
  out.reserve(base.size() + overrides.size());
  for (const auto& [k, v] : base) {
    if (overridden(k, 0) || std::find(drop.begin(), drop.end(), k) != drop.end()) continue;
    out.push_back(k + "=" + v);
  }
  for (size_t i = 0; i < overrides.size(); ++i) {
    // The last of a name wins.
    if (!overridden(overrides[i].first, i + 1)) out.push_back(overrides[i].first + "=" + overrides[i].second);
  }
  std::sort(out.begin(), out.end());  // by name, as the map had them
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
  int first_closed = 3;
  for (const auto& [from, to] : r.pass_fds) {
    posix_spawn_file_actions_adddup2(&actions, from, to);
    first_closed = std::max(first_closed, to + 1);
  }
  // Nothing else: a descriptor someone left without close-on-exec (a
  // library's, an inherited one) never reaches the child.
  posix_spawn_file_actions_addclosefrom_np(&actions, first_closed);
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
  // posix_spawnp does not write through these pointers.
  std::vector<char*> argv;
  argv.reserve(r.argv.size() + 1);
  for (const std::string& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (r.env) {
    envp.reserve(r.env->size() + 1);
    for (const std::string& e : *r.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  int err = posix_spawnp(pid, argv[0], &actions, &attr, argv.data(), r.env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return err;
}

namespace {

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
    return NotStarted(err);
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
  SetExitStatus(status, &out);
  return out;
}

}  // namespace porch
