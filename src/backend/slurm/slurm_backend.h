// The SLURM backend (the seed's SlurmBackend, made to survive what breaks
// workflow engines on real clusters). Each task attempt is a batch job that
// runs `porch exec-task` on a compute node; ready attempts with the same
// resources go out as one job array. The run directory must be on a
// filesystem the nodes share (the aws backend lifts that).
//
// Authority: the attempt's result file (written by exec-task, atomically) is
// the authority on how it ended; SLURM's state is the cross-check. A job that
// vanished from squeue (MinJobAge) is resolved from its result file, then
// sacct where the cluster keeps accounting, and only after
// result_grace_seconds without either is it reported lost (the scheduler
// re-runs lost attempts without charging a retry). Nothing is assumed failed
// because squeue forgot it.
//
// Calls to the controller: one squeue per poll for all of the run's jobs
// (selected by the job-name prefix "porch-<run-id>-"), one sacct per poll
// for all vanished jobs, one scancel per poll for all cancellations, one
// sbatch per array. A busy controller is retried by SlurmClient, never fails
// the run.
//
// Resource escalation: after OUT_OF_MEMORY the task's next attempt asks for
// twice the memory (up to max_memory); after TIMEOUT, twice the time (up to
// max_time_limit). NODE_FAIL, PREEMPTED and BOOT_FAIL are reported lost.
//
// Dependencies: with hold_dependents (slurm.dependencies: slurm) a launch
// naming running dependencies (Launch::after) is submitted with
// --dependency=afterok:<ids> --kill-on-invalid-dep=yes; SLURM starts it the
// moment they succeed. Arrays then group launches with equal resources and
// equal dependencies. A held job SLURM cancels because a dependency failed
// (DependencyNeverSatisfied) is reported lost: it did not run.
//
// Resume: Recover() re-adopts the jobs recorded in the journal (watched
// until they end, or ingested at once if their result file exists), so no
// attempt is submitted twice. Jobs of the run that porch finds in the queue
// but has no record of (porch died between sbatch and the journal sync) are
// cancelled on the first poll; their attempts were reported lost and run
// again under a new attempt number.
//
// Threading: called from the scheduler's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "backend/escalation.h"
#include "backend/polling_backend.h"
#include "backend/slurm/slurm_client.h"
#include "config/config.h"
#include "model/result_file.h"
#include "platform/clock.h"
#include "model/run_identity.h"
#include "model/run_layout.h"

namespace porch {

// Moves attempts' files between porch's run directory and a place compute
// nodes can reach when they share no filesystem with porch (the aws
// backend's S3). Called from the backend's thread.
class AttemptStager {
 public:
  virtual ~AttemptStager() = default;
  // Before a submission of `launching` (task id, attempt): the run's inputs
  // (plan, config, output/) where nodes fetch them, and for a retry what the
  // node needs to tell the agent why the previous attempt failed (its
  // result.json and conflicts.txt).
  virtual Status Publish(const std::vector<std::pair<std::string, int>>& launching = {}) = 0;
  // Brings the files of the attempts among `active` that have finished
  // into the run directory, result.json last. Errors are retried next poll.
  virtual void Fetch(const std::vector<std::pair<std::string, int>>& active) = 0;
  // Where job scripts stage (s3://...), and the arguments for `porch s3`.
  virtual std::string StageUrl() const = 0;
  virtual std::vector<std::string> S3Args() const = 0;
  // The run is over: final sync of results and output.
  virtual Status Close() { return Status::Ok(); }
};

struct SlurmBackendOptions {
  std::string name = "slurm";        // "aws" when staging through S3
  std::string run_id;                // the human run id
  std::string uid;                   // the run's unique id: job names and comments
  std::string user;                  // squeue --user; empty: all users
  std::string porch_path;            // absolute, as seen on the nodes
  std::vector<std::pair<std::string, std::string>> exports;  // set by every job script
  std::string partition;             // empty: the cluster's default
  std::string gpu_partition = "gpu";
  double default_time_s = 3600;      // when a task has no limit of its own
  uint64_t default_memory_bytes = 4ull << 30;
  int default_cpus = 1;
  int default_gpus = 0;
  uint64_t max_memory_bytes = 64ull << 30;
  double max_time_s = 2 * 86400;
  std::vector<std::string> extra_args;
  std::string export_env = "ALL";
  bool arrays = true;
  int max_array_size = 1000;         // elements per array (below the cluster's MaxArraySize)
  bool hold_dependents = false;      // slurm.dependencies=slurm: afterok on running deps
  int array_throttle = 0;            // %T on arrays (max_executors)
  double poll_s = 5;
  double result_grace_s = 30;
  double grace_s = 5;                // exec-task's SIGTERM -> SIGKILL grace
  double slurm_time_margin_s = 60;   // SLURM's --time = exec-task's limit + grace + this
};

class SlurmBackend : public PollingBackend {
 public:
  // `client`, `clock` are not owned and must outlive the backend.
  // `stager` (not owned, may be null: the run directory is shared) stages
  // attempts for nodes without a shared filesystem.
  SlurmBackend(SlurmClient* client, RunLayout layout, Clock* clock, SlurmBackendOptions options,
               AttemptStager* stager = nullptr);

