#include "platform/command_pool.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>

#include "platform/clock.h"
#include "platform/files.h"
#include "platform/output_relay.h"

namespace porch {

namespace {

// What is left of an ended command is killed in rounds, this far apart:
// killing one process reparents its children to us.
constexpr double kOrphanLookSeconds = 0.01;
constexpr int kOrphanRounds = 50;
constexpr double kNever = std::numeric_limits<double>::infinity();

}  // namespace

SpawnOutcome NotStarted(int err) {
  SpawnOutcome out;
  out.spawn_errno = err;
  out.exit_code = err == ENOENT ? 127 : err == EACCES ? 126 : -1;
  return out;
}

void SetExitStatus(int status, SpawnOutcome* out) {
  if (WIFEXITED(status)) {
    out->exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out->term_signal = WTERMSIG(status);
    out->exit_code = 128 + out->term_signal;
  }
}

struct CommandPool::Command {
  uint64_t token = 0;
  SpawnSpec spec;
  std::vector<std::string> marker;
  pid_t pid = 0;
  std::unique_ptr<OutputRelay> relay;
  double limit_at = 0;  // the time limit; 0: none
  double kill_at = 0;   // when SIGKILL follows a SIGTERM; 0: no SIGTERM sent
  bool reaped = false;
  bool group_gone = false;  // its group was found empty: its pgid is no longer signalled
  int status = 0;
  int rounds = 0;         // looks for what it left behind
  double next_look = 0;   // the next of them
  SpawnOutcome out;
};

CommandPool::CommandPool() { BecomeSubreaper(); }

CommandPool::~CommandPool() = default;

int CommandPool::Start(SpawnSpec spec, uint64_t token, std::vector<std::string> marker, pid_t* pid) {
  auto c = std::make_unique<Command>();
  c->token = token;
  c->spec = std::move(spec);
  c->marker = std::move(marker);
  if (c->spec.argv.empty()) return EINVAL;
  c->relay = std::make_unique<OutputRelay>(c->spec);
  int ends[2] = {-1, -1};
  int err = c->relay->Open(ends);
  SpawnRequest req;
  req.argv = c->spec.argv;
  req.env = &c->spec.env;
  req.cwd = c->spec.workdir;
  req.out = {ends[0], "", false};
  req.err = {ends[1], "", false};
  req.new_process_group = true;
  req.default_signals = true;
  if (err == 0) err = Spawn(req, &c->pid);
  for (int fd : ends) {
    if (fd >= 0) close(fd);
  }
  // The child's chdir fails as its exec would: told apart only then (a stat
  // less per command).
  if ((err == ENOENT || err == ENOTDIR || err == EACCES) && !IsDirectory(c->spec.workdir)) return ENOTDIR;
  if (err != 0) return err;
  *pid = c->pid;
  if (c->spec.time_limit_s > 0) c->limit_at = MonotonicSeconds() + c->spec.time_limit_s;
  for (int i = 0; i < 2; ++i) by_fd_[c->relay->fd(i)] = {c.get(), i};
  running_[c->pid] = c.get();
  commands_[token] = std::move(c);
  return 0;
}

bool CommandPool::Cancel(pid_t pid) {
  auto it = running_.find(pid);
  if (it == running_.end()) return false;
  Command* c = it->second;
  if (c->out.cancelled) return true;
  c->out.cancelled = true;
  kill(-pid, SIGTERM);
  const double t = MonotonicSeconds();
  if (c->kill_at == 0 || c->kill_at > t + c->spec.grace_s) c->kill_at = t + c->spec.grace_s;
  return true;
}

void CommandPool::CancelAll() {
  std::vector<pid_t> pids;
  for (const auto& [pid, c] : running_) pids.push_back(pid);
  for (pid_t pid : pids) Cancel(pid);
}

void CommandPool::PollFds(std::vector<pollfd>* fds) const {
  for (const auto& [fd, where] : by_fd_) fds->push_back({fd, POLLIN, 0});
}

int CommandPool::TimeoutMs(double now) const {
  double next = kNever;
  for (const auto& [token, c] : commands_) {
    if (c->reaped) {
      next = std::min(next, c->next_look);
      continue;
    }
    if (c->limit_at > 0 && c->kill_at == 0) next = std::min(next, c->limit_at);
    if (c->kill_at > 0) next = std::min(next, c->kill_at);
  }
  if (next == kNever) return -1;
  return static_cast<int>(std::ceil(std::clamp(next - now, 0.0, 3600.0) * 1000.0));
}

std::vector<std::pair<pid_t, int>> CommandPool::Service(const std::vector<pollfd>& fds, double now) {
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    auto it = by_fd_.find(p.fd);
    if (it == by_fd_.end()) continue;
    auto [c, i] = it->second;
    c->relay->Drain(i);
    if (c->relay->fd(i) < 0) by_fd_.erase(it);  // at EOF, closed
  }
  std::vector<std::pair<pid_t, int>> kept_ended;
  Reap(&kept_ended);
  for (auto it = commands_.begin(); it != commands_.end();) {
    Command* c = it->second.get();
    if (!c->reaped) {
      EnforceLimits(c, now);
      ++it;
    } else if (now >= c->next_look && LeftNothing(c, now)) {
      Finish(c);
      it = commands_.erase(it);
    } else {
      ++it;
    }
  }
  return kept_ended;
}

