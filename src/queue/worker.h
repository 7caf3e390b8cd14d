// `porch worker`: takes attempts from the queue's streams and runs each as
// `porch exec-task` does (the same supervision, limits and result file as
// every backend: RunAttempt, in a forked child, from the run loaded once),
// on a filesystem it shares with porch's run directory, or, for a run
// staged through S3, in a directory of its own under --work-dir
// (WorkerRunDir), which the child fills from S3 before the attempt and
// sends back after it (node_staging.h).
//
// One thread; children are forked from it (a single-threaded process, so the
// fork is safe) with PR_SET_PDEATHSIG = SIGTERM: when the worker dies, even
// by kill -9, each attempt's supervisor gets SIGTERM, stops its command's
// process group and records a cancellation, so a reclaimed attempt never
// runs twice at once. (A worker that is stopped, not killed, by SIGSTOP or
// a frozen VM, keeps its attempts alive while porch reclaims them: the
// guarantee needs a worker that runs or dies.)
//
// Per claimed attempt, Redis sees: its share of one XREADGROUP, its share
// of one pipeline of claim scripts (cancel check, claim key SET NX,
// "started" message), one MULTI/EXEC (result message, XACK, XDEL) and its
// share of the heartbeats: every visibility/6 s one script renews each
// entry the worker holds (XCLAIM by itself, which resets the entry's idle
// time, only while the entry is still pending under this worker) and says
// which were cancelled. porch reclaims entries idle longer than the
// visibility timeout. The result is published, and the entry acknowledged,
// only after the attempt has written its result file (durably: fsync and
// rename) and exited. Every script is safe to run twice (a reply lost to a
// broken connection is sent again).
//
// An XREADGROUP over several class streams may bring more entries than free
// slots (its COUNT is per stream): the extra ones wait in a backlog, held
// by heartbeats, and start as slots free up.
//
// Cut off from Redis for a third of the visibility timeout (no heartbeat
// got through), the worker stops its running attempts itself (porch could
// reclaim them soon); their results say "lost", so they run again
// uncharged. Each Redis call is bounded (queue.timeout_seconds, at most
// visibility/8), so this happens in time; kill_grace_seconds must be well
// under a third of the visibility timeout. The visibility timeout is the
// smaller of the worker's and the one each attempt's message carries
// (porch's).
//
// Stopping: SIGTERM or SIGINT claims nothing more and waits for the running
// attempts to finish (a second one stops them: they are reported lost and
// run again elsewhere, uncharged; the backlog waits for porch to reclaim
// it). `once` stops when nothing runs and the queue had nothing for it;
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

// A staged attempt's child could not fetch the run's inputs (92) or send
// the attempt back (93): the codes of the aws job scripts.
inline constexpr int kWorkerStageInFailed = 92;
inline constexpr int kWorkerStageOutFailed = 93;

struct WorkerOptions {
  std::string name;                     // consumer name, unique among workers
  int slots = 1;
  std::vector<std::string> labels;      // advertised (gpu, large, ...)
  std::vector<std::string> classes;     // streams served (WorkerClasses(labels))
  std::string prefix = "porch";
  std::string work_dir;                 // the worker's own files (staged runs' node directories)
  double visibility_s = 30;             // heartbeats every visibility_s / 6 (or the message's, if smaller)
  bool once = false;
  double idle_exit_s = 0;               // 0: never
  double block_s = 0.2;                 // longest wait for work when idle
  double call_timeout_s = 10;           // one Redis call at most (queue.timeout_seconds); also
                                        // bounded to visibility/8 of what the worker holds
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
  // An entry this worker holds: waiting in the backlog, or running.
  struct Held {
    std::string stream, entry;
    AttemptMessage msg;
    double renewed = 0;    // when its idle time was last reset (claim or heartbeat)
    double visibility = 0; // the smaller of the worker's and the message's
  };
  struct Running {
    Held held;
    pid_t pid = -1;
    double started_at = 0;
    bool kill_sent = false;
    bool fenced = false;   // stopped by the worker (cut off, second SIGTERM): its result says "lost"
  };
  struct Unpublished {
    std::string stream, entry;
    std::string results;
    ResultMessage result;
  };
  Status JoinGroups();
  // Reads up to `want` entries into the backlog; returns how many came.
  int Read(int want, double block_s);
  // Claims and starts backlog entries while slots are free.
  void StartFromBacklog();
  void DeadLetter(const std::string& stream, const StreamEntry& e, const std::string& why);
  // Of a message that is not a valid attempt: enough (run, task, attempt,
  // the run's own result stream) to tell porch it will not run.
  Result<Held> ReadableEnough(const std::string& stream, const StreamEntry& e) const;
  void Start(const Held& h);
  // Reports `h` as not started (`code`: -2 cancelled first, -3 could not
  // start), with why.
  void Unstarted(const Held& h, int code, const std::string& detail);
  void Reap();
  void PublishPending();
  void Heartbeat();
  // Stops the running attempts whose entries no heartbeat renewed for a
  // third of their visibility timeout: porch may reclaim them soon, and a
  // second copy must not start while this one runs.
  void FenceIfCutOff();
  // Stops one running attempt; `lost`: its result says so.
  void Stop(Running& r, bool lost, const std::string& why);
  void Log(const std::string& line) const;
  // The smallest visibility timeout of what the worker holds (its own when
  // nothing); each Redis call is bounded to an eighth of it.
  double Visibility() const;
  void BoundCalls();

  RedisClient* redis_;
  Clock* clock_;
  WorkerOptions options_;
  std::function<int()> stop_requests_;
  QueueNames names_;
  std::string host_;  // for the heartbeat
  std::vector<Held> backlog_;
  std::vector<Running> running_;
  std::vector<Unpublished> unpublished_;
  double next_beat_ = 0;
  double call_timeout_now_ = 0;  // what the client was last told
  int ran_ = 0;
  int dead_lettered_ = 0;
};

}  // namespace porch
