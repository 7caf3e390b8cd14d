// The local backend (the seed's ThreadingBackend): each attempt runs as a
// process on this machine.
//
// Attempts are started by the run's spawner (exec/spawner.h): a small
// single-threaded process porch posix_spawns once per run. It runs command
// attempts itself (each command in its own process group, watched from one
// event loop: time limits, cancels, output, the result appended to
// results.log), and forks a supervisor per other attempt (AI tasks,
// isolated commands) running exactly what `porch exec-task` runs. porch
// itself never forks, so it may have threads (the dashboard); and no
// attempt pays for an exec of porch or a reload of the plan.
//
// Because the spawner or the supervisor, not porch, owns the outcome, an
// attempt survives porch being killed (kill -9 included): the spawner
// keeps its commands until they end, and `porch resume` re-adopts the
// attempt by pid (the command's and its keeper's, or the supervisor's), or
// ingests its result if it finished meanwhile. No attempt is started
// twice. Job ids carry pids with their process start times, so a recycled
// pid is never mistaken for the attempt.
//
// Results: command attempts' are in the run's results.log (read as it
// grows; a silent command leaves no file of its own), AI attempts write
// result.json in their attempt directory; either is the authority.
//
// Events: the spawner reports each attempt's end on its socket, which
// wakes Wait() at once; attempts re-adopted after a resume are looked at
// every adopted_poll_s. Cancel: the run's own spawner is asked on its
// socket (it stops a running attempt, or ends a held one unstarted); a kept
// command of an earlier porch's spawner through a signal to that keeper
// (exec/spawner.h), an earlier supervisor by SIGTERM.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/polling_backend.h"
#include "exec/spawner.h"
#include "platform/clock.h"
#include "model/result_file.h"
#include "model/run_layout.h"

namespace porch {

// Attempts the spawner may hold per slot. While it holds any, it tells porch
// of ends at most every few milliseconds (src/exec/spawner.h): porch and the
// spawner wake once per few short commands, not once each.
constexpr int kHeldPerSlot = 4;

struct LocalBackendOptions {
  std::string porch_path;        // the porch binary that serves as spawner; empty: this one
  double adopted_poll_s = 0.05;  // how often to look at re-adopted attempts
  // The executor budget M: the spawner runs at most this many attempts at
  // once (the re-adopted ones included) and holds up to kHeldPerSlot * M
  // more, starting the one with the largest Launch::priority as a slot
  // frees, without a round trip through porch (Capabilities::queues_ahead).
  // 0: it starts every attempt at once.
  int slots = 0;
  // The spawner's whole environment: porch's own, plus what porch resolved
  // that attempts need (secrets reach AI tasks this way, never on disk).
  // Empty: porch's environment as it is.
  std::map<std::string, std::string> env;
};

class LocalBackend : public PollingBackend {
 public:
  // The run directory must hold plan.json (and config.json): the spawner
  // loads them. `clock` is not owned.
  LocalBackend(RunLayout layout, Clock* clock, LocalBackendOptions options);
  // Closes the spawner's socket; attempts still running run on.
  ~LocalBackend() override;

  std::string name() const override { return "threading"; }
  // spawned.log finds an attempt whose job id the journal lost.
  bool NeedsDurableJobIds() const override { return false; }
  // Its attempts die with this machine.
  bool NeedsDurableLaunches() const override { return false; }
  Capabilities capabilities() const override {
    Capabilities c;
    c.queues_ahead = kHeldPerSlot * options_.slots;
    return c;
  }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  void Cancel(Dag::Index index, int attempt) override;
  Result<RecoverOutcome> Recover(const InFlight& attempt) override;

 protected:
  void Poll(std::vector<BackendEvent>* events) override;
  double PollInterval() const override;
  bool PollIsCheap() const override { return true; }
  int WakeFd() const override { return fd_; }

 private:
  struct Job {
    Dag::Index index;
    int attempt;
    std::string task_id;
    // The supervisor, or the kept command (0: held by the spawner, not
    // started yet; below 0: one that never started).
    int pid;
    unsigned long long start_ticks;
    bool child;  // the spawner reports its end; false: re-adopted
    int keeper = 0;  // the spawner that keeps the command; 0: a supervisor
    unsigned long long keeper_ticks = 0;
  };
  // Whether the attempt may still produce a result: its supervisor, or the
  // kept command or its keeper, still runs.
  static bool Alive(const Job& job);

  Status StartSpawner();
  // Reads what the spawner sent; `block` waits for at least one line.
  Status ReadMessages(bool block);
  void Dispatch(const nlohmann::json& msg);
  static std::string JobKey(const std::string& task_id, int attempt);
  // A held attempt the spawner started.
  void OnStarted(const nlohmann::json& msg);
  void PollAdopted(std::vector<BackendEvent>* out);
  BackendEvent Collect(const Job& job, int wait_status, bool have_status);
  // Writes to the spawner's socket.
  Status SendToSpawner(const std::string& data);
  // Tells the spawner how many re-adopted attempts still run (they hold slots).
  void SendAdopted();
  // The spawner is gone: its children are watched like re-adopted ones.
  void LoseSpawner();
  // How an attempt ended: its record in the results log (command attempts),
  // else its result.json (AI attempts). Take forgets the record.
  Result<AttemptResult> TakeResult(const std::string& task_id, int attempt);
  void RefreshResults();
  bool HasResult(const std::string& task_id, int attempt) const;  // as of the last Refresh
  std::optional<BackendEvent> FinishedEvent(const InFlight& f);

  RunLayout layout_;
  LocalBackendOptions options_;
  ResultLog results_;    // the command attempts' results, read as they come
  int fd_ = -1;          // the spawner's socket
  int spawner_pid_ = 0;
  std::string inbox_;    // bytes read, not yet a whole line
  std::vector<nlohmann::json> replies_;      // answers to spawn requests, in order
  std::vector<std::pair<std::string, int>> exits_;  // (JobKey, status) reported, not yet collected
  std::vector<BackendEvent> started_;               // held attempts the spawner started
  std::unordered_map<std::string, Job> jobs_;       // by JobKey
  size_t adopted_ = 0;                       // jobs_ that are not the spawner's children
  // spawned.log's last record per JobKey, read once by the first Recover
  // that needs it (a resume asks for every in-flight attempt).
  std::optional<std::unordered_map<std::string, SpawnedRecord>> spawned_;
};

// The job id of a supervisor: "local:<pid>:<start ticks>"; of a command the
// spawner keeps: "local:<pid>:<start ticks>:<keeper pid>:<keeper ticks>".
std::string LocalJobId(int pid, unsigned long long ticks, int keeper = 0,
                       unsigned long long keeper_ticks = 0);

}  // namespace porch
