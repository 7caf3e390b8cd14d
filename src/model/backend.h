// The seam between the scheduler and whatever runs task attempts: local
// processes, Docker containers, SLURM jobs. Modelled on Mesos'
// Containerizer (launch, wait, destroy, recover) and Ninja's CommandRunner.
//
// Contract:
//  - The scheduler calls a Backend from one thread.
//  - Submit() hands over attempts; the backend answers each with its own job
//    id, or an error: InvalidArgument means the task cannot run as written
//    (kInvalidTask); Unavailable or Infeasible mean the backend cannot work
//    now (its daemon is gone, the engine lacks the image): the attempt does
//    not count and the run stops, to be resumed; anything else fails the
//    attempt with kBackendError. It reports progress later through Wait().
//  - Wait() returns the events that happened, or an empty list at the
//    deadline. It may return early (a signal arrived); it never blocks past
//    the deadline by more than the backend's poll granularity.
//  - Cancel() asks an attempt to stop. It does not wait: a kFinished event
//    with reason kCancelled (or the attempt's real outcome, if it won the
//    race) arrives through Wait() later. Every submitted attempt produces
//    exactly one kFinished event.
//  - A backend whose capabilities() hold dependents (SLURM's afterok) may be handed an
//    attempt whose dependencies are still running: Launch::after names their
//    job ids, and the backend must not start it before they all succeeded.
//    When one of them fails instead, the scheduler cancels the attempt and
//    runs the task again later; whatever the backend reports for it then is
//    taken as "did not run".
//  - Recover() is called on resume, before any Submit(), for each attempt the
//    journal shows launched but not finished. The backend re-adopts it (its
//    events will come through Wait(), including when it finished while porch
//    was down) or reports it lost (it never ran or left no trace). Recover
//    can fail (Mesos' failable recover): an engine or controller that does
//    not answer is not "lost", because the attempt may still be running; the
//    caller then waits and asks again, and never starts a second copy.
//  - Close() is called once after the run's last event; a backend that keeps
//    the run's files elsewhere brings them home there.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "plan/dag.h"
#include "plan/task.h"
#include "core/failure.h"

namespace porch {

struct Launch {
  Dag::Index index = 0;
  const Task* task = nullptr;  // owned by the Plan, which outlives the backend
  int attempt = 0;             // 1-based
  double time_limit_s = 0;     // resolved: task's own or the run default; 0: none
  // Job ids of dependencies still running (only for backends that
  // hold dependents, see Capabilities): start only after all of them succeeded.
  std::vector<std::string> after;
  // The scheduler's order (larger first: the longer remaining path, then the
  // earlier task): a backend that holds attempts (Capabilities::queues_ahead)
  // starts the one it holds with the largest first, whenever it was given.
  // What holding still costs: a slot that frees goes to the best attempt
  // held, before porch hears of the end, so a task that end makes ready
  // waits for the next slot.
  uint64_t priority = 0;
};

struct BackendEvent {
  enum class Kind { kStarted, kFinished };
  Kind kind = Kind::kFinished;
  Dag::Index index = 0;
  int attempt = 0;
  double time = 0;        // when it happened (backend's clock)
  // kFinished only:
  double started_at = 0;  // 0 when unknown
  int exit_code = 0;
  FailureReason reason = FailureReason::kNone;  // kNone: succeeded
  std::string detail;     // human-readable cause for failures
  double cost_usd = 0;    // AI tasks: what the attempt's model calls cost
  int64_t tokens = 0;     // AI tasks: tokens used (all kinds)
};

// A kFinished event for an attempt that failed without a result file.
inline BackendEvent FailedEvent(Dag::Index index, int attempt, double time, FailureReason reason,
                                std::string detail, int exit_code = -1) {
  BackendEvent ev;
  ev.kind = BackendEvent::Kind::kFinished;
  ev.index = index;
  ev.attempt = attempt;
  ev.time = time;
  ev.exit_code = exit_code;
  ev.reason = reason;
  ev.detail = std::move(detail);
  return ev;
}

struct InFlight {
  Dag::Index index = 0;
  const Task* task = nullptr;
  int attempt = 0;
  std::string job_id;     // empty when porch died between launch and submit
};

enum class RecoverOutcome { kAdopted, kLost };

// What a backend can do beyond the contract above (Nomad's driver
// capabilities): the scheduler and the run driver ask, instead of knowing
// backends by name.
struct Capabilities {
  // Submit() accepts attempts whose dependencies still run (Launch::after)
  // and holds them until those succeed (SLURM's afterok).
  bool holds_dependents = false;
  // Attempts see porch's run directory as it is (local, Docker bind mount,
  // SLURM on a shared filesystem).
  bool shares_filesystem = true;
  // Nodes fetch inputs and send results through an object store (the aws
  // backend's S3); the run's files come home at Close().
  bool stages_through_object_store = false;
  // The backend runs at most M (the executor budget) of the attempts it was
  // given at once and starts the others itself as those end, without a
  // round trip through porch; the scheduler may give it this many more
  // than M (they count as running there).
  int queues_ahead = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;

  // One result per launch, in order: the job id, or why it was refused.
  virtual std::vector<Result<std::string>> Submit(std::span<const Launch> launches) = 0;

  virtual std::vector<BackendEvent> Wait(double deadline) = 0;

  virtual void Cancel(Dag::Index index, int attempt) = 0;

  // Unavailable when the backend cannot tell now (its daemon does not answer).
  virtual Result<RecoverOutcome> Recover(const InFlight& attempt) = 0;

  virtual Capabilities capabilities() const { return {}; }

  // Whether Recover needs the job ids Submit returned to find an attempt
  // again (SLURM: a job id). A backend that finds its attempts without them
  // (the local backend: spawned.log) answers false, and the scheduler
  // makes those records durable with its next sync instead of at once.
  virtual bool NeedsDurableJobIds() const { return true; }

  // Whether launches must be durable (fsynced) before Submit. They are
  // always written first, so a kill -9 of porch loses none. A backend whose
  // attempts cannot outlive the machine porch runs on (the local backend)
  // answers false: after a crash of the whole machine no attempt runs on,
  // and the scheduler syncs its journal at most once a second instead,
  // which may lose the last second's transitions (their tasks run again,
  // as with Ninja).
  virtual bool NeedsDurableLaunches() const { return true; }

  // Not OK when the backend can no longer work (its engine or controller has
  // not answered for longer than it waits): the scheduler then stops the run
  // with this error, leaving attempts in flight to be re-adopted on resume,
  // instead of failing them and spending their retries.
  virtual Status health() const { return Status::Ok(); }

  // Called once after the run's last event, before porch writes its report.
  [[nodiscard]] virtual Status Close() { return Status::Ok(); }
};

}  // namespace porch
