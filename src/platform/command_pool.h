// Many commands at once, watched from one single-threaded process without a
// process per command: the local spawner's command attempts.
//
// Each command runs as SpawnAndWait runs one (platform/spawn.h): a process
// group of its own, stdin from /dev/null, stdout and stderr relayed through
// pipes to files made at their first byte (SpawnSpec::lazy_output, always
// on here), the time limit (SIGTERM to the group, SIGKILL after the grace),
// cancellation, and the output cap. When a command ends, what is left of
// its group is killed, and so is what it started in sessions of its own
// (the pool makes its process a subreaper): a child the pool did not start
// and was not told to keep is an orphan, killed unless it is in the group
// of a command still running or its environment holds every entry of the
// `marker` of a command still running (a daemon the command started and
// still uses). A command counts as ended, and is reported, only once its
// orphans are gone and its output is relayed.
//
// The caller owns the event loop: it keeps SIGCHLD blocked (and takes it
// through a signalfd, say), polls PollFds() beside its own descriptors for
// at most TimeoutMs(), then calls Service(), which relays output, reaps
// children, enforces deadlines and finishes commands; Finished() hands the
// outcomes over. Children the caller forks itself must be named with
// KeepChild, or the pool takes them for orphans; Service returns their wait
// statuses.
//
// Not thread-safe. Destroying the pool leaves running commands running (the
// spawner exits only when none is left).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <poll.h>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "platform/spawn.h"

namespace porch {

class OutputRelay;

class CommandPool {
 public:
  CommandPool();
  ~CommandPool();
  CommandPool(const CommandPool&) = delete;
  CommandPool& operator=(const CommandPool&) = delete;

  // Starts spec's command (spec.env is its whole environment). Returns 0 and
  // sets *pid (the command's pid, which leads its group), or the errno that
  // kept it from starting (ENOENT: not found, EACCES: not executable,
  // ENOTDIR: no working directory, or a pipe's); then nothing runs and
  // NotStarted(err) is its outcome. `token` comes back with the outcome.
  int Start(SpawnSpec spec, uint64_t token, std::vector<std::string> marker, pid_t* pid);

  // Cancels a running command: SIGTERM to its group, SIGKILL after its
  // grace. Its outcome says cancelled. False if no such command runs.
  bool Cancel(pid_t pid);
  void CancelAll();

  // A child of the caller's own, which the pool must neither take for an
  // orphan nor reap silently: Service returns its wait status.
  void KeepChild(pid_t pid) { kept_.insert(pid); }

  // Appends the descriptors to poll (POLLIN) to `fds`.
  void PollFds(std::vector<pollfd>* fds) const;
  // Milliseconds until the next deadline (a time limit, a grace, another
  // look for orphans); -1 when there is none.
  int TimeoutMs(double now) const;
  // After a wake-up: relays output from the descriptors `fds` says are
  // ready, reaps children, enforces deadlines, finishes commands that have
  // ended. Returns (pid, wait status) of KeepChild children that ended.
  std::vector<std::pair<pid_t, int>> Service(const std::vector<pollfd>& fds, double now);

  struct Outcome {
    uint64_t token = 0;
    pid_t pid = 0;
    SpawnOutcome outcome;
  };
  // Commands that ended since the last call, in the order they ended.
  std::vector<Outcome> Finished();

  // Commands started and not yet handed over by Finished().
  size_t running() const { return commands_.size() + finished_.size(); }

 private:
  struct Command;
  void Reap(std::vector<std::pair<pid_t, int>>* kept_ended);
  void EnforceLimits(Command* c, double now);
  // True once the command has nothing left behind (after killing it).
  bool LeftNothing(Command* c, double now);
  // Kills the children that are neither ours nor protected; true if any.
  bool KillOrphans();
  bool Protected(pid_t child) const;
  void Finish(Command* c);

  // By token: a reaped command's pid may be reused while it is still
  // looked after (its leftovers); `running_` maps the pids not reaped yet.
  std::map<uint64_t, std::unique_ptr<Command>> commands_;
  std::unordered_map<pid_t, Command*> running_;
  std::unordered_map<int, std::pair<Command*, int>> by_fd_;  // relay pipe -> (command, 0 or 1)
  std::set<pid_t> kept_;
  std::vector<Outcome> finished_;
};

// The outcome of a command that could not start (errno `err`).
SpawnOutcome NotStarted(int err);

// Fills the exit code and signal of `out` from a wait status.
void SetExitStatus(int wait_status, SpawnOutcome* out);

}  // namespace porch
