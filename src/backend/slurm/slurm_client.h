// porch's client for a SLURM cluster, modelled on its command-line tools
// (sbatch, squeue, sacct, scontrol, scancel) and run through the
// CommandRunner seam, so it works wherever those clients work (login nodes,
// ParallelCluster head nodes) and its tests replay captured output.
//
// Contract:
//  - Every call has a timeout. A controller that is busy or unreachable
//    ("Socket timed out", "Unable to contact slurm controller", a client that
//    hangs) is retried with exponential backoff through the Clock, up to
//    max_attempts; only then does the call fail (Unavailable). Other errors
//    fail at once with the client's own message.
//  - Submit() is safe to retry: a timed-out sbatch may still have queued the
//    job, so before trying again the client asks squeue for a job of that
//    exact name and returns its id if one exists.
//  - Queue() is one squeue call for all of a user's jobs whose name starts
//    with a prefix (the run's), never one call per job.
//  - Accounting() (sacct) answers Infeasible when the cluster has no
//    accounting; the client remembers and does not ask again.
//  - Not thread-safe. The runner and clock are not owned.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/slurm/slurm_state.h"
#include "core/status.h"
#include "platform/clock.h"
#include "platform/command_runner.h"
#include "platform/retry.h"

namespace porch {

struct SlurmClientOptions {
  double timeout_s = 60;       // one client call
  int max_attempts = 6;        // per call, including retries
  double retry_base_s = 1;     // first backoff, doubled each time
  double retry_max_s = 30;     // cap on one backoff
  std::string bin_dir;         // where sbatch & co live; empty: PATH
};

// How many times each client program ran (for benchmarks and tests).
struct SlurmCallCounts {
  int sbatch = 0, squeue = 0, sacct = 0, scontrol = 0, scancel = 0;
  int retries = 0;
};

class SlurmClient {
 public:
  SlurmClient(CommandRunner* runner, Clock* clock, SlurmClientOptions options = {});

  // `sbatch --parsable SCRIPT`; the job's name is in the script. Returns the
  // job id ("123"; array elements are then "123_0" ...).
  Result<std::string> Submit(const std::string& script_path, const std::string& job_name);

  // squeue for `user`, every state still known to the controller (finished
  // jobs stay listed for MinJobAge), array elements one per line, filtered
  // to the jobs whose comment is exactly `comment` (one run's jobs).
  Result<std::vector<SlurmJob>> Queue(const std::string& user, const std::string& comment);

  // sacct for the given ids (one call). Infeasible when the cluster keeps
  // no accounting.
  Result<std::vector<SlurmJob>> Accounting(const std::vector<std::string>& ids);
  bool accounting_available() const { return accounting_ != Tri::kNo; }

  // scontrol show job: nullopt when the controller no longer knows the job.
  Result<std::optional<SlurmJob>> Show(const std::string& id);

  // scancel for the given ids (one call). Ids SLURM no longer knows are not
  // an error.
  Status Cancel(const std::vector<std::string>& ids);

  // scontrol ping: OK when a controller answers.
  Status Ping();

  const SlurmCallCounts& calls() const { return calls_; }

 private:
  enum class Tri { kUnknown, kYes, kNo };
  // Runs argv with retries on transient failures. `accept_failure` lets a
  // caller accept some non-zero exits (returns the output either way).
  // `before_retry`, when it returns true, ends the loop with an empty output
  // (the caller found what the failed call may have done).
  Result<CommandOutput> Call(std::vector<std::string> argv, int* counter,
                             bool (*accept_failure)(const CommandOutput&) = nullptr,
                             const std::function<bool()>& before_retry = nullptr);
  std::string Bin(const char* name) const;

  CommandRunner* runner_;
  Clock* clock_;
  SlurmClientOptions options_;
  SlurmCallCounts calls_;
  Tri accounting_ = Tri::kUnknown;
};

}  // namespace porch
