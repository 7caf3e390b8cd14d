// The queue backend: attempts go to Redis Streams, where `porch worker`s on
// any number of hosts take them (src/queue/worker.h), on a filesystem they
// share with porch's run directory (NFS, as for SLURM), or, with
// queue.staging: s3, on disks of their own: the run's inputs and each
// attempt's files go through an S3 bucket, laid out as for the aws backend
// (S3Stager here, StageIn/StageOut on the worker: node_staging.h).
//
// Authority: as everywhere, the attempt's result file (written by its
// supervisor on the worker, as exec-task would) says how it ended; the
// worker's result message says when to look, and why there is none when
// the worker could not run it.
//
// Per attempt: one XADD (pipelined with the others of a Submit), its share
// of the blocking XREADs of the run's result stream (which bring both the
// worker's "started" and "result" messages), and its share of one reaper
// script every visibility/3 s.
//
// Workers die: the reaper script reclaims, for the run's own entries only
// (matched by id, never by prefix), each entry pending for longer than
// queue.visibility_timeout without a heartbeat (XCLAIM with that minimum
// idle time; XACK and XDEL only what it claimed, atomically), and the
// attempt is reported lost: the scheduler runs it again as a new attempt,
// not charged to its retries. The dead worker's supervisors got SIGTERM when
// its worker died (PR_SET_PDEATHSIG), so two copies never run at once. A
// late result of a reclaimed attempt is ignored: that attempt is no longer
// in flight.
//
// Redis restarts (AOF on): calls fail, the backend keeps its state and asks
// again at the next read, and reclaims nothing for one visibility timeout
// after any break (the workers could not renew their entries meanwhile).
// Submit waits for Redis up to queue.wait_seconds; after that long without
// Redis, health() stops the run (to be resumed).
//
// Resume: Recover() adopts each attempt recorded with an entry id; its
// result, if it came while porch was down, is in the result stream (read
// from its start). An attempt without an id (porch died between XADD and
// the journal) is adopted when a worker claimed it, else it is fenced off
// (its cancel key set, atomically with the check) and reported lost.
//
// The workers (name, host, slots, labels, running, last beat) go to the
// run's workers.json every few seconds, for `porch status` and the
// dashboard.
//
// Threading: the scheduler's thread only.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/backend.h"
#include "platform/clock.h"
#include "config/config.h"
#include "model/run_identity.h"
#include "model/run_layout.h"
#include "queue/queue_protocol.h"
#include "queue/redis_client.h"

namespace porch {

struct QueueBackendOptions {
  std::string uid;                 // the run's unique id: every key and stream of the run carries it
  std::string prefix = "porch";
  double visibility_s = 30;        // a claimed entry without a heartbeat this long is reclaimed
  double poll_s = 0.1;             // longest wait of one read of the result stream
  double grace_s = 5;              // the supervisor's SIGTERM -> SIGKILL grace
  double wait_s = 120;             // how long Redis may be gone before the run stops
};

class S3Stager;

class QueueBackend : public Backend {
 public:
  // `redis`, `clock` and `stager` are not owned and must outlive the
  // backend. Without a stager the layout's run directory must be absolute
  // (workers see it at that path); with one, workers never see it: each
  // submission publishes what changed in output/ first, and a worker's
  // result brings the attempt's files home (fetched again at the next
  // read while S3 fails, for up to queue.wait_seconds).
  QueueBackend(RedisClient* redis, RunLayout layout, Clock* clock, QueueBackendOptions options,
               S3Stager* stager = nullptr);
  std::string name() const override { return "queue"; }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  // Reads the result stream with a blocking XREAD (at most poll_s at a
  // time), so a result is seen the moment a worker publishes it; between
  // reads, the cancellations and, every visibility/3 s, the reaper.
  std::vector<BackendEvent> Wait(double deadline) override;
  void Cancel(Dag::Index index, int attempt) override;
  Result<RecoverOutcome> Recover(const InFlight& attempt) override;
  Status health() const override;
  // Removes the run's result stream (the keys expire by themselves); when
  // staged, sends the run's output to S3 (errors say where).
  Status Close() override;

 private:
  struct Job {
    Dag::Index index = 0;
    int attempt = 0;
    std::string task_id;
    std::string stream;        // its class stream
    std::string entry;         // its entry id (empty: not known yet, after a resume)
    std::string worker;        // who claimed it (from its "started" message)
    bool cancel_requested = false;
  };
  // Staged: what the attempts about to be pushed need, to S3 first.
  Status Publish(std::span<const Launch> launches);
  // Reads new messages of the result stream, waiting up to `block_s` for
  // the first. False when Redis did not answer.
  bool ReadResults(std::vector<BackendEvent>* events, double block_s);
  // `since`: when the message was first read (a result whose files S3 did
  // not give yet is read again later).
  void OnMessage(const RedisReply& fields, std::vector<BackendEvent>* events, double since = -1);
  // Reclaims the run's entries whose worker stopped heartbeating.
  void Reap(std::vector<BackendEvent>* events);
  void FlushCancels(std::vector<BackendEvent>* events);
  // Once after a resume: adopted entries gone from their stream without a
  // result were reclaimed while porch was down: lost.
  void CheckAdopted(std::vector<BackendEvent>* events);
  Job* Find(const std::string& task_id, int attempt);
  // A Redis call failed (or answered): tracks the outage.
  void Outage(bool failed);
  Status EnsureGroup(const std::string& stream);
  // The run's result stream exists (workers publish without creating it).
  Status EnsureResults();
  // Every few seconds: the workers that beat in the last three visibility
  // timeouts, into the run's workers.json (for porch status and the
  // dashboard). Best effort.
  void RefreshWorkers();

  RedisClient* redis_;
  Clock* clock_;
  S3Stager* stager_;                         // null: a shared filesystem
  std::vector<std::pair<RedisReply, double>> unfetched_;  // results whose files S3 has not given yet, since
  double next_fetch_ = 0;                    // when unfetched_ is tried again
  RunLayout layout_;
  std::vector<BackendEvent> pending_;        // from Recover(), handed out by the next Wait
  QueueBackendOptions options_;
  QueueNames names_;
  std::map<std::string, Job> jobs_;          // by job id "<stream>|<entry>" or "task#attempt" when adopted without one
  std::set<std::string> groups_;             // streams whose consumer group exists
  std::vector<std::string> to_cancel_;       // job ids
  std::string last_result_ = "0";            // last id read from the result stream
  double next_reap_ = 0;
  double next_workers_ = 0;
  double outage_since_ = 0;                  // 0: Redis answers
  uint64_t connections_seen_ = 0;            // redis_->connections() at the last call
  bool check_adopted_ = false;               // CheckAdopted once check_after_ has come
  double check_after_ = 0;
  bool results_made_ = false;                // the result stream was made on this connection
};

// The queue backend's options from the configuration, and a client that
// reached Redis. Unavailable (exit 3) when Redis cannot be reached or
// refuses the password; InvalidArgument for a bad queue.url.
Result<std::unique_ptr<Backend>> CreateQueueBackend(const Config& config, const RunLayout& layout,
                                                    const RunIdentity& identity, Clock* clock,
                                                    const std::map<std::string, std::string>& env);

// The queue's address from the configuration: queue.url, with the password
// from the URL, queue.password_file, PORCH_QUEUE_PASSWORD or REDISCLI_AUTH.
Result<RedisAddress> QueueAddress(const std::string& url, const std::string& password_file,
                                  const std::map<std::string, std::string>& env);

}  // namespace porch