void CommandPool::Reap(std::vector<std::pair<pid_t, int>>* kept_ended) {
  while (true) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = running_.find(pid);
    if (it != running_.end()) {
      it->second->reaped = true;
      it->second->status = status;
      running_.erase(it);
      kill(-pid, SIGKILL);  // what it left in its group does not outlive it
    } else if (kept_.erase(pid) > 0) {
      kept_ended->emplace_back(pid, status);
    }  // else an orphan, reaped
  }
}

void CommandPool::EnforceLimits(Command* c, double now) {
  if (c->limit_at > 0 && now >= c->limit_at && c->kill_at == 0) {
    c->out.timed_out = true;
    kill(-c->pid, SIGTERM);
    c->kill_at = now + c->spec.grace_s;
  }
  if (c->kill_at > 0 && now >= c->kill_at) {
    kill(-c->pid, SIGKILL);
    c->kill_at = kNever;  // sent: its exit will come
  }
}

bool CommandPool::LeftNothing(Command* c, double now) {
  // Zombies count until reaped, so "nothing" is exact: every member gone.
  // Once gone, its number may lead someone else's group: never again.
  const bool group_left = !c->group_gone && kill(-c->pid, 0) == 0;
  if (group_left) kill(-c->pid, SIGKILL);
  c->group_gone = !group_left;
  const bool orphans = KillOrphans();
  if ((group_left || orphans) && ++c->rounds < kOrphanRounds) {
    c->next_look = now + kOrphanLookSeconds;
    return false;
  }
  return true;
}

bool CommandPool::KillOrphans() {
  bool killed = false;
  for (pid_t child : ChildProcesses()) {
    if (running_.count(child) > 0 || kept_.count(child) > 0 || Protected(child)) continue;
    kill(-child, SIGKILL);  // its group, if it leads one
    // One this process may not kill (setuid) is not waited for either.
    killed |= kill(child, SIGKILL) == 0;
  }
  return killed;
}

bool CommandPool::Protected(pid_t child) const {
  const pid_t group = getpgid(child);
  std::string environ;
  bool read = false;
  for (const auto& [pid, c] : running_) {
    if (group == pid) return true;
    if (c->marker.empty()) continue;
    if (!read) {
      Result<std::string> e = ReadFile("/proc/" + std::to_string(child) + "/environ");
      environ = std::string(1, '\0') + (e.ok() ? *e : "");
      read = true;
    }
    bool all = true;
    for (const std::string& entry : c->marker) {
      all = all && environ.find(std::string(1, '\0') + entry + std::string(1, '\0')) != std::string::npos;
    }
    if (all) return true;
  }
  return false;
}

void CommandPool::Finish(Command* c) {
  bool cut[2] = {false, false};
  for (int i = 0; i < 2; ++i) {
    if (c->relay->fd(i) >= 0) {
      by_fd_.erase(c->relay->fd(i));
      c->relay->Drain(i, SIZE_MAX);  // what its writers, all gone, left
    }
    cut[i] = c->relay->cut(i);
  }
  if (c->spec.max_output_bytes > 0) {
    const std::string* paths[2] = {&c->spec.stdout_path, &c->spec.stderr_path};
    for (int i = 0; i < 2; ++i) {
      // Only the relay writes the files, and only once it kept a byte.
      const bool grew = c->relay->kept(i) && CapOutput(*paths[i], c->spec.max_output_bytes);
      if (grew || cut[i]) {
        c->out.output_cut = true;
        MarkCut(*paths[i], c->spec.max_output_bytes);
      }
    }
  }
  SetExitStatus(c->status, &c->out);
  finished_.push_back({c->token, c->pid, c->out});
}

std::vector<CommandPool::Outcome> CommandPool::Finished() {
  std::vector<Outcome> out;
  out.swap(finished_);
  return out;
}

}  // namespace porch