  std::string name() const override { return options_.name; }
  Status Close() override { return stager_ ? stager_->Close() : Status::Ok(); }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  void Cancel(Dag::Index index, int attempt) override;
  Result<RecoverOutcome> Recover(const InFlight& attempt) override;
  Capabilities capabilities() const override {
    return {options_.hold_dependents, /*shares_filesystem=*/stager_ == nullptr,
            /*stages_through_object_store=*/stager_ != nullptr};
  }

  // The script for a batch of launches that share resources (exposed for
  // tests). `name` is the job name.
  std::string Script(std::span<const Launch> batch, const std::string& name) const;
  // Where the script for job `name` is kept.
  std::string ScriptPath(const std::string& name) const;

 private:
  struct Job {
    Dag::Index index = 0;
    int attempt = 0;
    std::string task_id;
    bool started = false;
    bool cancel_requested = false;
    double ended_at = 0;      // when SLURM said it ended / it vanished (0: not yet)
    SlurmState last = SlurmState::kPending;
    std::string last_reason;  // squeue's %r
    bool seen = false;        // squeue has listed it at least once
    std::string stderr_path;  // where SLURM writes the job's stderr (empty: on the node)
  };
  // SLURM killed the job for its memory (jobacct_gather's OverMemoryKill
  // says so in the job's stderr; the cgroup plugin ends it OUT_OF_MEMORY).
  bool KilledForMemory(const Job& job, SlurmState state) const;
  // Whether an ended job with no result file can be settled now, without
  // waiting result_grace_s for the file to show on shared storage.
  bool EndIsKnown(const Job& job, SlurmState state) const;
  struct Shape {              // what must be equal for launches to share an array
    int cpus;
    uint64_t memory;
    int gpus;
    double time;
    bool operator<(const Shape& o) const {
      return std::tie(cpus, memory, gpus, time) < std::tie(o.cpus, o.memory, o.gpus, o.time);
    }
  };
  Shape ShapeOf(const Launch& l) const;
  double ExecLimit(const Launch& l) const;
  void Poll(std::vector<BackendEvent>* events) override;
  // One scancel for every cancellation asked for since the last look.
  void FlushCancels();
  // squeue for the run's jobs, by id; queues orphans for cancelling after a resume.
  Result<std::map<std::string, SlurmJob>> ListQueue();
  // One job at one poll: records what squeue says (`s`, null when not
  // listed) and ends the job when its result or SLURM says it is over.
  // Returns true when it ended (its events appended).
  bool LookAt(Job& job, const Result<AttemptResult>& result, const SlurmJob* s, bool listed,
              double now, std::vector<BackendEvent>* events);
  // Jobs squeue no longer lists and that have no result file yet.
  void ResolveVanished(const std::vector<std::string>& vanished, double now,
                       std::vector<BackendEvent>* events);
  double PollInterval() const override { return options_.poll_s; }
  // Ends `job`, from its result (`result`, read by the caller) when there
  // is one, else from SLURM's verdict. Updates escalation factors.
  BackendEvent Finish(Job& job, const Result<AttemptResult>& result, SlurmState state,
                      int exit_code);

  SlurmClient* client_;
  AttemptStager* stager_;
  RunLayout layout_;
  SlurmBackendOptions options_;
  std::map<std::string, Job> jobs_;             // by job id ("12" or "12_3")
  ResourceEscalation escalation_;               // after OUT_OF_MEMORY, TIMEOUT
  std::vector<std::string> to_cancel_;
  bool recovered_ = false;                      // Recover() ran: look for orphans once
};

// The slurm backend's options from the configuration, and a client that
// reached the controller (scontrol ping). Clear errors naming the key or
// the cause. `clock` is not owned.
struct SlurmSetup {
  SlurmBackendOptions options;
  std::unique_ptr<CommandRunner> runner;
  std::unique_ptr<SlurmClient> client;
};
// `env` is porch's environment (SLURM_CONF is checked; the SLURM clients
// and, through sbatch --export, the jobs inherit it).
Result<SlurmSetup> ConnectSlurm(const Config& config, const RunIdentity& identity, Clock* clock,
                                const std::map<std::string, std::string>& env);

// ConnectSlurm, then a backend that owns its client.
Result<std::unique_ptr<Backend>> CreateSlurmBackend(const Config& config, const RunLayout& layout,
                                                    const RunIdentity& identity, Clock* clock,
                                                    const std::map<std::string, std::string>& env);

}  // namespace porch
