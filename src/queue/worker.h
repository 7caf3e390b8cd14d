// `porch worker`: takes attempts from the queue's streams and runs each as
// `porch exec-task` does (the same supervision, limits and result file as
// every backend: RunAttempt, in a forked child, from the run loaded once),
// on a filesystem it shares with porch's run directory.
//
// One thread; children are forked from it (a single-threaded process, so the
// fork is safe) with PR_SET_PDEATHSIG = SIGTERM: when the worker dies, even
// by kill -9, each attempt's supervisor gets SIGTERM, stops its command's process group
// and records a cancellation, so a reclaimed attempt never runs twice at
// once (the visibility timeout must be longer than the kill grace).
//
// Per claimed attempt, Redis sees: its share of one XREADGROUP, one script
// call (claim: cancel check, claim key SET NX, "started" message), one
// MULTI/EXEC (result message, XACK, XDEL) and its share of the heartbeats
// (one XCLAIM per running attempt every visibility/3 s, which resets the
// entry's idle time: porch reclaims entries idle longer than the visibility
// timeout). The result is published, and the entry acknowledged, only after
// the attempt has written its result file (durably: fsync and rename) and
// exited.
//
// Cut off from Redis for half the visibility timeout, the worker stops its
// running attempts itself (porch could reclaim them by then); their results
// say "lost", so they run again uncharged. This needs kill_grace_seconds
// well under half the visibility timeout.
//
// Stopping: SIGTERM or SIGINT claims nothing more and waits for the running
// attempts to finish (a second one hands them back: their supervisors are
// stopped and porch reclaims the entries after the visibility timeout).
// `once` stops when nothing runs and the queue had nothing for it;
// `idle_exit_s` after that long with nothing to do.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "platform/clock.h"
#include "queue/queue_protocol.h"
#include "queue/redis_client.h"

namespace porch {

struct WorkerOptions {
  std::string name;                     // consumer name, unique among workers
  int slots = 1;
  std::vector<std::string> labels;      // advertised (gpu, large, ...)
  std::vector<std::string> classes;     // streams served (WorkerClasses(labels))
  std::string prefix = "porch";
  std::string work_dir;                 // the worker's own logs
  double visibility_s = 30;             // heartbeats every visibility_s / 3
  bool once = false;
  double idle_exit_s = 0;               // 0: never
  double block_s = 0.2;                 // longest wait for work when idle
  // Benchmarks of the broker path only: runs a claimed attempt in this
  // thread (returning its exit code) instead of forking a child. Unset in
  // porch worker.
  std::function<int(const AttemptMessage&)> run_inline;
  // How a claimed attempt runs: called in the worker (it may load the run
  // once and keep it: what `porch exec-task` does per attempt costs
  // milliseconds of CPU), it returns what a forked child of the worker
  // runs, exiting with its result (RunAttempt, as exec-task does), or why
  // the attempt cannot start.
  std::function<Result<std::function<int()>>(const AttemptMessage&)> prepare_in_process;
};

class Worker {
 public:
  // `redis` and `clock` are not owned and must outlive the worker.
  // `stop_requests` answers how many stop signals arrived so far.
  Worker(RedisClient* redis, Clock* clock, WorkerOptions options, std::function<int()> stop_requests);
  // Works until stopped. Errors: Redis unreachable at the start (the
  // caller exits 3). Later outages are waited out (the attempts keep
  // running; results are published when Redis is back).
  Status Run();

  // Counters, for the end-of-run line and tests.
  int ran() const { return ran_; }
  int dead_lettered() const { return dead_lettered_; }

 private:
  struct Running {
    pid_t pid = -1;
    std::string stream, entry;
    AttemptMessage msg;
    double started_at = 0;
    bool kill_sent = false;
    bool fenced = false;   // stopped by FenceIfCutOff: its result says "lost"
  };
  struct Unpublished {
    std::string stream, entry;
    std::string results;
    ResultMessage result;
  };
  Status JoinGroups();
  // Claims up to `free` entries; returns how many messages came.
  int Claim(int free, double block_s);
  // Claims and starts what one XREADGROUP brought (stream, entry).
  void Take(const std::vector<std::pair<std::string, StreamEntry>>& got);
  void DeadLetter(const std::string& stream, const StreamEntry& e, const std::string& why);
  void Start(const std::string& stream, const std::string& entry, const AttemptMessage& m);
  void Reap();
  void PublishPending();
  void Heartbeat();
  // Stops the running attempts when no heartbeat got through for half the
  // visibility timeout: porch may reclaim them soon, and a second copy must
  // not start while this one runs.
  void FenceIfCutOff();
  void Log(const std::string& line) const;

  RedisClient* redis_;
  Clock* clock_;
  WorkerOptions options_;
  std::function<int()> stop_requests_;
  QueueNames names_;
  std::vector<Running> running_;
  std::vector<Unpublished> unpublished_;
  double next_beat_ = 0;
  double last_beat_ok_ = 0;   // when a heartbeat last got through (0: none yet)
  int ran_ = 0;
  int dead_lettered_ = 0;
};

}  // namespace porch
