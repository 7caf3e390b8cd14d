// Runs one child process to its end: its own process group, output to files,
// a time limit (SIGTERM to the group, SIGKILL after the grace period), and
// cancellation when the calling process receives SIGTERM, SIGINT or SIGHUP.
//
// Contract: the caller has SIGCHLD, SIGTERM, SIGINT and SIGHUP blocked (the
// attempt runner does); this function waits for them with sigtimedwait. It is
// meant for the attempt's own process (exec-task or the local backend's
// supervisor), never for porch's scheduler process.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace porch {

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
};

struct SpawnOutcome {
  int spawn_errno = 0;     // non-zero: it never started (ENOENT: not found)
  int exit_code = 0;       // 128 + signal when killed
  int term_signal = 0;
  bool timed_out = false;
  bool cancelled = false;  // SIGTERM/SIGINT/SIGHUP arrived (also before the call, see below)
};

// `cancelled` carries a cancellation across calls: when *cancelled is true
// nothing is started; a cancellation during the call sets it.
SpawnOutcome SpawnAndWait(const SpawnSpec& spec, bool* cancelled);

// The current environment with `overrides` applied (and names in `drop`
// removed), as "NAME=value" strings.
std::vector<std::string> EnvironmentWith(const std::vector<std::pair<std::string, std::string>>& overrides,
                                         const std::vector<std::string>& drop = {});

}  // namespace porch
