// Starting child processes: the one posix_spawn wrapper (Spawn), and
// SpawnAndWait, which runs a task's command to its end: its own process
// group, output to files, a time limit (SIGTERM to the group, SIGKILL after
// the grace period), and cancellation when the calling process receives
// SIGTERM, SIGINT or SIGHUP.
//
// Contract of SpawnAndWait: the caller has SIGCHLD, SIGTERM, SIGINT and
// SIGHUP blocked (the attempt runner does); it waits for them with
// sigtimedwait. It is meant for the attempt's own process (exec-task or the
// local backend's supervisor), never for porch's scheduler process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace porch {

// Where a child's stdout or stderr goes: an open descriptor (dup'ed), or a
// file opened (created, truncated or appended) in the child.
struct ChildOutput {
  int fd = -1;
  std::string path;
  bool append = false;
};

struct SpawnRequest {
  std::vector<std::string> argv;               // argv[0] is looked up in PATH
  const std::vector<std::string>* env = nullptr;  // the complete environment; null: ours
  std::string cwd;                             // empty: ours
  ChildOutput out, err;                        // stdin is always /dev/null
  bool new_process_group = false;              // the child leads a group of its own
  bool default_signals = false;                // reset job-control signals to their defaults
  std::vector<std::pair<int, int>> pass_fds;   // (descriptor here, number in the child); no other passes
};

// Starts the child with posix_spawnp (every signal unblocked in it).
// Returns 0 and sets *pid, or the errno that kept it from starting (ENOENT:
// not found, EACCES: not executable, ENOTDIR: no such working directory).
// The caller waits for *pid.
int Spawn(const SpawnRequest& request, pid_t* pid);

struct SpawnSpec {
  std::vector<std::string> argv;   // argv[0] is looked up in PATH
  std::vector<std::string> env;    // the complete environment, "NAME=value"
  std::string workdir;
  std::string stdout_path;
  std::string stderr_path;
  bool append = false;             // append to the output files instead of truncating
  double time_limit_s = 0;         // 0: none
  double grace_s = 5;
  // Called about every tick_s while the child runs (on this thread), e.g.
  // to follow its output. Must not block.
  std::function<void()> on_tick;
  double tick_s = 0.5;
  // Each of stdout and stderr is cut back to this size while the command
  // runs (looked at every second) and ends with a line saying so; 0: no cap.
  uint64_t max_output_bytes = 0;
  // stdout and stderr reach the command through pipes, and each file (with
  // its directory) is created at its first byte: a command that prints
  // nothing leaves no file and no inode behind. The caller relays while it
  // waits; output still in the pipes when the command ends is drained, what
  // its leftover descendants write after that is not kept (they are killed).
  // A file that cannot be created then loses that output (the outcome is
  // still reported).
  bool lazy_output = false;
};

struct SpawnOutcome {
  int spawn_errno = 0;     // non-zero: it never started (ENOENT: not found)
  int exit_code = 0;       // 128 + signal when killed
  int term_signal = 0;
  bool timed_out = false;
  bool cancelled = false;  // SIGTERM/SIGINT/SIGHUP arrived (also before the call, see below)
  bool output_cut = false; // stdout or stderr reached max_output_bytes
};

// Makes this process the subreaper of everything it starts (Linux): a
// descendant that escapes into a session of its own (`setsid cmd &`) is
// reparented here when its parent exits, instead of to init.
void BecomeSubreaper();
// The pids of this process's children (of its main thread, which is every
// child in a single-threaded process).
std::vector<pid_t> ChildProcesses();
// Kills and reaps every child this process still has (after the command
// ended): with BecomeSubreaper, nothing a task started outlives the task.
void KillOrphans();

// `cancelled` carries a cancellation across calls: when *cancelled is true
// nothing is started; a cancellation during the call sets it.
SpawnOutcome SpawnAndWait(const SpawnSpec& spec, bool* cancelled);

// The current environment with `overrides` applied (and names in `drop`
// removed), as "NAME=value" strings.
// `base` with `overrides` applied and names in `drop` removed, as
// "NAME=value" strings.
std::vector<std::string> EnvironmentFrom(const std::map<std::string, std::string>& base,
                                         const std::vector<std::pair<std::string, std::string>>& overrides,
                                         const std::vector<std::string>& drop = {});

std::vector<std::string> EnvironmentWith(const std::vector<std::pair<std::string, std::string>>& overrides,
                                         const std::vector<std::string>& drop = {});

}  // namespace porch
