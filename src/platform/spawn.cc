#include "platform/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "platform/clock.h"
#include "platform/files.h"

extern char** environ;

namespace porch {

namespace {
// A wait with no deadline of its own: a signal (SIGCHLD) ends it.
constexpr double kNever = 3600;
}  // namespace

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
      int flags = O_WRONLY | O_CREAT | (o->append ? O_APPEND : O_TRUNC);
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

SpawnOutcome SpawnAndWait(const SpawnSpec& spec, bool* cancelled) {
  SpawnOutcome out;
  if (*cancelled) {
    out.cancelled = true;
    return out;
  }
  sigset_t watch;
  sigemptyset(&watch);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&watch, s);

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
  if (err == 0) err = Spawn(req, &child);
  if (err != 0) {
    out.spawn_errno = err;
    out.exit_code = err == ENOENT ? 127 : err == EACCES ? 126 : -1;
    return out;
  }

  const double start = MonotonicSeconds();
  double limit_at = spec.time_limit_s > 0 ? start + spec.time_limit_s : 0;
  double kill_at = 0;  // when SIGKILL follows the SIGTERM
  int status = 0;
  while (true) {
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) break;
    double now = MonotonicSeconds();
    if (limit_at > 0 && now >= limit_at && kill_at == 0) {
      out.timed_out = true;
      kill(-child, SIGTERM);
      kill_at = now + spec.grace_s;
    }
    if (kill_at > 0 && now >= kill_at) {
      kill(-child, SIGKILL);
      kill_at = now + kNever;  // sent; just wait for it
    }
    double next = spec.on_tick ? spec.tick_s : kNever;
    if (spec.on_tick) spec.on_tick();
    if (limit_at > 0 && kill_at == 0) next = std::min(next, limit_at - now);
    if (kill_at > 0) next = std::min(next, kill_at - now);
    next = std::max(next, 0.001);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(next);
    ts.tv_nsec = static_cast<long>((next - std::floor(next)) * 1e9);
    siginfo_t info;
    int sig = sigtimedwait(&watch, &info, &ts);
    if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !out.cancelled) {
      out.cancelled = true;
      *cancelled = true;
      kill(-child, SIGTERM);
      double t = MonotonicSeconds();
      if (kill_at == 0 || kill_at > t + spec.grace_s) kill_at = t + spec.grace_s;
    }
  }
  // Whatever the command left in its group does not outlive it.
  kill(-child, SIGKILL);
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.term_signal = WTERMSIG(status);
    out.exit_code = 128 + out.term_signal;
  }
  return out;
}

}  // namespace porch
