// The local backend (the seed's ThreadingBackend): each attempt runs as a
// process on this machine.
//
// For every attempt porch forks a small supervisor process (a copy of porch
// running exec/attempt.h's RunAttempt, the same code as `porch exec-task`)
// in a process group of its own. The supervisor starts the command, enforces
// its time limit, and writes result.json. Because the supervisor, not porch,
// owns the outcome, an attempt survives porch being killed (kill -9
// included): `porch resume` re-adopts it by pid, or ingests its result file
// if it finished meanwhile. No attempt is started twice.
//
// Job ids are "local:<pid>:<process start time>", so a recycled pid is never
// mistaken for the supervisor.
//
// Requires: porch is single-threaded when Submit() forks; a SignalGuard is
// installed so SIGCHLD wakes Wait() at once (without one, Wait() still works
// but notices exits only at its deadline).
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/polling_backend.h"
#include "config/config.h"
#include "platform/clock.h"
#include "model/run_layout.h"

namespace porch {

struct LocalBackendOptions {
  const Plan* plan = nullptr;    // for AI tasks' context; must outlive the backend
  Config config;                 // agent and LLM settings for AI tasks
  double kill_grace_s = 5;
  double adopted_poll_s = 0.05;  // how often to look at re-adopted attempts
  std::map<std::string, std::string> env;  // extra environment for commands
  std::map<std::string, std::string> porch_env;  // porch's own, for AI tasks' executors
};

class LocalBackend : public PollingBackend {
 public:
  LocalBackend(RunLayout layout, Clock* clock, LocalBackendOptions options);
  ~LocalBackend() override = default;

  std::string name() const override { return "threading"; }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  void Cancel(Dag::Index index, int attempt) override;
  Result<RecoverOutcome> Recover(const InFlight& attempt) override;

 protected:
  void Poll(std::vector<BackendEvent>* events) override;
  double PollInterval() const override;
  bool PollIsCheap() const override { return true; }

 private:
  struct Job {
    Dag::Index index;
    int attempt;
    std::string task_id;
    int pid;
    unsigned long long start_ticks;
    bool child;  // false: re-adopted from an earlier porch process
  };

  Result<std::string> SubmitOne(const Launch& l);
  void Reap(std::vector<BackendEvent>* out);
  void PollAdopted(std::vector<BackendEvent>* out);
  BackendEvent Collect(const Job& job, int wait_status, bool have_status);

  RunLayout layout_;
  LocalBackendOptions options_;
  std::unordered_map<int, Job> jobs_;  // by supervisor pid
  size_t adopted_ = 0;                 // jobs_ that are not our children
};

// Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat
// field 22), or 0 if there is no such process.
unsigned long long ProcessStartTicks(int pid);

}  // namespace porch
