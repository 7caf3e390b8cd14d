// The seam for running a cluster's command-line clients (sbatch, squeue,
// sacct, scontrol, scancel): argv in, exit status and output back. The SLURM
// client is written against this interface, so its tests replay captured
// output through a recording fake instead of a cluster.
//
// Contract:
//  - Run() blocks until the program exits or `timeout_s` passes; then the
//    program gets SIGKILL and the result has timed_out set.
//  - stdin is /dev/null; stdout and stderr are captured separately; the
//    environment is porch's own (SLURM_CONF and the like reach the clients),
//    or the one the runner was made with.
//  - Fails (IoError) only when the program could not be started; a non-zero
//    exit is a result, for the caller to judge.
//  - Not thread-safe: one caller at a time (the backend's thread).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace porch {

struct CommandOutput {
  int exit_code = 0;   // 128+N when killed by signal N
  bool timed_out = false;
  std::string out;
  std::string err;
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual Result<CommandOutput> Run(const std::vector<std::string>& argv, double timeout_s) = 0;
};

// Runs real programs (PATH lookup) with posix_spawn.
class RealCommandRunner : public CommandRunner {
 public:
  // `env` ("NAME=value"): the programs' whole environment; empty: porch's.
  // (sbatch exports its environment to jobs: the credentials porch resolved
  // travel this way, never on a command line or in a script.)
  explicit RealCommandRunner(std::vector<std::string> env = {}) : env_(std::move(env)) {}
  Result<CommandOutput> Run(const std::vector<std::string>& argv, double timeout_s) override;

 private:
  std::vector<std::string> env_;
};

}  // namespace porch
