#include "exec/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "platform/files.h"

extern char** environ;

namespace porch {

namespace {

double Monotonic() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

}  // namespace

std::vector<std::string> EnvironmentWith(
    const std::vector<std::pair<std::string, std::string>>& overrides,
    const std::vector<std::string>& drop) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    std::string name = kv.substr(0, kv.find('='));
    bool replaced = std::any_of(overrides.begin(), overrides.end(),
                                [&](const auto& o) { return o.first == name; });
    bool dropped = std::find(drop.begin(), drop.end(), name) != drop.end();
    if (!replaced && !dropped) env.push_back(kv);
  }
  for (const auto& [k, v] : overrides) env.push_back(k + "=" + v);
  return env;
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

  int flags = O_WRONLY | O_CREAT | (spec.append ? O_APPEND : O_TRUNC);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, spec.stdout_path.c_str(), flags, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, spec.stderr_path.c_str(), flags, 0644);
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
  std::vector<std::string> env = spec.env;
  std::vector<char*> envp;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t child = 0;
  int err = args.empty() ? EINVAL : IsDirectory(spec.workdir) ? 0 : ENOTDIR;
  if (err == 0) err = posix_spawnp(&child, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    out.spawn_errno = err;
    out.exit_code = err == ENOENT ? 127 : err == EACCES ? 126 : -1;
    return out;
  }

  const double start = Monotonic();
  double limit_at = spec.time_limit_s > 0 ? start + spec.time_limit_s : 0;
  double kill_at = 0;  // when SIGKILL follows the SIGTERM
  int status = 0;
  while (true) {
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) break;
    double now = Monotonic();
    if (limit_at > 0 && now >= limit_at && kill_at == 0) {
      out.timed_out = true;
      kill(-child, SIGTERM);
      kill_at = now + spec.grace_s;
    }
    if (kill_at > 0 && now >= kill_at) {
      kill(-child, SIGKILL);
      kill_at = now + 3600;  // sent; just wait for it
    }
    double next = spec.on_tick ? spec.tick_s : 3600;
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
      double t = Monotonic();
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
